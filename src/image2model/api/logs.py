"""/logs: statistics, rotation, retention, analysis, daily summaries and exports (admin key)."""

from __future__ import annotations

import re
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Query
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from image2model.api.deps import AdminDep, ServicesDep
from image2model.errors import InvalidField
from image2model.ops import logfiles
from image2model.ops.logconfig import LOG_TYPES, log_path

router = APIRouter(prefix="/logs", tags=["logs"])

LogType = Literal["api", "worker", "beat"]
LogTypeOrAll = Literal["api", "worker", "beat", "all"]
EXPORT_MEDIA = {"json": "application/json", "csv": "text/csv", "txt": "text/plain"}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
EXPORT_DIR = ".exports"


@router.get("/types")
async def log_types(services: ServicesDep, admin: AdminDep) -> dict[str, Any]:
    """The kinds of log this deployment writes, and their files."""
    log_dir = services.settings.log_dir
    return {
        "log_dir": str(log_dir),
        "types": [
            {
                "name": name,
                "description": description,
                "file": log_path(log_dir, name).name,
                "exists": await anyio.Path(log_path(log_dir, name)).is_file(),
            }
            for name, description in LOG_TYPES.items()
        ],
        "max_bytes": services.settings.LOG_MAX_BYTES,
        "backup_count": services.settings.LOG_BACKUP_COUNT,
        "retention_days": services.settings.LOG_RETENTION_DAYS,
    }


@router.get("/statistics")
async def statistics(services: ServicesDep, admin: AdminDep) -> dict[str, Any]:
    """Files, sizes and ages, by log type."""
    return await anyio.to_thread.run_sync(logfiles.statistics, services.settings.log_dir)


@router.post("/rotate")
async def rotate(
    services: ServicesDep, admin: AdminDep, log_type: LogTypeOrAll = "all"
) -> dict[str, Any]:
    """Rotate now: `x.log` becomes `x.log.1`; every writer continues in a new `x.log`."""
    settings = services.settings
    types = list(LOG_TYPES) if log_type == "all" else [log_type]
    results = await anyio.to_thread.run_sync(
        logfiles.rotate, settings.log_dir, settings.LOG_BACKUP_COUNT, types
    )
    return {"rotated": [r for r in results if r["rotated"]], "results": results}


@router.post("/cleanup")
@router.delete("/cleanup", include_in_schema=False)
async def cleanup(
    services: ServicesDep,
    admin: AdminDep,
    older_than_days: Annotated[float | None, Query(ge=0, le=36500)] = None,
) -> dict[str, Any]:
    """Delete rotated files older than N days (LOG_RETENTION_DAYS by default)."""
    days = services.settings.LOG_RETENTION_DAYS if older_than_days is None else older_than_days
    return await anyio.to_thread.run_sync(logfiles.cleanup, services.settings.log_dir, days)


@router.get("/analyze")
async def analyze(
    services: ServicesDep,
    admin: AdminDep,
    log_type: LogTypeOrAll = "all",
    hours_back: Annotated[float, Query(gt=0, le=24 * 366)] = 24,
) -> dict[str, Any]:
    """Levels, top errors, slowest routes and error rate over the last `hours_back` hours."""
    types = list(LOG_TYPES) if log_type == "all" else [log_type]
    return await anyio.to_thread.run_sync(
        logfiles.analyze_recent, services.settings.log_dir, types, hours_back
    )


@router.get("/summary/daily")
async def daily_summary(
    services: ServicesDep, admin: AdminDep, date: str | None = None
) -> dict[str, Any]:
    """One UTC calendar day (`YYYY-MM-DD`, today by default)."""
    day = _parse_date(date, "date") if date else datetime.now(UTC)
    return await anyio.to_thread.run_sync(logfiles.daily_summary, services.settings.log_dir, day)


@router.get("/health")
async def logs_health(services: ServicesDep, admin: AdminDep) -> dict[str, Any]:
    """Disk space, sizes, stale files and recommendations."""
    settings = services.settings
    return await anyio.to_thread.run_sync(
        lambda: logfiles.health(
            settings.log_dir,
            max_bytes=settings.LOG_MAX_BYTES,
            retention_days=settings.LOG_RETENTION_DAYS,
            warning=settings.HEALTH_WARNING_PERCENT,
            critical=settings.HEALTH_CRITICAL_PERCENT,
        )
    )


@router.get("/export")
async def export(
    services: ServicesDep,
    admin: AdminDep,
    start_date: str,
    end_date: str,
    log_types: str = "all",
    format: Literal["json", "csv", "txt"] = "json",
) -> FileResponse:
    """Download the lines from `start_date` to `end_date` (dates include the whole day)."""
    start = _parse_when(start_date, "start_date", end=False)
    end = _parse_when(end_date, "end_date", end=True)
    if end <= start:
        raise InvalidField("end_date must be after start_date", details={"field": "end_date"})
    types = _parse_types(log_types)
    log_dir = services.settings.log_dir
    path, count = await anyio.to_thread.run_sync(_write_export, log_dir, types, start, end, format)
    name = f"image2model-logs-{start:%Y%m%dT%H%M%S}-{end:%Y%m%dT%H%M%S}.{format}"
    return FileResponse(
        path,
        media_type=EXPORT_MEDIA[format],
        filename=name,
        headers={"X-Export-Lines": str(count)},
        background=BackgroundTask(logfiles.remove_quietly, path),
    )


def _write_export(
    log_dir: Path, types: list[str], start: datetime, end: datetime, fmt: str
) -> tuple[Path, int]:
    folder = log_dir / EXPORT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=folder, suffix=f".{fmt}", delete=False, encoding="utf-8", newline=""
    ) as handle:
        count = logfiles.export(logfiles.entries(log_dir, types, start, end), fmt, handle)
    return Path(handle.name), count


def _parse_types(value: str) -> list[str]:
    names = [part.strip() for part in value.split(",") if part.strip()]
    if names == ["all"]:
        return list(LOG_TYPES)
    unknown = [name[:40] for name in names if name not in LOG_TYPES]
    if unknown or not names:
        raise InvalidField(
            f"log_types must be 'all' or a comma list of {', '.join(LOG_TYPES)}",
            details={"field": "log_types", "unknown": unknown},
        )
    return list(dict.fromkeys(names))


def _parse_date(value: str, field: str) -> datetime:
    if not _DATE.match(value):
        raise InvalidField(f"{field} must be a date, YYYY-MM-DD", details={"field": field})
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise InvalidField(f"{field} is not a valid date", details={"field": field}) from None


def _parse_when(value: str, field: str, *, end: bool) -> datetime:
    """A date (the whole day; an end date includes it) or an ISO date-time (UTC if naive)."""
    if _DATE.match(value):
        day = _parse_date(value, field)
        return day + timedelta(days=1) if end else day
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidField(
            f"{field} must be YYYY-MM-DD or an ISO 8601 date-time", details={"field": field}
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
