"""Reading log lines back: parsing, time windows, analysis, daily summaries and exports.

Blocking (it reads files), so the API calls it in a thread. Which files belong to which
log type is `logfiles`' business; this module only reads what they hold.
"""

from __future__ import annotations

import csv
import heapq
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import IO, Any

from image2model.ops.logconfig import LOG_TYPES
from image2model.ops.logfiles import log_files

ACCESS_LOGGER = "image2model.access"
ERROR_LEVELS = frozenset({"ERROR", "CRITICAL"})
EXPORT_FORMATS = ("json", "csv", "txt")
CSV_COLUMNS = ("timestamp", "log_type", "level", "logger", "message", "request_id", "job_id")
TOP = 10


@dataclass(frozen=True)
class Entry:
    """One parsed JSON line."""

    at: datetime
    log_type: str
    data: dict[str, Any]


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


def daily_summary(log_dir: Path, day: date) -> dict[str, Any]:
    """That UTC calendar day, per log type and in total."""
    start = datetime.combine(day, clock.min, tzinfo=UTC)
    end = start + timedelta(days=1) if day < date.max else datetime.max.replace(tzinfo=UTC)
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
