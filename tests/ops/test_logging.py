"""JSON log lines: one per request, request and job ids from the API into the worker, no secrets."""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path

from tests.conftest import ADMIN_KEY, OTHER_KEY, USER_KEY, Stack, image_bytes
from tests.support.ops import json_lines, log_dir, upload_job, wait_finished
from tests.support.waiting import wait_until

ACCESS = "image2model.access"


def test_one_upload_shares_its_request_id_and_job_id_across_api_and_worker(stack: Stack) -> None:
    stack.start_worker(concurrency=2)
    request_id = "trace-7f3a9c-upload"
    images = [("a.png", image_bytes()), ("b.png", image_bytes())]
    job, headers = upload_job(stack, images, headers={"X-Request-ID": request_id}, delay="0.1")
    assert headers["x-request-id"] == request_id
    job_id = job["job_id"]
    wait_finished(stack, job_id)

    api = json_lines(log_dir(stack) / "api.log")
    access = [line for line in api if line["logger"] == ACCESS and line["request_id"] == request_id]
    assert len(access) == 1
    entry = access[0]
    assert (entry["method"], entry["route"], entry["status"]) == ("POST", "/api/v1/upload/", 202)
    assert entry["duration_ms"] > 0 and entry["level"] == "INFO"
    queued = [line for line in api if line["message"].startswith("job.queued")]
    assert [(line["job_id"], line["request_id"]) for line in queued] == [(job_id, request_id)]

    worker = wait_for_line(log_dir(stack) / "worker.log", "job.finalized")
    about_job = [line for line in worker if job_id in json.dumps(line)]
    events = {line["message"].split(" ", 1)[0] for line in about_job}
    assert {"job.dispatched", "job.item.completed", "job.finalized"} <= events
    assert all(line["job_id"] == job_id and line["request_id"] == request_id for line in about_job)
    assert {line["log_type"] for line in worker} == {"worker"}


def wait_for_line(path: Path, prefix: str) -> list[dict]:
    """The file's lines once one starts with `prefix` (finalize runs after the job closes)."""
    deadline = time.monotonic() + 15
    while True:
        lines = json_lines(path)
        if any(line["message"].startswith(prefix) for line in lines):
            return lines
        assert time.monotonic() < deadline, f"no {prefix} line in {path.name}"
        time.sleep(0.1)


def access_lines(stack: Stack, ids: list[str]) -> list[dict]:
    """The API's access lines once those of `ids` are written: a line is written after its
    response's last byte, so the client can have the response first."""

    def lines() -> list[dict]:
        return [line for line in json_lines(log_dir(stack) / "api.log") if line["logger"] == ACCESS]

    wait_until(lambda: set(ids) <= {line["request_id"] for line in lines()}, 5, "access lines")
    return lines()


def test_request_ids_are_made_when_missing_or_unsafe(stack: Stack) -> None:
    with stack.client() as client:
        made = client.get("/api/v1/health/").headers["x-request-id"]
        unsafe = client.get("/api/v1/health/", headers={"X-Request-ID": "a b<script>"})
        too_long = client.get("/api/v1/health/", headers={"X-Request-ID": "x" * 500})
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    for response in (unsafe, too_long):
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])
    ids = [made, *(response.headers["x-request-id"] for response in (unsafe, too_long))]
    routes = access_lines(stack, ids)
    assert [line["request_id"] for line in routes][-3:][0] == made
    assert all(line["route"] == "/api/v1/health/" for line in routes[-3:])


def test_every_request_gets_exactly_one_access_line(stack: Stack) -> None:
    with stack.client() as client:
        ids = [
            client.get(path).headers["x-request-id"]
            for path in ("/api/v1/health/", "/api/v1/models/available", "/nowhere", "/metrics")
        ]
    lines = access_lines(stack, ids)
    by_id = {line["request_id"]: line for line in lines}
    assert len([line for line in lines if line["request_id"] in ids]) == 4
    assert [by_id[i]["status"] for i in ids] == [200, 200, 404, 200]
    assert [by_id[i]["route"] for i in ids] == [
        "/api/v1/health/",
        "/api/v1/models/available",
        "unmatched",
        "/metrics",
    ]


def test_keys_and_secrets_never_reach_a_log_file(stack: Stack) -> None:
    with stack.client(key=ADMIN_KEY) as admin, stack.client(key=OTHER_KEY) as other:
        admin.get("/api/v1/admin/disk-usage")
        other.get("/api/v1/models/available")
        other.get("/api/v1/admin/disk-usage", headers={"Authorization": f"Bearer {USER_KEY}x"})
    # the API's logging is this process's: even a careless line is masked
    logging.getLogger("image2model.test").warning(
        "careless line key=%s header=Bearer %s", USER_KEY, "not-a-configured-key-1234"
    )
    text = "".join(p.read_text() for p in log_dir(stack).glob("*.log*") if p.is_file())
    assert "careless line key=[REDACTED] header=Bearer [REDACTED]" in text
    for secret in (USER_KEY, OTHER_KEY, ADMIN_KEY, "not-a-configured-key-1234"):
        assert secret not in text


def test_a_recovered_item_keeps_its_job_and_request_id(stack: Stack) -> None:
    stack.start_worker(concurrency=1)
    request_id = "trace-recovery-42"
    job, _ = upload_job(
        stack,
        [("slow.png", image_bytes())],
        headers={"X-Request-ID": request_id},
        delay="30",
        steps="60",
    )
    job_id = job["job_id"]
    with stack.client() as client:
        deadline = time.monotonic() + 20
        while client.get(f"/api/v1/status/tasks/{job_id}/status").json()["status"] != "processing":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        stack.kill_workers()  # SIGKILL mid-item: its lease lapses, a new worker re-queues it
        stack.start_worker(concurrency=1)
        lines = wait_for_line(log_dir(stack) / "worker.log", "job.item.requeued")
        client.post(f"/api/v1/models/job/{job_id}/cancel")
    requeued = [line for line in lines if line["message"].startswith("job.item.requeued")]
    assert (requeued[0]["job_id"], requeued[0]["request_id"]) == (job_id, request_id)
