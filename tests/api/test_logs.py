"""/logs on real files: rotation, retention, analysis, daily summaries, exports, health, auth."""

from __future__ import annotations

import csv
import io
import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_KEY, USER_KEY, Stack
from tests.support.waiting import wait_until

DAY = 86400
LOG_ROUTES = [
    ("GET", "/api/v1/logs/statistics", {}),
    ("POST", "/api/v1/logs/rotate", {}),
    ("POST", "/api/v1/logs/cleanup", {"older_than_days": 30}),
    ("GET", "/api/v1/logs/analyze", {"log_type": "api", "hours_back": 1}),
    ("GET", "/api/v1/logs/summary/daily", {"date": "2021-03-02"}),
    ("GET", "/api/v1/logs/types", {}),
    ("GET", "/api/v1/logs/export", {"start_date": "2021-03-01", "end_date": "2021-03-02"}),
    ("GET", "/api/v1/logs/health", {}),
]


def entry(at: datetime, level: str = "INFO", message: str = "event", **extra: Any) -> dict:
    return {
        "level": level,
        "logger": extra.pop("logger", "image2model.jobs.tasks"),
        "message": message,
        "request_id": None,
        "job_id": None,
        "timestamp": at.isoformat(),
        **extra,
    }


def access(at: datetime, method: str, route: str, status: int, ms: float) -> dict:
    return entry(
        at,
        "ERROR" if status >= 500 else "INFO",
        f"http.request {method} {route} {status}",
        logger="image2model.access",
        method=method,
        route=route,
        status=status,
        duration_ms=ms,
    )


def write(path: Path, entries: list[dict], age_days: float | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(e) + "\n" for e in entries))
    if age_days is not None:
        when = time.time() - age_days * DAY
        os.utime(path, (when, when))
    return path


def admin(stack: Stack) -> httpx.Client:
    return stack.client(key=ADMIN_KEY)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(("method", "path", "params"), LOG_ROUTES)
def test_logs_routes_need_the_admin_key(stack: Stack, method: str, path: str, params: dict) -> None:
    with stack.client(key=None) as anonymous, stack.client(key=USER_KEY) as user:
        missing = anonymous.request(method, path, params=params)
        forbidden = user.request(method, path, params=params)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert forbidden.status_code == 403 and forbidden.json()["error"] is True


def test_rotate_moves_the_file_aside_and_writers_continue_in_a_new_one(stack: Stack) -> None:
    logs = stack.settings.log_dir
    with admin(stack) as client:
        before = client.get("/api/v1/health/").headers["x-request-id"]
        rotated = client.post("/api/v1/logs/rotate", params={"log_type": "api"}).json()
        after = client.get("/api/v1/health/").headers["x-request-id"]
        missing = client.post("/api/v1/logs/rotate", params={"log_type": "worker"}).json()
        client.post("/api/v1/logs/rotate", params={"log_type": "api"})
    assert rotated["rotated"][0]["rotated_file"] == "api.log.1"
    assert missing["rotated"] == [] and missing["results"][0]["rotated"] is False
    first, second, current = (logs / n for n in ("api.log.2", "api.log.1", "api.log"))
    assert before in first.read_text() and after not in first.read_text()
    assert after in second.read_text() and before not in second.read_text()
    # the last request's own access line opens the new file once its answer has gone out
    wait_until(current.exists, 10, "a new api.log")
    for path in (first, second):
        assert all(json.loads(line) for line in path.read_text().splitlines())


def test_cleanup_deletes_only_rotated_files_older_than_asked(stack: Stack) -> None:
    logs = stack.settings.log_dir
    now = datetime.now(UTC)
    write(logs / "worker.log", [entry(now)], age_days=40)  # active: never deleted
    write(logs / "worker.log.1", [entry(now)], age_days=10)
    write(logs / "worker.log.2", [entry(now)], age_days=40)
    write(logs / "beat.log.1", [entry(now)], age_days=31)
    write(logs / "notes.log.txt", [entry(now)], age_days=400)  # not a log of ours
    with admin(stack) as client:
        month = client.post("/api/v1/logs/cleanup", params={"older_than_days": 30}).json()
        assert sorted(month["deleted"]) == ["beat.log.1", "worker.log.2"]
        assert month["freed_bytes"] > 0
        assert {p.name for p in logs.iterdir()} >= {"worker.log", "worker.log.1", "notes.log.txt"}
        week = client.post("/api/v1/logs/cleanup", params={"older_than_days": 5}).json()
    assert week["deleted"] == ["worker.log.1"]
    assert (logs / "worker.log").exists() and (logs / "notes.log.txt").exists()


