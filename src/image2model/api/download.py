"""Downloads: the listing of a job's models, and one file (converted on request)."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import FileResponse

from image2model.api import links
from image2model.api.deps import PrincipalDep, Services, ServicesDep, link_or_key
from image2model.api.schemas import EXPIRED_ERRORS, ListedFile, ListedOutput, Listing
from image2model.errors import NotFound
from image2model.identity import Principal
from image2model.jobs import results
from image2model.jobs.models import Item, Job
from image2model.jobs.results import ModelFormat

router = APIRouter(prefix="/download", tags=["download"])
MAX_PRINT_MM = 10_000.0
"""The largest size a 3MF may be asked for: 10 m, beyond any printer."""
DIRECT_SEARCH_JOBS = 200
"""How many of the caller's newest jobs `/download/direct/{filename}` looks through."""


@router.get("/{job_id}/all", response_model=Listing)
async def listing(job_id: str, services: ServicesDep, principal: PrincipalDep) -> Listing:
    """Every finished model of the job with signed links per format."""
    job = await services.jobs.get(job_id, principal)
    expired = await anyio.to_thread.run_sync(results.expired, services.storage, job)
    items = [] if expired else results.completed_items(job)
    listed = [_listed(services, job, item) for item in items]
    return Listing(
        job_id=job.job_id,
        status=job.status.value,
        total_files=job.total,
        files=listed,
        download_urls=[f.formats["glb"] for f in listed],
        results_expired=expired,
        results_expired_at=job.results_expired_at,
    )


@router.get(
    "/direct/{filename}",
    response_class=FileResponse,
    responses={200: {"content": {m: {} for m in sorted(set(results.MEDIA_TYPES.values()))}}},
)
async def download_direct(
    filename: str, services: ServicesDep, principal: PrincipalDep
) -> FileResponse:
    """A file by name alone (the replaced service's route): from the newest of the caller's
    jobs that has it. File names are unique within a job, not across jobs: prefer
    `/download/{job_id}/{filename}`."""
    for job_id in await services.jobs.recent(principal, DIRECT_SEARCH_JOBS):
        try:
            job = await services.jobs.get(job_id, principal)
        except NotFound:  # expired since it was listed
            continue
        if results.holds(job, filename):
            path, media_type = await anyio.to_thread.run_sync(
                results.resolve, services.storage, job, filename, None, services.tools
            )
            return FileResponse(path, media_type=media_type, filename=path.name)
    raise NotFound("File not found", error_code="FILE_NOT_FOUND")


async def _file_viewer(
    job_id: str,
    filename: str,
    request: Request,
    services: ServicesDep,
    authorization: Annotated[str | None, Header()] = None,
) -> Principal:
    """Who may read the file: checked before the query is, so strangers learn nothing."""
    return link_or_key(services, request, job_id, links.file_path(job_id, filename), authorization)


@router.get(
    "/{job_id}/{filename}",
    response_class=FileResponse,
    responses={
        **EXPIRED_ERRORS,
        200: {"content": {media: {} for media in sorted(set(results.MEDIA_TYPES.values()))}},
    },
)
async def download_file(
    job_id: str,
    filename: str,
    services: ServicesDep,
    viewer: Annotated[Principal, Depends(_file_viewer)],
    format: Annotated[ModelFormat | None, Query()] = None,
    size_mm: Annotated[
        float | None,
        Query(gt=0, le=MAX_PRINT_MM, description="3MF only: the longest side, in millimetres"),
    ] = None,
) -> FileResponse:
    """One file of the job; `?format=glb|obj|stl|ply|3mf|usdz|fbx` converts a model, and
    `size_mm` scales a 3MF to print that long."""
    job = await services.jobs.get(job_id, viewer)
    path, media_type = await anyio.to_thread.run_sync(
        results.resolve, services.storage, job, filename, format, services.tools, size_mm
    )
    # the name asked for (a size or a service's own file does not rename it); as `format`
    name = filename if format is None else results.download_name(filename.split(".")[0], format)
    return FileResponse(path, media_type=media_type, filename=name)


def _listed(services: Services, job: Job, item: Item) -> ListedFile:
    assert item.model_file is not None
    ttl, links = services.settings.DOWNLOAD_TOKEN_TTL, services.links
    unavailable = services.tools.unavailable()
    preview = None
    if item.preview_file:
        preview = {
            "url": links.file(job.job_id, item.preview_file, ttl),
            "content_type": "image/png",
            "file_size": item.preview_size,
        }
    turntable = {
        "url": links.file(job.job_id, results.turntable_name(item, "webp"), ttl),
        "content_type": "image/webp",
        "gif_url": links.file(job.job_id, results.turntable_name(item, "gif"), ttl),
    }
    return ListedFile(
        file_id=item.file_id,
        filename=item.model_file,
        size=item.model_size or 0,
        mime_type=results.MEDIA_TYPES["glb"],
        created_time=item.finished_at or job.updated_at,
        rendered_image=preview,
        rendered_turntable=turntable,
        formats={
            fmt: links.file(job.job_id, results.download_name(item.stem, fmt), ttl)
            for fmt in results.listed_formats(item, unavailable)
        },
        unavailable_formats={
            fmt: reason for fmt, reason in unavailable.items() if not results.provided(item, fmt)
        },
        format_warnings=results.format_warnings(item),
        stats=item.stats,
        outputs=[
            ListedOutput(
                name=output.name,
                filename=output.file,
                size=output.size,
                url=links.file(job.job_id, output.file, ttl),
            )
            for output in item.outputs
        ],
    )
