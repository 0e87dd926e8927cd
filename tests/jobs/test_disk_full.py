"""A full disk: uploads get 507, items fail STORAGE_FULL with no files left, and the service
recovers by itself once space is freed. DATA_DIR is a small tmpfs (needs mount rights)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from image2model.keys import UNFINALIZED_JOBS
from tests.conftest import Stack, image_bytes, start_stack, stop_stack
from tests.jobs.test_batch_e2e import upload
from tests.support import disks
from tests.support.disks import fill
from tests.support.ops import scrape, value
from tests.support.sse import read_until_terminal
from tests.support.waiting import wait_until


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with disks.small_disk(tmp_path) as mount:
        yield mount


@pytest.fixture
def full_disk_stack(small_disk: Path, tmp_path: Path) -> Iterator[Stack]:
    stack, server = start_stack(small_disk / "data")
    stack.output_dir = tmp_path  # a worker's terminal is not on the full disk
    try:
        yield stack
    finally:
        stop_stack(stack, server)


def test_a_full_disk_is_a_clear_failure_and_the_service_recovers(
    full_disk_stack: Stack, small_disk: Path
) -> None:
    stack = full_disk_stack
    accepted = upload(stack, [(f"d{i}.png", image_bytes()) for i in range(3)], delay="0")
    filler = fill(small_disk)
    with stack.client() as client:
        refused = client.post(
            "/api/v1/upload/", files=[("files", ("late.png", image_bytes(), "image/png"))]
        )
    assert refused.status_code == 507 and refused.json()["error_code"] == "STORAGE_FULL"
    with stack.client() as client:  # enough access lines to need a new page of the full disk
        for _ in range(40):
            assert client.get("/api/v1/health/").status_code == 200

    stack.start_worker(concurrency=1)
    job_id = accepted["job_id"]
    with stack.client() as client:
        events = read_until_terminal(client, f"/api/v1/status/tasks/{job_id}/stream")
        items = client.get(f"/api/v1/models/job/{job_id}").json()["items"]
        health = client.get("/api/v1/health/")
    assert events[-1].event == "task_failed"
    assert {i["error"]["code"] for i in items} == {"STORAGE_FULL"}
    assert all(str(small_disk) not in i["error"]["message"] for i in items)
    results = stack.settings.results_dir / job_id

    def leftovers() -> list[str]:
        return [p.name for p in results.rglob("*")] if results.exists() else []

    # the empty scratch folder goes when the job is finalized, just after its last event
    wait_until(lambda: not leftovers(), timeout=10, what="no files left of the failed job")
    assert health.status_code == 200

    filler.unlink()  # space comes back: new work succeeds, the old job gets its manifest
    again = upload(stack, [("after.png", image_bytes())], delay="0")
    with stack.client() as client:
        events = read_until_terminal(client, f"/api/v1/status/tasks/{again['job_id']}/stream")
    assert events[-1].event == "task_completed"
    wait_until(
        lambda: stack.redis.zscore(UNFINALIZED_JOBS, job_id) is None,
        timeout=60,
        what="the failed job's manifest once space is back",
    )
    assert (results / "manifest.json").exists()

    def dropped(process: str) -> float:
        return value(scrape(stack)[0], "log_lines_dropped_total", process=process) or 0

    # lines the full disk refused went uncounted nowhere: every process says how many
    wait_until(lambda: dropped("worker") > 0, what="the worker's dropped log lines")
    wait_until(lambda: dropped("api") > 0, what="the API's dropped log lines")
