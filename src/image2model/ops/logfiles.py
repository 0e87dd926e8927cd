"""The log files under LOG_DIR: which exist, statistics, rotation, retention and health.

Everything here reads or changes files, so the API calls it in a worker thread. Only the
files of the known log types (`api.log`, `api.log.1` …) are ever touched; names come from
`LOG_TYPES`, never from a request.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from image2model.ops.logconfig import LOG_TYPES, log_path, rotate_file, rotation_lock
from image2model.ops.system import HEALTHY, WARNING, level, worst

QUIET_HOURS = 24.0


@dataclass(frozen=True)
class LogFile:
    path: Path
    log_type: str
    index: int  # 0 for the active file, N for `.N`
    size: int
    modified: float

    def describe(self, now: float) -> dict[str, Any]:
        return {
            "name": self.path.name,
            "log_type": self.log_type,
            "rotated": self.index > 0,
            "size_bytes": self.size,
            "modified": _iso(self.modified),
            "age_hours": round((now - self.modified) / 3600, 2),
        }


def log_files(log_dir: Path, log_types: Iterable[str] = LOG_TYPES) -> list[LogFile]:
    """The files of each type, oldest first (`.N` … `.1`, then the active file)."""
    found: list[LogFile] = []
    for log_type in log_types:
        active = log_path(log_dir, log_type)
        pattern = re.compile(rf"^{re.escape(active.name)}(?:\.(\d{{1,3}}))?$")
        typed = []
        for path in log_dir.glob(f"{active.name}*") if log_dir.is_dir() else ():
            match = pattern.match(path.name)
            if match is None or path.is_symlink() or not path.is_file():
                continue
            stat = path.stat()
            index = int(match.group(1) or 0)
            typed.append(LogFile(path, log_type, index, stat.st_size, stat.st_mtime))
        found.extend(sorted(typed, key=lambda f: -f.index))
    return found


def statistics(log_dir: Path) -> dict[str, Any]:
    now = time.time()
    files = log_files(log_dir)
    types: dict[str, Any] = {}
    for log_type in LOG_TYPES:
        typed = [f for f in files if f.log_type == log_type]
        types[log_type] = {
            "file_count": len(typed),
            "total_size_bytes": sum(f.size for f in typed),
            "oldest": _iso(min(f.modified for f in typed)) if typed else None,
            "newest": _iso(max(f.modified for f in typed)) if typed else None,
            "files": [f.describe(now) for f in reversed(typed)],
        }
    return {
        "log_dir": str(log_dir),
        "file_count": len(files),
        "total_size_bytes": sum(f.size for f in files),
        "types": types,
    }


def rotate(log_dir: Path, backup_count: int, log_types: Sequence[str]) -> list[dict[str, Any]]:
    """Rotate each type's active file now; writers in every process reopen a fresh one."""
    results = []
    for log_type in log_types:
        path = log_path(log_dir, log_type)
        rotated, size = None, 0
        if path.is_file():
            with rotation_lock(path):
                size = path.stat().st_size
                rotated = rotate_file(path, backup_count) if size else None
        results.append(
            {
                "log_type": log_type,
                "rotated": rotated is not None,
                "rotated_file": rotated.name if rotated else None,
                "size_bytes": size,
            }
        )
    return results


def rotate_oversized(log_dir: Path, max_bytes: int, backup_count: int) -> list[str]:
    """Rotate active files past `max_bytes` (their writer may be quiet or gone)."""
    big = [f.log_type for f in log_files(log_dir) if f.index == 0 and f.size >= max_bytes]
    return [r["rotated_file"] for r in rotate(log_dir, backup_count, big) if r["rotated"]]


def cleanup(log_dir: Path, older_than_days: float) -> dict[str, Any]:
    """Delete rotated files last written more than `older_than_days` ago; never active ones."""
    cutoff = time.time() - older_than_days * 86400
    deleted, freed = [], 0
    for file in log_files(log_dir):
        if file.index > 0 and file.modified < cutoff:
            file.path.unlink(missing_ok=True)
            deleted.append(file.path.name)
            freed += file.size
    return {
        "older_than_days": older_than_days,
        "deleted": deleted,
        "deleted_count": len(deleted),
        "freed_bytes": freed,
    }


def health(
    log_dir: Path, *, max_bytes: int, retention_days: int, warning: float, critical: float
) -> dict[str, Any]:
    """Disk, sizes, stale files and what to do about them."""
    now = time.time()
    files = log_files(log_dir)
    disk = shutil.disk_usage(log_dir if log_dir.is_dir() else log_dir.parent)
    disk_percent = round(100.0 * disk.used / disk.total, 2) if disk.total else 0.0
    oversized = [f for f in files if f.index == 0 and f.size > max_bytes * 1.1]
    stale = [f for f in files if f.index > 0 and now - f.modified > retention_days * 86400]
    quiet = [f for f in files if f.index == 0 and now - f.modified > QUIET_HOURS * 3600]
    advice = _recommendations(disk_percent, warning, oversized, stale, quiet, retention_days)
    statuses = [level(disk_percent, warning, critical)]
    statuses += [WARNING] if oversized or stale else [HEALTHY]
    return {
        "status": worst(statuses),
        "log_dir": str(log_dir),
        "disk": {
            "total_bytes": disk.total,
            "free_bytes": disk.free,
            "used_percent": disk_percent,
        },
        "total_size_bytes": sum(f.size for f in files),
        "file_count": len(files),
        "oversized_files": [f.describe(now) for f in oversized],
        "stale_files": [f.describe(now) for f in stale],
        "quiet_files": [f.describe(now) for f in quiet],
        "recommendations": advice,
    }


def _recommendations(
    disk_percent: float,
    warning: float,
    oversized: list[LogFile],
    stale: list[LogFile],
    quiet: list[LogFile],
    retention_days: int,
) -> list[str]:
    advice = []
    if disk_percent >= warning:
        advice.append(
            f"The log disk is {disk_percent:.0f}% full: run POST /api/v1/logs/cleanup "
            "or lower LOG_BACKUP_COUNT / LOG_MAX_BYTES."
        )
    if oversized:
        names = ", ".join(f.path.name for f in oversized)
        advice.append(f"{names} grew past LOG_MAX_BYTES: run POST /api/v1/logs/rotate.")
    if stale:
        advice.append(
            f"{len(stale)} rotated file(s) are older than LOG_RETENTION_DAYS ({retention_days}): "
            f"run POST /api/v1/logs/cleanup?older_than_days={retention_days}."
        )
    if quiet:
        names = ", ".join(f.path.name for f in quiet)
        advice.append(f"{names} had no line for {QUIET_HOURS:.0f} h: is that process running?")
    return advice


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat()


def remove_quietly(path: Path) -> None:
    """Delete an export once it was sent."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return
