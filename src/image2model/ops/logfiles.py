"""The log files under LOG_DIR: statistics, rotation, retention, analysis and export.

Everything here reads or changes files, so the API calls it in a worker thread. Only the
files of the known log types (`api.log`, `api.log.1` …) are ever touched; names come from
`LOG_TYPES`, never from a request.
"""

from __future__ import annotations

import csv
import heapq
import json
import os
import re
import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from image2model.ops.logconfig import LOG_TYPES, log_path, rotate_file, rotation_lock
from image2model.ops.system import HEALTHY, WARNING, level, worst

ACCESS_LOGGER = "image2model.access"
ERROR_LEVELS = frozenset({"ERROR", "CRITICAL"})
EXPORT_FORMATS = ("json", "csv", "txt")
CSV_COLUMNS = ("timestamp", "log_type", "level", "logger", "message", "request_id", "job_id")
TOP = 10
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


@dataclass(frozen=True)
class Entry:
    """One parsed JSON line."""

    at: datetime
    log_type: str
    data: dict[str, Any]


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


# ------------------------------------------------------------------ reading lines --------


def entries(
    log_dir: Path, log_types: Sequence[str], start: datetime, end: datetime
) -> Iterator[Entry]:
    """Lines with `start <= timestamp < end` from the given types, merged in time order."""
    streams = [_entries_of(log_dir, log_type, start, end) for log_type in log_types]
    return heapq.merge(*streams, key=lambda entry: entry.at)


def _entries_of(log_dir: Path, log_type: str, start: datetime, end: datetime) -> Iterator[Entry]:
    start_ts = start.timestamp()
    for file in log_files(log_dir, [log_type]):
        if file.modified < start_ts:
            continue  # written to for the last time before the window opened
        with file.path.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                entry = parse_line(line, log_type)
                if entry is not None and start <= entry.at < end:
                    yield entry


def parse_line(line: str, log_type: str) -> Entry | None:
    try:
        data = json.loads(line)
        at = datetime.fromisoformat(data["timestamp"])
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(data, dict):
        return None
    return Entry(at if at.tzinfo else at.replace(tzinfo=UTC), log_type, data)


# ------------------------------------------------------------------ analysis -------------


def analyze(lines: Iterable[Entry]) -> dict[str, Any]:
    """Levels, the commonest errors, the slowest routes and the error rate of `lines`."""
    levels: Counter[str] = Counter()
    errors: Counter[tuple[str, str]] = Counter()
    last_error: dict[tuple[str, str], str] = {}
    durations: dict[str, list[float]] = defaultdict(list)
    requests = server_errors = client_errors = 0
    for entry in lines:
        data = entry.data
        levels[str(data.get("level", "UNKNOWN"))] += 1
        if data.get("level") in ERROR_LEVELS:
            key = (str(data.get("logger", "")), str(data.get("message", ""))[:200])
            errors[key] += 1
            last_error[key] = entry.at.isoformat()
        if data.get("logger") == ACCESS_LOGGER and isinstance(data.get("status"), int):
            requests += 1
            server_errors += data["status"] >= 500
            client_errors += 400 <= data["status"] < 500
            route = f"{data.get('method', '?')} {data.get('route', '?')}"
            durations[route].append(float(data.get("duration_ms") or 0.0))
    total = sum(levels.values())
    return {
        "total_lines": total,
        "levels": dict(levels),
        "error_lines": sum(levels[name] for name in ERROR_LEVELS),
        "top_errors": [
            {"logger": logger, "message": message, "count": count, "last_seen": last_error[key]}
            for key, count in errors.most_common(TOP)
            for logger, message in [key]
        ],
        "requests": {
            "total": requests,
            "client_errors": client_errors,
            "server_errors": server_errors,
        },
        "error_rate": round(server_errors / requests, 4) if requests else 0.0,
        "slowest_routes": _slowest(durations),
    }


def _slowest(durations: dict[str, list[float]]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for route, values in durations.items():
        ordered = sorted(values)
        p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
        rows.append(
            {
                "route": route,
                "count": len(ordered),
                "avg_ms": round(sum(ordered) / len(ordered), 2),
                "p95_ms": round(p95, 2),
                "max_ms": round(ordered[-1], 2),
            }
        )
    return sorted(rows, key=lambda row: (-row["p95_ms"], row["route"]))[:TOP]


def analyze_recent(log_dir: Path, log_types: Sequence[str], hours_back: float) -> dict[str, Any]:
    end = datetime.now(UTC) + timedelta(seconds=1)
    start = end - timedelta(hours=hours_back, seconds=1)
    result = analyze(entries(log_dir, log_types, start, end))
    return {"log_types": list(log_types), "from": start.isoformat(), "to": end.isoformat()} | (
        result
    )


def daily_summary(log_dir: Path, day: datetime) -> dict[str, Any]:
    """That UTC calendar day, per log type and in total."""
    start = day.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=UTC)
    end = start + timedelta(days=1)
    per_type = {t: analyze(entries(log_dir, [t], start, end)) for t in LOG_TYPES}
    levels: Counter[str] = Counter()
    for result in per_type.values():
        levels.update(result["levels"])
    return {
        "date": start.date().isoformat(),
        "from": start.isoformat(),
        "to": end.isoformat(),
        "total_lines": sum(levels.values()),
        "levels": dict(levels),
        "log_types": per_type,
    }


# ------------------------------------------------------------------ export ---------------


def export(lines: Iterable[Entry], fmt: str, handle: IO[str]) -> int:
    """Write `lines` to `handle` as a JSON array, CSV or plain text; return how many."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    writers: dict[str, type[_JsonOut | _CsvOut | _TextOut]] = {
        "json": _JsonOut,
        "csv": _CsvOut,
        "txt": _TextOut,
    }
    writer = writers[fmt](handle)
    count = 0
    for entry in lines:
        writer.write(entry)
        count += 1
    writer.close()
    return count


class _JsonOut:
    def __init__(self, handle: IO[str]) -> None:
        self.handle, self.first = handle, True
        handle.write("[")

    def write(self, entry: Entry) -> None:
        self.handle.write(("\n" if self.first else ",\n") + json.dumps(entry.data))
        self.first = False

    def close(self) -> None:
        self.handle.write("\n]\n")


class _CsvOut:
    def __init__(self, handle: IO[str]) -> None:
        self.writer = csv.writer(handle)
        self.writer.writerow([*CSV_COLUMNS, "extra"])

    def write(self, entry: Entry) -> None:
        data = {"log_type": entry.log_type, **entry.data}
        extra = {k: v for k, v in data.items() if k not in CSV_COLUMNS}
        self.writer.writerow([_cell(data.get(c)) for c in CSV_COLUMNS] + [json.dumps(extra)])

    def close(self) -> None:
        return None


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


class _TextOut:
    def __init__(self, handle: IO[str]) -> None:
        self.handle = handle

    def write(self, entry: Entry) -> None:
        data = entry.data
        ids = " ".join(f"{k}={data[k]}" for k in ("request_id", "job_id") if data.get(k))
        self.handle.write(
            f"{data.get('timestamp')} {data.get('level', '-'):<8} [{entry.log_type}] "
            f"{data.get('logger', '-')}: {data.get('message', '')}{' ' + ids if ids else ''}\n"
        )

    def close(self) -> None:
        return None


# ------------------------------------------------------------------ health ---------------


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
