"""/admin: disk use, cleanup, file listings, job deletion, system health, all jobs (admin key)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Query, status
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from image2model.api.deps import AdminDep, ServicesDep
from image2model.api.health import component_checks
from image2model.api.lifecycle import OpsDep
from image2model.jobs import maintenance
from image2model.jobs.models import JobStatus
from image2model.ops import datafiles, jobadmin
from image2model.ops.system import CRITICAL, HEALTHY, WARNING, assess, sample_system, worst

router = APIRouter(prefix="/admin", tags=["admin"])

CLEANUP_TASK = "tasks.cleanup_old_files"
KEY_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
MAX_HOURS = 24 * 366 * 100


@router.get("/disk-usage")
async def disk_usage(services: ServicesDep, admin: AdminDep) -> dict[str, Any]:
    """Sizes and file counts of uploads, results and logs, and DATA_DIR's disk."""
    settings = services.settings
    roots = {
        "uploads": services.storage.upload_dir,
        "results": services.storage.results_dir,
        "logs": settings.log_dir,
    }
    return await anyio.to_thread.run_sync(datafiles.disk_usage, settings.data_dir, roots)


class CleanupRequest(BaseModel):
    hours: Annotated[float | None, Field(gt=0, le=MAX_HOURS)] = None
    dry_run: bool = False


@router.post("/cleanup")
async def cleanup(
    services: ServicesDep,
    admin: AdminDep,
    hours: Annotated[float | None, Query(gt=0, le=MAX_HOURS)] = None,
    dry_run: bool = False,
    body: CleanupRequest | None = None,
) -> dict[str, Any]:
    """Remove files of jobs that ended more than `hours` ago (RESULT_RETENTION by default).

    A running job's files are never touched; `dry_run` lists what would go and deletes nothing.
    `hours` and `dry_run` may also come as a JSON body, as the replaced service took them.
    """
    if body is not None:
        hours = body.hours if hours is None else hours
        dry_run = dry_run or body.dry_run
    retention = hours * 3600 if hours is not None else float(services.settings.RESULT_RETENTION)
    active = await services.store.active_ids()

    def mark_expired(job_id: str) -> None:
        anyio.from_thread.run(services.store.mark_results_expired, job_id)

    found = await anyio.to_thread.run_sync(
        lambda: maintenance.cleanup_old_jobs(
            services.storage,
            retention=retention,
            is_active=active.__contains__,
            mark_expired=mark_expired,
            dry_run=dry_run,
        )
    )
    data_dir = services.settings.data_dir
    return {
        "dry_run": dry_run,
        "retention_hours": round(retention / 3600, 4),
        "job_count": len(found),
        "size_bytes": sum(job.size_bytes for job in found),
        "jobs": [
            {
                "job_id": job.job_id,
                "finished_at": job.finished_at,
                "size_bytes": job.size_bytes,
                "folders": [_relative(folder, data_dir) for folder in job.folders],
            }
            for job in found
        ],
        # the replaced service's fields: what was removed
        "freed_space_mb": 0.0 if dry_run else sum(j.size_bytes for j in found) / datafiles.MB,
        "files_removed": 0 if dry_run else sum(j.file_count for j in found),
        "directories_removed": 0 if dry_run else sum(len(j.folders) for j in found),
        "errors": [],
        "cleanup_hours": round(retention / 3600, 4),
        "timestamp": datetime.now(UTC).isoformat(),
    }


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


class CleanupJob(BaseModel):
    job_id: Annotated[str | None, Field(max_length=64)] = None


@router.post(
    "/cleanup-job",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=None,
    responses={200: {"description": "With a job_id: that job's files and state were removed"}},
)
async def cleanup_job(
    services: ServicesDep, ops: OpsDep, admin: AdminDep, body: CleanupJob | None = None
) -> dict[str, Any] | JSONResponse:
    """With `{"job_id": …}`: remove that job's files and state now (200, as the replaced
    service did; 404 for an unknown id). Without: run the scheduled retention cleanup now,
    on a worker (the `maintenance` queue; 202)."""
    if body is not None and body.job_id is not None:
        removed = await jobadmin.cleanup_job(
            services.jobs, services.storage, services.store, body.job_id, admin
        )
        return JSONResponse(removed)
    result = await anyio.to_thread.run_sync(lambda: ops.celery.send_task(CLEANUP_TASK))
    return {
        "task_id": result.id,
        "task": CLEANUP_TASK,
        "queue": "maintenance",
        "status": "queued",
        "queued_at": time.time(),
    }


@router.get("/list-files")
async def list_files(
    services: ServicesDep,
    admin: AdminDep,
    directory: Literal["uploads", "results"] = "results",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
    limit: Annotated[int | None, Query(ge=1, le=500)] = None,
) -> dict[str, Any]:
    """Files under uploads/ or results/, newest first, a page at a time (`limit`, the
    replaced service's name, is the page size of the first page)."""
    page_size = limit or page_size
    storage = services.storage
    root = storage.upload_dir if directory == "uploads" else storage.results_dir
    listing = await anyio.to_thread.run_sync(
        lambda: datafiles.list_files(root, page=page, page_size=page_size)
    )
    return {"directory": directory, **listing}


@router.delete("/delete-job/{job_id}")
async def delete_job(
    services: ServicesDep, admin: AdminDep, job_id: Annotated[str, PathParam(max_length=64)]
) -> dict[str, Any]:
    """Cancel the job's running items, then remove its Redis state and files."""
    return await jobadmin.delete_job(services.jobs, services.storage, services.store, job_id, admin)


@router.get("/system-health")
async def system_health(services: ServicesDep, admin: AdminDep) -> dict[str, Any]:
    """CPU, memory and disk against the thresholds, plus Redis and workers."""
    settings = services.settings
    sample = await anyio.to_thread.run_sync(sample_system, settings.data_dir)
    report = assess(
        sample, warning=settings.HEALTH_WARNING_PERCENT, critical=settings.HEALTH_CRITICAL_PERCENT
    )
    components = await component_checks(services)
    statuses = [report["status"]]
    statuses.append(CRITICAL if not components["redis"]["healthy"] else report["status"])
    statuses.append(WARNING if not components["workers"]["healthy"] else report["status"])
    status = worst(statuses)
    usage = await disk_usage(services, admin)
    warnings = [
        f"{name}: {check['status']} ({check['percent']:.1f}%)"
        for name, check in report["checks"].items()
        if check["status"] != HEALTHY
    ]
    warnings += [f"{name}: unavailable" for name, c in components.items() if not c["healthy"]]
    return {
        **report,
        "status": status,
        "components": components,
        "disk_usage": {k: usage[k] for k in ("upload_dir", "output_dir", "timestamp")},
        "warnings": warnings,
        "timestamp": usage["timestamp"],
    }


@router.get("/jobs")
async def list_jobs(
    services: ServicesDep,
    admin: AdminDep,
    job_status: Annotated[JobStatus | None, Query(alias="status")] = None,
    key_id: Annotated[str | None, Query(pattern=KEY_ID_PATTERN)] = None,
    newer_than_hours: Annotated[float | None, Query(gt=0, le=MAX_HOURS)] = None,
    older_than_hours: Annotated[float | None, Query(ge=0, le=MAX_HOURS)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Every key's jobs, newest first, by status, key id and age."""
    return await jobadmin.list_jobs(
        services.store,
        status=job_status,
        key_id=key_id,
        newer_than_hours=newer_than_hours,
        older_than_hours=older_than_hours,
        limit=limit,
        offset=offset,
    )
