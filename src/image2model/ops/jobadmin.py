"""Jobs across every key, for administrators: listing with filters, and deletion."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any

import anyio
import redis.asyncio as aioredis

from image2model.errors import NotFound
from image2model.identity import Principal
from image2model.jobs.models import JobStatus
from image2model.jobs.service import JobService
from image2model.jobs.store import ACTIVE_JOBS, ALL_JOBS, job_key, lease_key, owner_jobs_key
from image2model.storage import Storage, is_id

RELEASE_TIMEOUT = 10.0
"""How long deletion waits for workers to let go of cancelled items before removing files."""
_FIELDS = ("status", "owner", "meta", "order", "done", "finished_at", "completed", "failed")


async def active_job_ids(client: aioredis.Redis) -> set[str]:
    """Jobs not yet finished: their files are never cleaned up."""
    return set(await client.smembers(ACTIVE_JOBS))


async def list_jobs(
    client: aioredis.Redis,
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
    index = owner_jobs_key(key_id) if key_id else ALL_JOBS
    ids: list[str] = await client.zrevrangebyscore(index, newest, oldest)
    async with client.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.hmget(job_key(job_id), _FIELDS)
        rows = await pipe.execute()
    jobs = [_summary(job_id, row) for job_id, row in zip(ids, rows, strict=True) if row[0]]
    if status is not None:
        jobs = [job for job in jobs if job["status"] == status.value]
    return {
        "total": len(jobs),
        "limit": limit,
        "offset": offset,
        "jobs": jobs[offset : offset + limit],
    }


def _summary(job_id: str, row: list[str | None]) -> dict[str, Any]:
    status, owner, meta_raw, order, done, finished, completed, failed = row
    meta = json.loads(meta_raw or "{}")
    return {
        "job_id": job_id,
        "key_id": owner,
        "status": status,
        "provider": meta.get("options", {}).get("provider"),
        "request_id": meta.get("request_id"),
        "created_at": _iso(meta.get("created_at")),
        "finished_at": _iso(float(finished) if finished else None),
        "total_files": len(json.loads(order or "[]")),
        "finished_files": int(done or 0),
        "completed_files": int(completed or 0),
        "failed_files": int(failed or 0),
    }


def _iso(timestamp: float | None) -> str | None:
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat() if timestamp else None


async def delete_job(
    jobs: JobService, storage: Storage, client: aioredis.Redis, job_id: str, admin: Principal
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
    released = await _wait_released(client, job_id, [i.file_id for i in job.items])
    await jobs.delete(job_id, admin)
    return {
        "job_id": job_id,
        "deleted": True,
        "cancelled_items": len(running),
        "workers_released": released,
        "state_removed": True,
        "files_removed": True,
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


async def _wait_released(client: aioredis.Redis, job_id: str, file_ids: list[str]) -> bool:
    """True once no worker holds a lease on any of the job's items (or after the timeout)."""
    if not file_ids:
        return True
    keys = [lease_key(job_id, file_id) for file_id in file_ids]
    deadline = time.monotonic() + RELEASE_TIMEOUT
    while await client.exists(*keys):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.2)
    return True
