"""Jobs across every key, for administrators: listing with filters, and deletion."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import anyio

from image2model.errors import NotFound
from image2model.identity import Principal
from image2model.jobs.format import JobSummary
from image2model.jobs.models import JobStatus
from image2model.jobs.service import JobService
from image2model.jobs.store import JobStore
from image2model.ops import datafiles
from image2model.storage import Storage, is_id

RELEASE_TIMEOUT = 10.0
"""How long deletion waits for workers to let go of cancelled items before removing files."""


async def list_jobs(
    store: JobStore,
    *,
    status: JobStatus | None,
    key_id: str | None,
    newer_than_hours: float | None,
    older_than_hours: float | None,
    limit: int,
    offset: int,
) -> dict[str, Any]:
    """Newest first; `key_id` narrows to one key's jobs, the ages to a creation window."""
    now = time.time()
    newest = now - older_than_hours * 3600 if older_than_hours is not None else "+inf"
    oldest = now - newer_than_hours * 3600 if newer_than_hours is not None else "-inf"
    jobs = await store.summaries(owner=key_id, newest=newest, oldest=oldest)
    if status is not None:
        jobs = [job for job in jobs if job.status is status]
    return {
        "total": len(jobs),
        "limit": limit,
        "offset": offset,
        "jobs": [_summary(job) for job in jobs[offset : offset + limit]],
    }


def _summary(job: JobSummary) -> dict[str, Any]:
    return {
        "job_id": job.job_id,
        "key_id": job.owner,
        "status": job.status.value,
        "provider": job.provider,
        "request_id": job.request_id,
        "created_at": _iso(job.created_at),
        "finished_at": _iso(job.finished_at),
        "total_files": job.total_files,
        "finished_files": job.finished_files,
        "completed_files": job.completed_files,
        "failed_files": job.failed_files,
    }


def _iso(timestamp: float | None) -> str | None:
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat() if timestamp else None


async def delete_job(
    jobs: JobService, storage: Storage, store: JobStore, job_id: str, admin: Principal
) -> dict[str, Any]:
    """Cancel what still runs, wait for workers to let go, then remove state and files."""
    if not is_id(job_id):
        raise NotFound("Job not found", error_code="JOB_NOT_FOUND")
    try:
        job = await jobs.get(job_id, admin)
    except NotFound:
        return await _delete_orphan_files(storage, job_id)
    running = [item.file_id for item in job.items if not item.status.is_terminal]
    await jobs.cancel(job_id, admin)
    released = await _wait_released(store, job_id, [i.file_id for i in job.items])
    await jobs.delete(job_id, admin)
    return {
        "job_id": job_id,
        "deleted": True,
        "cancelled_items": len(running),
        "workers_released": released,
        "state_removed": True,
        "files_removed": True,
    }


async def cleanup_job(
    jobs: JobService, storage: Storage, store: JobStore, job_id: str, admin: Principal
) -> dict[str, Any]:
    """`delete_job`, answered as the replaced service's `cleanup-job` was: how many files
    went and how much space they freed (`files_removed` is that count here)."""
    if not is_id(job_id):
        raise NotFound("Job not found", error_code="JOB_NOT_FOUND")

    def measure() -> list[datafiles.FileEntry]:
        roots = (storage.upload_dir / job_id, storage.results_dir / job_id)
        return [entry for root in roots for entry in datafiles.walk_files(root)]

    files = await anyio.to_thread.run_sync(measure)
    deleted = await delete_job(jobs, storage, store, job_id, admin)
    freed = sum(entry.size for entry in files)
    return {
        **deleted,
        "message": f"Removed job {job_id}: {len(files)} files",
        "files_removed": len(files),
        "freed_space_mb": round(freed / datafiles.MB, 3),
        "errors": [],
        "timestamp": datetime.now(UTC).isoformat(),
    }


async def _delete_orphan_files(storage: Storage, job_id: str) -> dict[str, Any]:
    """Files whose job state already expired can still be removed."""

    def remove() -> bool:
        roots = (storage.upload_dir, storage.results_dir)
        present = any((root / job_id).is_dir() for root in roots)
        if present:
            storage.delete_job(job_id)
        return present

    if not await anyio.to_thread.run_sync(remove):
        raise NotFound("Job not found", error_code="JOB_NOT_FOUND")
    return {
        "job_id": job_id,
        "deleted": True,
        "cancelled_items": 0,
        "workers_released": True,
        "state_removed": False,
        "files_removed": True,
    }


async def _wait_released(store: JobStore, job_id: str, file_ids: list[str]) -> bool:
    """True once no worker holds a lease on any of the job's items (or after the timeout)."""
    deadline = time.monotonic() + RELEASE_TIMEOUT
    while await store.any_leased(job_id, file_ids):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.2)
    return True
