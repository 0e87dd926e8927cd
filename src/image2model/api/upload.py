"""POST /upload/: images in, a queued job out."""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from starlette.datastructures import FormData, UploadFile

from image2model.api import cost, objects
from image2model.api.deps import PrincipalDep, Services, ServicesDep
from image2model.api.estimate import estimated_time
from image2model.api.forms import read_upload_form
from image2model.api.lifecycle import Operations, OpsDep
from image2model.api.schemas import (
    UPLOAD_ERRORS,
    BatchProgress,
    BatchStatus,
    UploadedFileOut,
    UploadedFileStatus,
    UploadResponse,
)
from image2model.api.selection import chosen_model, job_options
from image2model.errors import BadRequest, InvalidField
from image2model.images import check_filename
from image2model.jobs.models import Job
from image2model.jobs.service import Upload

router = APIRouter(tags=["upload"])

MAX_FORM_FIELDS = 32


@router.post(
    "/upload/",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=UploadResponse,
    responses=UPLOAD_ERRORS,
)
@router.post("/upload", include_in_schema=False, status_code=status.HTTP_202_ACCEPTED)
async def upload(
    request: Request, services: ServicesDep, principal: PrincipalDep, ops: OpsDep
) -> UploadResponse:
    """Upload 1–MAX_FILES_PER_UPLOAD images; each becomes a model, except that the views of
    one object named in `objects` make one model together."""
    settings = services.settings
    await services.jobs.check_capacity(principal)
    form = await read_upload_form(
        request,
        max_files=settings.MAX_FILES_PER_UPLOAD + 1,
        max_fields=MAX_FORM_FIELDS,
        max_file_size=settings.MAX_UPLOAD_SIZE,
        max_request_size=settings.MAX_FILES_PER_UPLOAD * (settings.MAX_UPLOAD_SIZE + 64 * 1024),
    )
    try:
        files, fields = _split(form)
        _check_counts(len(files), settings.MAX_FILES_PER_UPLOAD)
        raw_objects = fields.pop(objects.FIELD, None)
        options = job_options(services.providers, settings, fields)
        model = chosen_model(services.providers, options)
        named = [(check_filename(f.filename), f) for f in files]
        grouped = objects.parse_objects(raw_objects, [name for name, _ in named])
        objects.check_views(model, grouped)
        uploads = _objects_of(named, grouped)
        if any(not u.views and u.name is None for u in uploads):
            objects.check_single(model)
        expected = await cost.estimate(services.prices, options, len(uploads))
        cost.check_budget(expected, settings.MAX_COST_PER_JOB)
        job = await services.jobs.submit(
            owner=principal,
            uploads=uploads,
            options=options,
            request_id=request.headers.get("x-request-id"),
            cost=expected,
        )
    finally:
        await form.close()
    return accepted(services, ops, job)


@router.get("/upload/status/{file_id}", response_model=UploadedFileStatus)
async def upload_status(
    file_id: str, services: ServicesDep, principal: PrincipalDep
) -> UploadedFileStatus:
    """One uploaded file: stored, and how far its model is."""
    job, item = await services.jobs.uploaded_file(file_id, principal)
    return UploadedFileStatus(
        file_id=item.file_id,
        filename=item.filename,
        status="uploaded",
        processing_status=item.status.value,
        progress=item.progress,
        job_id=job.job_id,
        task_id=job.job_id,
    )


@router.get("/upload/batch/{job_id}/status", response_model=BatchStatus)
async def batch_status(job_id: str, services: ServicesDep, principal: PrincipalDep) -> BatchStatus:
    """A whole upload's progress, as the job's counts."""
    job = await services.jobs.get(job_id, principal)
    counts = job.counts()
    done = sum(counts[s] for s in ("completed", "failed", "cancelled"))
    return BatchStatus(
        batch_id=job.job_id,
        job_id=job.job_id,
        status=job.status.value,
        message=f"{done} of {job.total} files processed",
        progress=BatchProgress(
            total_files=job.total,
            processed_files=counts["completed"],
            failed_files=counts["failed"],
        ),
    )


def accepted(services: Services, ops: Operations, job: Job) -> UploadResponse:
    """The 202 body for a newly queued job."""
    return UploadResponse(
        job_id=job.job_id,
        batch_id=job.job_id,
        task_id=job.job_id,
        status=job.status.value,
        total_files=job.total,
        face_limit=job.options.face_limit,
        uploaded_files=[
            UploadedFileOut(
                file_id=i.file_id,
                filename=i.filename,
                file_size=i.file_size,
                content_type=i.content_type,
                status="uploaded",
                item_status=i.status.value,
                task_id=job.job_id,
            )
            for i in job.items
        ],
        stream_url=services.links.stream(job.job_id, services.settings.STREAM_TOKEN_TTL),
        status_url=services.links.status(job.job_id),
        message=f"Queued {job.total} image(s) for 3D generation",
        estimated_cost=job.cost,
        estimated_time=estimated_time(
            ops.metrics.snapshot, services.settings, job.options, job.total
        ),
    )


def _objects_of(
    named: list[tuple[str, UploadFile]], grouped: list[objects.ObjectViews]
) -> list[Upload]:
    """One upload per object, in the order of their front images; unnamed files alone."""
    files = dict(named)
    object_of = {f: o for o in grouped for f in o.sides.values()}
    uploads = []
    for name, file in named:
        found = object_of.get(name)
        if found is None:
            uploads.append(Upload(filename=name, source=file.file))
        elif found.sides["front"] == name:
            views = tuple(
                (side, Upload(filename=other, source=files[other].file))
                for side, other in found.sides.items()
                if side != "front"
            )
            uploads.append(Upload(filename=name, source=file.file, name=found.name, views=views))
    return uploads


def _split(form: FormData) -> tuple[list[UploadFile], dict[str, str]]:
    files, fields = [], {}
    for name, value in form.multi_items():
        if name == "files" and isinstance(value, UploadFile):
            files.append(value)
        elif isinstance(value, str) and name != "files":
            fields[name] = value
        else:
            raise InvalidField(
                f"`{name[:50]}` has the wrong kind of value", details={"field": name[:50]}
            )
    return files, fields


def _check_counts(count: int, limit: int) -> None:
    if count == 0:
        raise BadRequest("Send at least one image in the `files` field", error_code="NO_FILES")
    if count > limit:
        raise BadRequest(
            f"At most {limit} images per upload",
            error_code="TOO_MANY_FILES",
            details={"max_files": limit, "received": count},
        )
