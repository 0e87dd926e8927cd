"""Response shapes (DESIGN §3), built from job documents."""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel

from image2model.jobs.models import ItemError, Job, JobCost, JobStatus, ModelStats


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
    """`uploaded`: the file is stored (the replaced service's meaning)."""
    item_status: str
    """The file's item in the job: `queued` on upload."""
    task_id: str
    """The job's id, which streams and status routes take."""


class UploadedFileStatus(BaseModel):
    """`GET /upload/status/{file_id}`: one uploaded file (the replaced service's route)."""

    file_id: str
    filename: str
    status: str
    """`uploaded`."""
    processing_status: str
    """Its item's status: `queued`, `processing`, `completed`, `failed` or `cancelled`."""
    progress: int
    job_id: str
    task_id: str


class BatchProgress(BaseModel):
    total_files: int
    processed_files: int
    """Files whose model was made."""
    failed_files: int


class BatchStatus(BaseModel):
    """`GET /upload/batch/{id}/status` (the replaced service's route)."""

    batch_id: str
    job_id: str
    status: str
    message: str
    progress: BatchProgress


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
    estimated_time: int
    """Seconds until the job is likely done, from this server's recent runs of its model."""


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


class _JobState(BaseModel):
    job_id: str
    task_id: str
    batch_id: str
    status: str
    progress: int
    current: int
    total: int
    total_files: int
    message: str
    summary: Summary
    created_at: float
    updated_at: float
    finished_at: float | None
    timestamp: int
    """When this answer was made, in milliseconds since the epoch."""


class JobSnapshot(_JobState):
    """`GET /status/tasks/{id}/status`: the job, and what pollers of the replaced service read
    (its Celery `state`, `result` once a model exists, `error` once every item failed)."""

    files: list[FileProgress]
    state: str
    """`PENDING` (queued), `PROGRESS`, `SUCCESS` (completed or partial), `FAILURE`, `REVOKED`."""
    result: dict[str, Any] | None = None
    error: str | None = None
    error_details: dict[str, Any] | None = None


class LegacyFile(BaseModel):
    file_id: str
    filename: str
    status: str
    progress: int
    error: str | None
    """The error's message (the `error` object of `file_list` has its code too)."""


class JobProgress(_JobState):
    """`GET /status/jobs/{id}/progress`: per-file progress, in the replaced service's shape."""

    files: dict[str, LegacyFile]
    """By file id."""
    file_list: list[FileProgress]
    """The same files in upload order, as `GET /status/tasks/{id}/status` lists them."""
    overall_progress: int
    completed_files: int
    failed_files: int


CELERY_STATES = {
    JobStatus.QUEUED: "PENDING",
    JobStatus.PROCESSING: "PROGRESS",
    JobStatus.COMPLETED: "SUCCESS",
    JobStatus.PARTIAL: "SUCCESS",
    JobStatus.FAILED: "FAILURE",
    JobStatus.CANCELLED: "REVOKED",
}


def _state(job: Job) -> dict[str, Any]:
    counts = job.counts()
    done = sum(1 for i in job.items if i.status.is_terminal)
    return {
        "job_id": job.job_id,
        "task_id": job.job_id,
        "batch_id": job.job_id,
        "status": job.status.value,
        "progress": job.progress,
        "current": done,
        "total": job.total,
        "total_files": job.total,
        "message": f"{done} of {job.total} files processed",
        "summary": Summary(
            total_files=job.total,
            successful_files=counts["completed"],
            failed_files=counts["failed"],
            cancelled_files=counts["cancelled"],
        ),
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        "finished_at": job.finished_at,
        "timestamp": int(time.time() * 1000),
    }


def _files(job: Job) -> list[FileProgress]:
    return [
        FileProgress(
            file_id=i.file_id,
            filename=i.filename,
            status=i.status.value,
            progress=i.progress,
            message=i.message,
            error=i.error,
        )
        for i in job.items
    ]


def snapshot(job: Job) -> JobSnapshot:
    state, files = _state(job), _files(job)
    result = error = error_details = None
    if job.status in (JobStatus.COMPLETED, JobStatus.PARTIAL):
        summary = state["summary"].model_dump()
        listed = [f.model_dump(include={"file_id", "filename", "status"}) for f in files]
        result = {"job_id": job.job_id, "status": job.status.value, **summary, "files": listed}
    elif job.status is JobStatus.FAILED:
        error = f"All {job.total} files failed"
        error_details = {
            "files": [f.model_dump(include={"file_id", "filename", "error"}) for f in files]
        }
    return JobSnapshot(
        **state,
        files=files,
        state=CELERY_STATES[job.status],
        result=result,
        error=error,
        error_details=error_details,
    )


def progress(job: Job) -> JobProgress:
    state, files = _state(job), _files(job)
    summary: Summary = state["summary"]
    return JobProgress(
        **state,
        files={
            f.file_id: LegacyFile(
                file_id=f.file_id,
                filename=f.filename,
                status=f.status,
                progress=f.progress,
                error=f.error.message if f.error else None,
            )
            for f in files
        },
        file_list=files,
        overall_progress=job.progress,
        completed_files=summary.successful_files,
        failed_files=summary.failed_files,
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
    rendered_turntable: dict[str, Any] | None = None
    """The model turning once: `url` (animated WebP), `gif_url` (the same as a GIF); made on
    first request, about 1.5 s."""
    formats: dict[str, str]
    unavailable_formats: dict[str, str] = {}
    """Formats this server cannot make (its FBX converter is not installed), with the reason
    and what would fix it."""
    format_warnings: dict[str, str] = {}
    """Per format, what a program opening it will make of the model (an STL or 3MF of a mesh
    that is not closed, say); absent when there is nothing to say."""
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
