"""/logs: statistics, rotation, retention, analysis, daily summaries and exports (admin key)."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse
from pydantic import BeforeValidator
from starlette.background import BackgroundTask

from image2model.api.deps import AdminDep, Services, ServicesDep
from image2model.errors import InvalidField
from image2model.ops import logfiles, loglines
from image2model.ops.logconfig import LOG_TYPES, log_path

router = APIRouter(prefix="/logs", tags=["logs"])

LogType = Literal["api", "worker", "beat"]
LogTypeOrAll = Literal["api", "worker", "beat", "all"]
EXPORT_MEDIA = {"json": "application/json", "csv": "text/csv", "txt": "text/plain"}
LOG_TYPES_PATTERN = rf"^(all|({'|'.join(LOG_TYPES)})(,({'|'.join(LOG_TYPES)}))*)$"
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}.*)?$")


def _iso_only(pattern: re.Pattern[str]) -> BeforeValidator:
    """Only ISO 8601 text (pydantic alone would also read `0` as 1970-01-01)."""

    def check(value: object) -> object:
        if isinstance(value, str) and not pattern.match(value):
            raise ValueError("expected ISO 8601: YYYY-MM-DD, or a date-time where allowed")
        return value

    return BeforeValidator(check)


IsoDate = Annotated[dt.date, _iso_only(_ISO_DATE)]
IsoMoment = Annotated[dt.date | datetime, _iso_only(_ISO_MOMENT)]
EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The lines in range, as a download",
        "content": {media: {} for media in EXPORT_MEDIA.values()},
    }
}
EXPORT_DIR = ".exports"
MB = 1024 * 1024


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
        # the replaced service's fields
        "log_types": list(LOG_TYPES),
        "total_types": len(LOG_TYPES),
        "details": await anyio.to_thread.run_sync(_type_details, log_dir),
    }


def _type_details(log_dir: Path) -> dict[str, Any]:
    files = logfiles.log_files(log_dir)
    details = {}
    for name in LOG_TYPES:
        typed = [f for f in files if f.log_type == name]
        latest = max(typed, key=lambda f: f.modified, default=None)
        details[name] = {
            "file_count": len(typed),
            "latest_file": str(latest.path) if latest else None,
        }
    return details


@router.get("/statistics")
async def statistics(services: ServicesDep, admin: AdminDep) -> dict[str, Any]:
    """Files, sizes and ages, by log type (and the same in the replaced service's terms:
    `total_files`, `total_size_mb`, `oldest_file`, `newest_file`, `by_type`,
    `log_directory`, `disk_usage`)."""
    log_dir = services.settings.log_dir
    stats = await anyio.to_thread.run_sync(logfiles.statistics, log_dir)
    disk = await anyio.to_thread.run_sync(shutil.disk_usage, services.settings.data_dir)
    types = stats["types"].values()
    oldest = [t["oldest"] for t in types if t["oldest"]]
    newest = [t["newest"] for t in types if t["newest"]]
    return {
        **stats,
        "total_files": stats["file_count"],
        "total_size_mb": stats["total_size_bytes"] / MB,
        "oldest_file": min(oldest, default=None),
        "newest_file": max(newest, default=None),
        "by_type": {
            name: {**t, "total_size_mb": t["total_size_bytes"] / MB}
            for name, t in stats["types"].items()
        },
        "log_directory": str(log_dir),
        "disk_usage": {
            "total_bytes": disk.total,
            "free_bytes": disk.free,
            "usage_percent": round(100.0 * disk.used / disk.total, 2) if disk.total else 0.0,
        },
    }


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
@router.delete("/cleanup", include_in_schema=False)  # the replaced service's method
async def cleanup(
    services: ServicesDep,
    admin: AdminDep,
    older_than_days: Annotated[float | None, Query(ge=0, le=36500)] = None,
) -> dict[str, Any]:
    """Delete rotated files older than N days (LOG_RETENTION_DAYS by default)."""
    days = services.settings.LOG_RETENTION_DAYS if older_than_days is None else older_than_days
    result = await anyio.to_thread.run_sync(logfiles.cleanup, services.settings.log_dir, days)
    return {
        **result,
        # the replaced service's fields
        "status": "completed",
        "removed_files": result["deleted_count"],
        "total_size_removed_mb": result["freed_bytes"] / MB,
        "errors": [],
    }


@router.get("/analyze")
async def analyze(
    services: ServicesDep,
    admin: AdminDep,
    log_type: LogTypeOrAll = "all",
    hours_back: Annotated[float, Query(gt=0, le=24 * 366)] = 24,
) -> dict[str, Any]:
    """Levels, top errors, slowest routes and error rate over the last `hours_back` hours."""
    types = list(LOG_TYPES) if log_type == "all" else [log_type]
    result = await anyio.to_thread.run_sync(
        loglines.analyze_recent, services.settings.log_dir, types, hours_back
    )
    return {
        **result,
        # the replaced service's fields
        "time_range": {"start": result["from"], "end": result["to"], "hours_back": hours_back},
        "log_levels": result["levels"],
        "error_patterns": {e["message"]: e["count"] for e in result["top_errors"]},
        "request_patterns": {r["route"]: r["count"] for r in result["slowest_routes"]},
        "performance_metrics": {
            "requests": result["requests"],
            "error_rate": result["error_rate"],
            "slowest_routes": result["slowest_routes"],
        },
        "lines_analyzed": result["total_lines"],
    }


@router.get("/summary/daily")
async def daily_summary(
    services: ServicesDep, admin: AdminDep, date: IsoDate | None = None
) -> dict[str, Any]:
    """One UTC calendar day (`YYYY-MM-DD`, today by default)."""
    day = date or datetime.now(UTC).date()
    return await anyio.to_thread.run_sync(loglines.daily_summary, services.settings.log_dir, day)


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


@dataclass(frozen=True)
class ExportQuery:
    """Which lines an export holds: `start_date` to `end_date` (whole days for dates)."""

    start_date: IsoMoment
    end_date: IsoMoment
    log_types: Annotated[str, Query(pattern=LOG_TYPES_PATTERN)] = "all"
    format: Literal["json", "csv", "txt"] = "json"


ExportDep = Annotated[ExportQuery, Depends()]


async def _export(services: Services, query: ExportQuery) -> tuple[Path, int, datetime, datetime]:
    """The export written to a private file, its line count and the moments it spans."""
    start, end = _moment(query.start_date, end=False), _moment(query.end_date, end=True)
    types = _parse_types(query.log_types)
    log_dir = services.settings.log_dir
    path, count = await anyio.to_thread.run_sync(
        _write_export, log_dir, types, start, end, query.format
    )
    return path, count, start, end


@router.get("/export", response_class=FileResponse, responses=EXPORT_RESPONSES)
async def export(services: ServicesDep, admin: AdminDep, query: ExportDep) -> FileResponse:
    """Download the lines from `start_date` to `end_date` (dates include the whole day).

    An empty or inverted range is a valid question with an empty answer.
    """
    path, count, start, end = await _export(services, query)
    name = f"image2model-logs-{start:%Y%m%dT%H%M%S}-{end:%Y%m%dT%H%M%S}.{query.format}"
    return FileResponse(
        path,
        media_type=EXPORT_MEDIA[query.format],
        filename=name,
        headers={"X-Export-Lines": str(count)},
        background=BackgroundTask(logfiles.remove_quietly, path),
    )


@router.post("/export")
async def export_summary(
    request: Request, services: ServicesDep, admin: AdminDep, query: ExportDep
) -> dict[str, Any]:
    """The replaced service's method: what an export of these lines holds, and where to get
    it (`download_url`: the same question as a `GET`, which answers with the file)."""
    path, count, _, _ = await _export(services, query)
    await anyio.to_thread.run_sync(logfiles.remove_quietly, path)
    return {
        "status": "completed",
        "message": f"{count} log lines match; GET download_url for the file",
        "lines": count,
        "download_url": f"{request.url.path}?{request.url.query}",
        "parameters": {
            "start_date": query.start_date,
            "end_date": query.end_date,
            "log_types": _parse_types(query.log_types),
            "format": query.format,
        },
    }


def _write_export(
    log_dir: Path, types: list[str], start: datetime, end: datetime, fmt: str
) -> tuple[Path, int]:
    folder = log_dir / EXPORT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=folder, suffix=f".{fmt}", delete=False, encoding="utf-8", newline=""
    ) as handle:
        count = loglines.export(loglines.entries(log_dir, types, start, end), fmt, handle)
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


def _moment(value: dt.date | datetime, *, end: bool) -> datetime:
    """A date-time as given (UTC if naive), or a date: its start, or for an end, its end."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    start = datetime.combine(value, dt.time.min, tzinfo=UTC)
    try:
        return start + timedelta(days=1) if end else start
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC)