def _export_fixture(logs: Path) -> list[dict]:
    older = [
        entry(at("2021-03-01T23:59:59.999"), message="before"),
        entry(at("2021-03-02T00:00:00"), message="w-first"),
        entry(at("2021-03-02T12:30:00"), "ERROR", "w-noon", job_id="j1"),
    ]
    newer = [
        entry(at("2021-03-03T23:59:59.5"), message="w-last"),
        entry(at("2021-03-04T00:00:00"), message="after"),
    ]
    beat = [
        entry(at("2021-03-02T06:00:00"), message="b-morning", logger="celery.beat"),
        entry(at("2021-03-05T06:00:00"), message="b-later", logger="celery.beat"),
    ]
    write(logs / "worker.log.1", older)
    write(logs / "worker.log", newer)
    write(logs / "beat.log", beat)
    return [older[1], beat[0], older[2], newer[0]]


def test_export_contains_exactly_the_lines_in_range(stack: Stack) -> None:
    expected = _export_fixture(stack.settings.log_dir)
    window = {"start_date": "2021-03-02", "end_date": "2021-03-03", "log_types": "worker,beat"}
    with admin(stack) as client:
        as_json = client.get("/api/v1/logs/export", params={**window, "format": "json"})
        as_csv = client.get("/api/v1/logs/export", params={**window, "format": "csv"})
        as_txt = client.get("/api/v1/logs/export", params={**window, "format": "txt"})
        narrow = client.get(
            "/api/v1/logs/export",
            params={
                "start_date": "2021-03-02T12:00:00",
                "end_date": "2021-03-02T13:00:00+00:00",
                "log_types": "all",
            },
        )
        inverted = client.get(
            "/api/v1/logs/export", params={"start_date": "2021-03-03", "end_date": "2021-03-02"}
        )
        far = client.get(
            "/api/v1/logs/export",
            params={
                "start_date": "0001-01-01",
                "end_date": "9999-12-31",
                "log_types": "worker,beat",
            },
        )
    assert as_json.status_code == 200
    assert as_json.headers["content-disposition"].startswith("attachment;")
    assert as_json.headers["content-type"].startswith("application/json")
    assert as_json.json() == expected
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [r["message"] for r in rows] == [e["message"] for e in expected]
    assert [r["log_type"] for r in rows] == ["worker", "beat", "worker", "worker"]
    assert rows[2]["job_id"] == "j1" and rows[2]["level"] == "ERROR"
    lines = as_txt.text.splitlines()
    assert len(lines) == 4 and "[beat]" in lines[1] and "job_id=j1" in lines[2]
    assert [e["message"] for e in narrow.json()] == ["w-noon"]
    assert inverted.json() == [] and inverted.headers["x-export-lines"] == "0"
    assert far.status_code == 200 and len(far.json()) == 7, "every line, no overflow at the ends"
    exports = stack.settings.log_dir / ".exports"
    deadline = time.monotonic() + 5
    while any(exports.iterdir()):
        assert time.monotonic() < deadline, "exports are deleted once sent"
        time.sleep(0.05)


def test_analyze_reads_levels_errors_routes_and_error_rate(stack: Stack) -> None:
    now = datetime.now(UTC)
    recent = now - timedelta(minutes=30)
    lines = [
        access(recent, "POST", "/api/v1/upload/", 202, 100),
        access(recent, "POST", "/api/v1/upload/", 202, 200),
        access(recent, "POST", "/api/v1/upload/", 500, 300),
        access(recent, "POST", "/api/v1/upload/", 202, 4000),
        access(recent, "GET", "/api/v1/health/", 200, 1),
        access(recent, "GET", "/api/v1/health/", 200, 2),
        *[entry(recent, "ERROR", "provider.failed code=TIMEOUT") for _ in range(3)],
        entry(recent, "CRITICAL", "disk full"),
        entry(recent, "WARNING", "slow"),
        *[entry(now - timedelta(hours=30), "ERROR", "old failure") for _ in range(2)],
    ]
    write(stack.settings.log_dir / "worker.log", lines)
    with admin(stack) as client:
        day = client.get("/api/v1/logs/analyze", params={"log_type": "worker"}).json()
        two = client.get(
            "/api/v1/logs/analyze", params={"log_type": "worker", "hours_back": 48}
        ).json()
    assert day["total_lines"] == 11
    assert day["levels"] == {"INFO": 5, "ERROR": 4, "CRITICAL": 1, "WARNING": 1}
    assert day["top_errors"][0]["message"] == "provider.failed code=TIMEOUT"
    assert day["top_errors"][0]["count"] == 3
    assert day["requests"] == {"total": 6, "client_errors": 0, "server_errors": 1}
    assert day["error_rate"] == round(1 / 6, 4)
    slowest = day["slowest_routes"][0]
    assert (slowest["route"], slowest["count"], slowest["max_ms"]) == (
        "POST /api/v1/upload/",
        4,
        4000,
    )
    assert two["total_lines"] == 13
    assert {e["message"] for e in two["top_errors"]} >= {"old failure"}


