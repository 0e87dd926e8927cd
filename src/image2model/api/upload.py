"""POST /upload/: images in, a queued job out."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Request, status
from starlette.datastructures import UploadFile

from image2model.api import links
from image2model.api.deps import PrincipalDep, Services, ServicesDep
from image2model.api.schemas import UploadedFileOut, UploadResponse
from image2model.api.selection import job_options
from image2model.errors import BadRequest, InvalidField, PayloadTooLarge
from image2model.images import check_size, prepare_image
from image2model.jobs.models import Job
from image2model.jobs.service import AcceptedImage

router = APIRouter(tags=["upload"])

MAX_FORM_FIELDS = 32
_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["files"],
                    "properties": {
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                        "face_limit": {"type": "integer"},
                        "provider": {"type": "string"},
                        "model": {"type": "string"},
                        "texture": {"type": "string"},
                        "pbr": {"type": "boolean"},
                        "seed": {"type": "integer"},
                    },
                }
            }
        },
    }
}


@router.post(
    "/upload/",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=UploadResponse,
    openapi_extra=_UPLOAD_BODY,
)
@router.post("/upload", include_in_schema=False, status_code=status.HTTP_202_ACCEPTED)
async def upload(
    request: Request, services: ServicesDep, principal: PrincipalDep
) -> UploadResponse:
    """Upload 1–MAX_FILES_PER_UPLOAD images; each becomes a model."""
    settings = services.settings
    _check_content_length(request, settings.MAX_FILES_PER_UPLOAD * settings.MAX_UPLOAD_SIZE)
    async with request.form(
        max_files=settings.MAX_FILES_PER_UPLOAD + 1, max_fields=MAX_FORM_FIELDS
    ) as form:
        files = [f for f in form.getlist("files") if isinstance(f, UploadFile)]
        if len(files) != len(form.getlist("files")):
            raise InvalidField("`files` must be file parts", details={"field": "files"})
        fields = {k: v for k, v in form.multi_items() if k != "files"}
        _check_counts(len(files), settings.MAX_FILES_PER_UPLOAD)
        options = job_options(services.providers, settings, _single_values(fields))
        images = [
            await _accept(file, settings.MAX_UPLOAD_SIZE, settings.MAX_IMAGE_PIXELS)
            for file in files
        ]
    job = await services.jobs.submit(
        owner=principal,
        images=images,
        options=options,
        request_id=request.headers.get("x-request-id"),
    )
    return accepted(services, job)


def accepted(services: Services, job: Job) -> UploadResponse:
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
                status=i.status.value,
            )
            for i in job.items
        ],
        stream_url=links.signed_stream(
            services.signer, job.job_id, services.settings.STREAM_TOKEN_TTL
        ),
        status_url=links.status_path(job.job_id),
        message=f"Queued {job.total} image(s) for 3D generation",
    )


def _check_content_length(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + 1024 * 1024:
        raise PayloadTooLarge(
            "The upload is larger than the service accepts",
            error_code="REQUEST_TOO_LARGE",
            details={"max_bytes": limit},
        )


def _check_counts(count: int, limit: int) -> None:
    if count == 0:
        raise BadRequest("Send at least one image in the `files` field", error_code="NO_FILES")
    if count > limit:
        raise BadRequest(
            f"At most {limit} images per upload",
            error_code="TOO_MANY_FILES",
            details={"max_files": limit, "received": count},
        )


def _single_values(fields: dict[str, Any]) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, value in fields.items():
        if not isinstance(value, str):
            raise InvalidField(f"`{name}` must be a plain form field", details={"field": name})
        values[name] = value
    return values


async def _accept(file: UploadFile, limit: int, max_pixels: int) -> AcceptedImage:
    filename = (file.filename or "image")[:255]
    data = await file.read(limit + 1)
    check_size(len(data), filename=filename, limit=limit)
    image = await anyio.to_thread.run_sync(
        lambda: prepare_image(data, filename=filename, max_pixels=max_pixels)
    )
    return AcceptedImage(filename=filename, original_size=len(data), image=image)
