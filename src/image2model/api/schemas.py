"""Response shapes (DESIGN §3), built from job documents."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from image2model.jobs.models import ItemError, Job, JobCost, ModelStats


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: bool
    error_code: str
    message: str
    status_code: int
    details: dict[str, Any]


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _error("Bad request"),
    401: _error("Missing or invalid API key"),
    403: _error("Needs the admin key"),
    404: _error("Unknown, or not yours"),
    422: _error("Invalid fields or values"),
    429: _error("Rate limited"),
    503: _error("Redis or workers unavailable"),
}
HEALTH_ERRORS: dict[int | str, dict[str, Any]] = {503: _error("Redis unavailable")}
ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {
    401: _error("Missing or invalid API key"),
    403: _error("Needs the admin key"),
}
UPLOAD_ERRORS: dict[int | str, dict[str, Any]] = {
    413: _error("File or request too large"),
    415: _error("Not a supported image"),
    507: _error("Storage full"),
}
FINISHED_ERRORS: dict[int | str, dict[str, Any]] = {409: _error("The job has not finished")}
EXPIRED_ERRORS: dict[int | str, dict[str, Any]] = {
    410: _error("The job's results expired and were removed (RESULTS_EXPIRED)")
}


class UploadedFileOut(BaseModel):
    file_id: str
    filename: str
    file_size: int
    content_type: str
    status: str


class UploadResponse(BaseModel):
    job_id: str
    batch_id: str
    task_id: str
    status: str
    total_files: int
    face_limit: int | None
    uploaded_files: list[UploadedFileOut]
    stream_url: str
    status_url: str
    message: str
    estimated_cost: JobCost | None = None
    """The expected cost of the job's requests to its provider (amount null: not known)."""


class FileProgress(BaseModel):
    file_id: str
    filename: str
    status: str
    progress: int
    message: str
    error: ItemError | None = None


class Summary(BaseModel):
    total_files: int
    successful_files: int
    failed_files: int
    cancelled_files: int


class JobSnapshot(BaseModel):
    job_id: str
    task_id: str
    batch_id: str
    status: str
    progress: int
    current: int
    total: int
    total_files: int
    message: str
    files: list[FileProgress]
    summary: Summary
    created_at: float
    updated_at: float
    finished_at: float | None


def snapshot(job: Job) -> JobSnapshot:
    counts = job.counts()
    done = sum(1 for i in job.items if i.status.is_terminal)
    return JobSnapshot(
        job_id=job.job_id,
        task_id=job.job_id,
        batch_id=job.job_id,
        status=job.status.value,
        progress=job.progress,
        current=done,
        total=job.total,
        total_files=job.total,
        message=f"{done} of {job.total} files processed",
        files=[
            FileProgress(
                file_id=i.file_id,
                filename=i.filename,
                status=i.status.value,
                progress=i.progress,
                message=i.message,
                error=i.error,
            )
            for i in job.items
        ],
        summary=Summary(
            total_files=job.total,
            successful_files=counts["completed"],
            failed_files=counts["failed"],
            cancelled_files=counts["cancelled"],
        ),
        created_at=job.created_at,
        updated_at=job.updated_at,
        finished_at=job.finished_at,
    )


class ListedOutput(BaseModel):
    name: str
    """Where the service's result had it: `model_urls.fbx`, `texture_urls.0.base_color`."""
    filename: str
    size: int
    url: str


class ListedFile(BaseModel):
    file_id: str
    filename: str
    size: int
    mime_type: str
    created_time: float
    rendered_image: dict[str, Any] | None
    formats: dict[str, str]
    stats: ModelStats | None
    outputs: list[ListedOutput] = []
    """Every other file the model's service returned (PBR or untextured meshes, other
    formats, texture maps), as it came."""


class Listing(BaseModel):
    job_id: str
    status: str
    total_files: int
    files: list[ListedFile]
    download_urls: list[str]
    results_expired: bool = False
    """The job's files were removed (retention); `files` is then empty."""
    results_expired_at: float | None = None
