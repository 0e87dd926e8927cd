"""Waiting on fal costs no worker process: the I/O worker holds every request in flight."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

from tests.conftest import Stack, image_bytes
from tests.jobs.test_batch_e2e import upload
from tests.providers.fal.conftest import items, wait_until
from tests.providers.fal.test_fal_batch import run_job
from tests.providers.fal.test_fal_recovery import assert_one_submit_each
from tests.support.fake_fal import FakeFal
from tests.support.sse import read_until_terminal


def images(count: int, prefix: str) -> list[tuple[str, bytes]]:
    return [(f"{prefix}{i}.png", image_bytes((i * 9 % 255, 100, 200 - i))) for i in range(count)]


def test_one_cpu_slot_keeps_every_request_in_flight(
    fal_stack: Callable[..., Stack], fal: FakeFal
) -> None:
    fal.run_seconds = 3.0
    stack = fal_stack(FAL_MAX_CONCURRENCY="25")
    stack.start_worker(concurrency=1)
    stack.start_worker(io=True)
    done = run_job(stack, images(25, "w"))
    assert {f["status"] for f in done["status"]["files"]} == {"completed"}
    assert fal.max_in_flight() == 25, "all 25 at fal at once, with one CPU slot"
    assert_one_submit_each(fal, 25)


def test_a_killed_io_worker_resumes_every_request_once(
    fal_stack: Callable[..., Stack], fal: FakeFal
) -> None:
    fal.run_seconds = 4.0
    stack = fal_stack(FAL_MAX_CONCURRENCY="8")
    stack.start_worker(concurrency=1)
    io_worker = stack.start_worker(io=True)
    job_id = upload(stack, images(8, "k"))["job_id"]
    wait_until(lambda: len(fal.accepted()) == 8, what="eight submits")
    wait_until(
        lambda: all("request_id" in i["provider_state"] for i in items(stack, job_id)),
        what="request ids stored on the items",
    )
    os.killpg(io_worker.pid, signal.SIGKILL)  # every request in flight dies with it
    io_worker.wait()

    stack.start_worker(io=True)
    with stack.client() as client:
        events = read_until_terminal(client, f"/api/v1/status/tasks/{job_id}/stream")
    assert events[-1].event == "task_completed"
    assert_one_submit_each(fal, 8)


def test_cancel_mid_wave_reaches_fal_for_every_request(
    fal_stack: Callable[..., Stack], fal: FakeFal
) -> None:
    fal.run_seconds = 30.0
    stack = fal_stack(FAL_MAX_CONCURRENCY="8")
    stack.start_worker(concurrency=1)
    stack.start_worker(io=True)
    job = upload(stack, images(8, "c"))
    wait_until(lambda: len(fal.accepted()) == 8, what="eight submits")
    with stack.client() as client:
        assert client.post(f"/api/v1/models/job/{job['job_id']}/cancel").status_code == 200
        events = read_until_terminal(client, f"/api/v1/status/tasks/{job['job_id']}/stream")
    assert events[-1].event == "task_cancelled"
    submitted = {e.request_id for e in fal.accepted()}
    wait_until(
        lambda: {e.request_id for e in fal.entries("cancel", 202)} == submitted,
        timeout=15,
        what="a cancel for every request in flight",
    )
