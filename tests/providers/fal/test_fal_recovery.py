"""One paid submit per item whatever happens: worker kills, duplicate tasks, 429s and 500s."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from tests.conftest import Stack, image_bytes
from tests.jobs.test_batch_e2e import upload
from tests.providers.fal.conftest import items, kill_once_stored, wait_until
from tests.providers.fal.test_fal_batch import run_job
from tests.support.fake_fal import FakeFal, Reply
from tests.support.sse import read_until_terminal
from tests.support.waiting import wait_tasks_idle


def assert_one_submit_each(fal: FakeFal, count: int) -> None:
    accepted = fal.accepted()
    assert len(accepted) == count, f"{len(accepted)} paid submits for {count} items"
    assert len({e.resource for e in accepted}) == count, "two paid submits of one image"


def waited_after_429s(fal: FakeFal) -> list[tuple[float, float]]:
    """(Retry-After, seconds until the same call came again) for every retried 429."""
    log = sorted(fal.entries(), key=lambda e: e.received)
    pairs = []
    for index, entry in enumerate(log):
        if entry.status != 429:
            continue
        retry = next((e for e in log[index + 1 :] if e.resource == entry.resource), None)
        if retry is not None:
            pairs.append((entry.retry_after or 0.0, retry.received - entry.answered))
    return pairs


def test_worker_killed_mid_poll_resumes_the_stored_request(
    fal_stack: Callable[..., Stack], fal: FakeFal
) -> None:
    fal.run_seconds = 5.0
    stack = fal_stack()
    stack.start_worker(concurrency=3)
    job = upload(stack, [(f"k{i}.png", image_bytes((40, 60 + 40 * i, 90))) for i in range(3)])
    job_id = job["job_id"]
    killed_at = kill_once_stored(stack, fal, job_id, 3)
    stored = {i["provider_state"]["request_id"] for i in items(stack, job_id)}
    assert stored == {e.request_id for e in fal.accepted()}

    stack.start_worker(concurrency=3)
    with stack.client() as client:
        events = read_until_terminal(client, f"/api/v1/status/tasks/{job_id}/stream")
    assert events[-1].event == "task_completed"
    assert_one_submit_each(fal, 3)
    resumed = {e.request_id for e in fal.entries("stream") if e.received > killed_at}
    assert stored <= resumed, "the new worker followed the stored requests"


def test_duplicate_deliveries_submit_once(fal_stack: Callable[..., Stack], fal: FakeFal) -> None:
    fal.run_seconds = 1.5
    stack = fal_stack()
    stack.start_worker(concurrency=4)
    job = upload(stack, [("d1.png", image_bytes()), ("d2.png", image_bytes((200, 200, 40)))])
    from image2model.worker import create_celery

    app = create_celery(stack.settings)
    for _ in range(3):
        app.send_task("tasks.process_batch", args=[job["job_id"]])
        for f in job["uploaded_files"]:
            app.send_task("tasks.generate_single_model", args=[job["job_id"], f["file_id"]])
    with stack.client() as client:
        events = read_until_terminal(client, f"/api/v1/status/tasks/{job['job_id']}/stream")
    assert events[-1].event == "task_completed"
    for f in job["uploaded_files"]:  # late copies after the end
        app.send_task("tasks.generate_single_model", args=[job["job_id"], f["file_id"]])
    wait_until(lambda: not stack.redis.llen("model_generation"), what="late copies consumed")
    app.close()
    assert_one_submit_each(fal, 2)
    assert len(fal.entries("result", 200)) == 2


def test_429_storm_waits_retry_after_and_submits_once(
    fal_stack: Callable[..., Stack], fal: FakeFal
) -> None:
    stack = fal_stack()
    stack.start_worker(concurrency=2)
    busy = Reply(429, {"detail": "rate limited"}, {"Retry-After": "1"})
    fal.script["submit"].extend([busy] * 4)
    fal.script["stream"].extend([busy] * 2)
    fal.script["result"].extend([Reply(503, {"detail": "unavailable"})] * 2)
    done = run_job(stack, [("s1.png", image_bytes()), ("s2.png", image_bytes((10, 200, 90)))])
    assert done["events"][-1].event == "task_completed"
    assert_one_submit_each(fal, 2)
    assert len(fal.entries("submit", 429)) == 4
    waits = waited_after_429s(fal)
    assert len(waits) == 6
    assert all(waited >= retry_after for retry_after, waited in waits), waits


def test_500s_are_retried_a_bounded_number_of_times(
    fal_stack: Callable[..., Stack], fal: FakeFal
) -> None:
    stack = fal_stack(FAL_MAX_RETRIES="2")
    stack.start_worker(concurrency=1)
    fal.script["submit"].extend([Reply(500, {"detail": "boom"})] * 10)
    done = run_job(stack, [("b.png", image_bytes())])
    assert done["events"][-1].event == "task_failed"
    error = done["status"]["files"][0]["error"]
    assert error["code"] == "PROVIDER_UNAVAILABLE" and "3 times" in error["message"]
    assert len(fal.entries("submit")) == 3 and fal.accepted() == []


def test_fault_mix_completes_every_item(fal_stack: Callable[..., Stack], fal: FakeFal) -> None:
    fal.rate_500, fal.rate_429, fal.retry_after = 0.3, 0.2, (1.0, 2.0)
    fal.run_seconds = 0.5
    stack = fal_stack(FAL_MAX_CONCURRENCY="8")
    stack.start_worker(concurrency=8)
    images = [(f"m{i}.png", image_bytes((10 * i, 120, 250 - 10 * i))) for i in range(20)]
    done = run_job(stack, images)
    assert done["events"][-1].event == "task_completed", Counter(
        (f.get("error") or {}).get("code") for f in done["status"]["files"]
    )
    assert done["events"][-1].data["summary"]["successful_files"] == 20
    assert_one_submit_each(fal, 20)
    assert fal.entries(status=500) and fal.entries(status=429)
    waits = waited_after_429s(fal)
    assert waits and all(waited >= retry_after for retry_after, waited in waits), waits
    assert fal.max_in_flight() <= 8


def test_cancel_mid_batch_cancels_fal_requests(
    fal_stack: Callable[..., Stack], fal: FakeFal
) -> None:
    fal.run_seconds = 30.0
    stack = fal_stack(FAL_MAX_CONCURRENCY="2")
    stack.start_worker(concurrency=3)
    job = upload(stack, [(f"c{i}.png", image_bytes((30 * i, 80, 160))) for i in range(4)])
    wait_until(lambda: len(fal.accepted()) == 2, what="two submits")
    with stack.client() as client:
        assert client.post(f"/api/v1/models/job/{job['job_id']}/cancel").status_code == 200
        events = read_until_terminal(client, f"/api/v1/status/tasks/{job['job_id']}/stream")
        assert events[-1].event == "task_cancelled"
        status = client.get(job["status_url"]).json()
    assert {f["status"] for f in status["files"]} == {"cancelled"}
    submitted = {e.request_id for e in fal.accepted()}
    wait_until(
        lambda: {e.request_id for e in fal.entries("cancel", 202)} == submitted,
        timeout=15,
        what="a cancel for every submitted request",
    )
    assert len(submitted) == 2, "queued items were never submitted"
    # slots freed by the cancels must not let a cancelled item pay: once every task has run
    # (the queued items' ones included), nothing is left that could submit
    wait_tasks_idle(stack.redis)
    assert {e.request_id for e in fal.accepted()} == submitted