def test_daily_summary_is_that_calendar_day(stack: Stack) -> None:
    lines = [
        entry(at("2021-03-01T23:59:59.9")),
        entry(at("2021-03-02T00:00:00")),
        entry(at("2021-03-02T11:00:00"), "ERROR", "failed once"),
        entry(at("2021-03-02T23:59:59")),
        *[entry(at("2021-03-03T08:00:00")) for _ in range(5)],
    ]
    write(stack.settings.log_dir / "worker.log", lines)
    with admin(stack) as client:
        summary = client.get("/api/v1/logs/summary/daily", params={"date": "2021-03-02"}).json()
        today = client.get("/api/v1/logs/summary/daily").json()
    assert summary["date"] == "2021-03-02" and summary["total_lines"] == 3
    assert summary["log_types"]["worker"]["levels"] == {"INFO": 2, "ERROR": 1}
    assert summary["log_types"]["worker"]["top_errors"][0]["message"] == "failed once"
    assert summary["log_types"]["api"]["total_lines"] == 0
    assert today["date"] == datetime.now(UTC).date().isoformat()
    assert today["log_types"]["api"]["total_lines"] > 0, "this test's own requests"


def test_statistics_and_types_describe_the_files(stack: Stack) -> None:
    logs = stack.settings.log_dir
    write(logs / "worker.log", [entry(datetime.now(UTC))])
    write(logs / "worker.log.1", [entry(datetime.now(UTC))] * 3, age_days=2)
    sizes = {n: (logs / n).stat().st_size for n in ("worker.log", "worker.log.1")}
    with admin(stack) as client:
        stats = client.get("/api/v1/logs/statistics").json()
        types = client.get("/api/v1/logs/types").json()
    worker = stats["types"]["worker"]
    assert worker["file_count"] == 2 and worker["total_size_bytes"] == sum(sizes.values())
    files = {f["name"]: f for f in worker["files"]}
    assert {n: f["size_bytes"] for n, f in files.items()} == sizes
    assert 47.9 < files["worker.log.1"]["age_hours"] < 48.1
    assert files["worker.log.1"]["rotated"] is True and files["worker.log"]["rotated"] is False
    assert stats["types"]["beat"]["file_count"] == 0
    assert stats["types"]["api"]["file_count"] == 1
    assert [(t["name"], t["exists"]) for t in types["types"]] == [
        ("api", True),
        ("worker", True),
        ("beat", False),
    ]
    assert types["max_bytes"] == 50 * 1024 * 1024 and types["backup_count"] == 5


def test_health_finds_oversized_and_stale_files_and_says_what_to_do(make_stack) -> None:
    stack = make_stack(LOG_MAX_BYTES="4096", LOG_RETENTION_DAYS="7")
    logs = stack.settings.log_dir
    write(logs / "beat.log", [entry(datetime.now(UTC), message="x" * 200)] * 40)
    write(logs / "worker.log.1", [entry(datetime.now(UTC))], age_days=10)
    with admin(stack) as client:
        report = client.get("/api/v1/logs/health").json()
        client.post("/api/v1/logs/rotate", params={"log_type": "beat"})
        client.post("/api/v1/logs/cleanup")
        after = client.get("/api/v1/logs/health").json()
    assert report["status"] in ("warning", "critical")
    assert [f["name"] for f in report["oversized_files"]] == ["beat.log"]
    assert [f["name"] for f in report["stale_files"]] == ["worker.log.1"]
    advice = " ".join(report["recommendations"])
    assert "logs/rotate" in advice and "logs/cleanup" in advice
    assert report["disk"]["total_bytes"] >= report["disk"]["free_bytes"] > 0
    assert after["oversized_files"] == [] and after["stale_files"] == []


@pytest.mark.parametrize(
    ("method", "path", "params"),
    [
        ("GET", "/api/v1/logs/analyze", {"log_type": "../../etc/passwd"}),
        ("POST", "/api/v1/logs/rotate", {"log_type": "/etc/passwd"}),
        (
            "GET",
            "/api/v1/logs/export",
            {"start_date": "2021-03-01", "end_date": "2021-03-02", "log_types": "api,../secret"},
        ),
        (
            "GET",
            "/api/v1/logs/export",
            {"start_date": "2021-03-01", "end_date": "2021-03-02", "format": "../../x"},
        ),
        ("GET", "/api/v1/logs/export", {"start_date": "../../etc", "end_date": "2021-03-02"}),
        ("GET", "/api/v1/logs/summary/daily", {"date": "../../etc/passwd"}),
        ("GET", "/api/v1/logs/summary/daily", {"date": "2021-13-45"}),
        ("GET", "/api/v1/logs/summary/daily", {"date": "0"}),
        ("GET", "/api/v1/logs/export", {"start_date": "0", "end_date": "2021-03-02"}),
        ("POST", "/api/v1/logs/cleanup", {"older_than_days": "../1"}),
        ("POST", "/api/v1/logs/cleanup", {"older_than_days": "-1"}),
    ],
)
def test_every_parameter_refuses_paths_and_nonsense(
    stack: Stack, method: str, path: str, params: dict
) -> None:
    outside = stack.settings.data_dir / "secret.log"
    outside.write_text("untouched")
    os.utime(outside, (0, 0))
    with admin(stack) as client:
        response = client.request(method, path, params=params)
    assert response.status_code == 422, response.text
    assert response.json()["error_code"] == "VALIDATION_ERROR"
    assert outside.read_text() == "untouched"
