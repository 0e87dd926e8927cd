"""/metrics after a real batch: HTTP, task (from a worker process), provider and job metrics."""

from __future__ import annotations

import threading
import time

from prometheus_client import CONTENT_TYPE_LATEST

from tests.conftest import RED, Stack, image_bytes
from tests.support.ops import label_values, scrape, upload_job, value, wait_finished
from tests.support.sse import SseEvent, iter_events

ITEM_TASK = "tasks.generate_single_model"


def scrape_when(stack: Stack, ready: object, timeout: float = 15) -> dict:
    """Scrape until `ready(samples)`: workers record a task just after it finishes."""
    deadline = time.monotonic() + timeout
    while True:
        samples, _ = scrape(stack)
        if ready(samples):  # type: ignore[operator]
            return samples
        assert time.monotonic() < deadline, "worker metrics never arrived"
        time.sleep(0.2)


def test_a_batch_shows_up_in_every_family_with_bounded_labels(stack: Stack) -> None:
    stack.start_worker(concurrency=2)
    images = [("ok.png", image_bytes()), ("bad.png", image_bytes(RED))]
    job, _ = upload_job(stack, images, delay="0.3", steps="2")
    job_id = job["job_id"]
    assert wait_finished(stack, job_id)["status"] == "partial"
    with stack.client() as client:
        for i in range(25):  # raw paths must never become label values
            assert client.get(f"/api/v1/no/such/{i}").status_code == 404
        for _ in range(3):
            client.get(f"/api/v1/status/tasks/{job_id}/status")

    def finalized(samples: dict) -> bool:
        return bool(
            value(samples, "tasks_total", task_name="tasks.finalize_batch", status="success")
        )

    samples = scrape_when(stack, finalized)

    # HTTP: route templates as `endpoint`, one series per (method, template, status)
    assert (
        value(
            samples, "http_requests_total", method="POST", endpoint="/api/v1/upload/", status="202"
        )
        == 1
    )
    polled = value(
        samples,
        "http_requests_total",
        method="GET",
        endpoint="/api/v1/status/tasks/{task_id}/status",
        status="200",
    )
    assert polled is not None and polled >= 4
    assert (
        value(samples, "http_requests_total", method="GET", endpoint="unmatched", status="404")
        == 25
    )
    endpoints = label_values(samples, "http_requests_total", "endpoint")
    assert all(e == "unmatched" or e.startswith("/") for e in endpoints)
    assert not [e for e in endpoints if job_id in e or "/no/such" in e]
    upload_count = value(
        samples, "http_request_duration_seconds_count", method="POST", endpoint="/api/v1/upload/"
    )
    upload_sum = value(
        samples, "http_request_duration_seconds_sum", method="POST", endpoint="/api/v1/upload/"
    )
    assert upload_count == 1 and upload_sum is not None and 0 < upload_sum < 30

    # tasks: recorded in the worker's pool processes, visible in the API's scrape
    assert value(samples, "tasks_total", task_name=ITEM_TASK, status="success") == 2
    assert value(samples, "tasks_total", task_name="tasks.process_batch", status="success") == 1
    count = value(samples, "task_duration_seconds_count", task_name=ITEM_TASK, status="success")
    total = value(samples, "task_duration_seconds_sum", task_name=ITEM_TASK, status="success")
    inf = value(
        samples, "task_duration_seconds_bucket", task_name=ITEM_TASK, status="success", le="+Inf"
    )
    fast = value(
        samples, "task_duration_seconds_bucket", task_name=ITEM_TASK, status="success", le="0.1"
    )
    assert count == inf == 2
    assert total is not None and 0.6 <= total < 60, "each item sleeps 0.3 s in the provider"
    assert fast == 0
    assert label_values(samples, "tasks_total", "task_name") <= {
        "tasks.process_batch",
        ITEM_TASK,
        "tasks.finalize_batch",
        "tasks.cleanup_old_files",
    }

    # provider calls by provider, model and outcome
    calls = {
        outcome: value(
            samples, "provider_requests_total", provider="sleepy", model="sleepy", outcome=outcome
        )
        for outcome in ("success", "error")
    }
    assert calls == {"success": 1, "error": 1}
    latency = value(
        samples,
        "provider_request_duration_seconds_sum",
        provider="sleepy",
        model="sleepy",
        outcome="success",
    )
    assert latency is not None and 0.3 <= latency < 30

    # jobs and items by status, queues, workers, system
    assert value(samples, "jobs_by_status", status="partial") == 1
    assert value(samples, "jobs_by_status", status="queued") == 0
    assert value(samples, "job_items_by_status", status="completed") == 1
    assert value(samples, "job_items_by_status", status="failed") == 1
    for queue in ("batch_processing", "model_generation", "maintenance"):
        assert value(samples, "queue_depth", queue=queue) == 0
    assert value(samples, "workers_alive") == 1
    assert value(samples, "sse_active_streams") == 0
    cpu, memory = value(samples, "system_cpu_percent"), value(samples, "system_memory_percent")
    assert cpu is not None and 0 <= cpu <= 100
    assert memory is not None and 0 < memory <= 100
    free = value(samples, "data_dir_disk_free_bytes")
    assert free is not None and free > 0


def test_both_metric_paths_serve_the_exposition_format(stack: Stack) -> None:
    for path in ("/metrics", "/api/v1/health/metrics"):
        samples, content_type = scrape(stack, path)
        assert content_type == CONTENT_TYPE_LATEST
        assert value(samples, "system_memory_percent") is not None


def test_queue_depth_and_open_streams_are_live(stack: Stack) -> None:
    """No worker: the job waits in its queue while a client watches its stream."""
    job, _ = upload_job(stack, [("a.png", image_bytes())], delay="0")
    samples, _ = scrape(stack)
    assert value(samples, "queue_depth", queue="batch_processing") == 1
    assert value(samples, "jobs_by_status", status="queued") == 1
    assert value(samples, "job_items_by_status", status="queued") == 1

    opened, release = threading.Event(), threading.Event()

    def watch() -> None:
        with (
            stack.client() as client,
            client.stream("GET", f"/api/v1/status/tasks/{job['job_id']}/stream") as response,
        ):
            for event in iter_events(response):
                if isinstance(event, SseEvent):
                    opened.set()
                    release.wait(10)
                    return

    watcher = threading.Thread(target=watch)
    watcher.start()
    assert opened.wait(10)
    try:
        assert value(scrape(stack)[0], "sse_active_streams") == 1
    finally:
        release.set()
        watcher.join(10)
    deadline = time.monotonic() + 5
    while value(scrape(stack)[0], "sse_active_streams") != 0:
        assert time.monotonic() < deadline, "a closed stream still counts as open"
        time.sleep(0.1)
