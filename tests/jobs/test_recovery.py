"""A worker killed mid-item, and duplicated deliveries: every item ends once."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter

from image2model import keys
from tests.conftest import Stack, image_bytes
from tests.jobs.test_batch_e2e import upload
from tests.support.providers import CALLS_KEY
from tests.support.sse import read_until_terminal
from tests.support.waiting import wait_tasks_idle, wait_until


def completed_transitions(stack: Stack, job_id: str) -> Counter[str]:
    entries = stack.redis.xrange(keys.events_key(job_id))
    counts: Counter[str] = Counter()
    for _, fields in entries:
        data = json.loads(fields["data"])
        if fields["event"] == "file_update" and data["status"] in ("completed", "failed"):
            counts[data["file_id"]] += 1
    return counts


def wait_for_processing(stack: Stack, job_id: str, count: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        items = [json.loads(v) for v in stack.redis.hvals(keys.items_key(job_id))]
        if sum(1 for i in items if i["status"] == "processing") >= count:
            return
        assert time.monotonic() < deadline, "items never started"
        time.sleep(0.05)


def mid_item(stack: Stack, job_id: str) -> int:
    """How many items are processing and have reported progress."""
    items = [json.loads(v) for v in stack.redis.hvals(keys.items_key(job_id))]
    return sum(1 for i in items if i["status"] == "processing" and i["progress"] > 0)


def test_sigkilled_worker_items_finish_exactly_once(stack: Stack) -> None:
    stack.start_worker(concurrency=2)
    job = upload(stack, [(f"k{i}.png", image_bytes()) for i in range(4)], delay="4", steps="8")
    job_id = job["job_id"]
    wait_for_processing(stack, job_id, 2)
    wait_until(lambda: mid_item(stack, job_id) >= 2, what="two items part-way through")
    stack.kill_workers(signal.SIGKILL)
    calls = stack.redis.lrange(CALLS_KEY, 0, -1)
    assert not [c for c in calls if c.startswith("done")], "killed before any item finished"

    stack.start_worker(concurrency=2)
    with stack.client() as client:
        events = read_until_terminal(client, f"/api/v1/status/tasks/{job_id}/stream")
        assert events[-1].event == "task_completed"
        assert events[-1].data["summary"]["successful_files"] == 4
        status = client.get(job["status_url"]).json()
    assert all(f["status"] == "completed" for f in status["files"])

    done = Counter(
        c.split(" ", 1)[1] for c in stack.redis.lrange(CALLS_KEY, 0, -1) if c.startswith("done")
    )
    assert len(done) == 4 and set(done.values()) == {1}, done
    assert set(completed_transitions(stack, job_id).values()) == {1}
    document = stack.redis.hgetall(keys.job_key(job_id))
    assert document["done"] == "4" and document["completed"] == "4"


def test_duplicate_deliveries_do_nothing_twice(stack: Stack) -> None:
    worker = stack.start_worker(concurrency=2)
    job = upload(stack, [("d1.png", image_bytes()), ("d2.png", image_bytes())], delay="1.5")
    job_id = job["job_id"]
    from image2model.worker import create_celery

    app = create_celery(stack.settings)
    for _ in range(3):  # the same messages again, while the first copies run and after
        app.send_task("tasks.process_batch", args=[job_id])
        for f in job["uploaded_files"]:
            app.send_task("tasks.generate_single_model", args=[job_id, f["file_id"]])
    with stack.client() as client:
        events = read_until_terminal(client, f"/api/v1/status/tasks/{job_id}/stream")
    assert events[-1].event == "task_completed"
    for f in job["uploaded_files"]:
        app.send_task("tasks.generate_single_model", args=[job_id, f["file_id"]])
    app.send_task("tasks.finalize_batch", args=[job_id])
    deadline = time.monotonic() + 10
    while any(stack.redis.llen(q) for q in ("model_generation", "batch_processing")):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    wait_tasks_idle(stack.redis, timeout=10)  # the late copies have run too
    assert worker.poll() is None
    done = Counter(c for c in stack.redis.lrange(CALLS_KEY, 0, -1) if c.startswith("done"))
    assert len(done) == 2 and set(done.values()) == {1}, done
    assert set(completed_transitions(stack, job_id).values()) == {1}
    terminal = [
        f
        for _, f in stack.redis.xrange(keys.events_key(job_id))
        if f["event"] in ("task_completed", "task_failed", "task_cancelled")
    ]
    assert len(terminal) == 1
    app.close()


def age_job(stack: Stack, job_id: str, seconds: float) -> None:
    """Make the job look `seconds` older, as if its messages had been waiting that long."""
    meta = json.loads(stack.redis.hget(keys.job_key(job_id), "meta"))
    meta["created_at"] -= seconds
    stack.redis.hset(keys.job_key(job_id), "meta", json.dumps(meta))


def test_a_queued_item_whose_message_was_lost_is_sent_again(stack: Stack) -> None:
    job = upload(stack, [("lost.png", image_bytes())], delay="0")
    job_id = job["job_id"]
    # The fan-out happened, then its messages were lost (a Redis that restarted without them).
    stack.redis.delete("batch_processing")
    stack.redis.hset(keys.job_key(job_id), "dispatched", "1")
    age_job(stack, job_id, 60)

    stack.start_worker(concurrency=1)
    with stack.client() as client:
        events = read_until_terminal(client, f"/api/v1/status/tasks/{job_id}/stream")
    assert events[-1].event == "task_completed"
    assert set(completed_transitions(stack, job_id).values()) == {1}


def test_a_closed_job_whose_finalize_was_lost_is_finalized(stack: Stack) -> None:
    stack.start_worker(concurrency=1)
    job = upload(stack, [("closed.png", image_bytes())], delay="0")
    job_id = job["job_id"]
    manifest = stack.settings.results_dir / job_id / "manifest.json"
    wait_until(manifest.exists, what="the first manifest")
    wait_until(lambda: not stack.redis.zscore(keys.UNFINALIZED_JOBS, job_id), what="finalized")
    # As if finalize_batch had never run (lost message, or a full disk when it did).
    manifest.unlink()
    stack.redis.zadd(keys.UNFINALIZED_JOBS, {job_id: time.time() - 60})

    wait_until(manifest.exists, timeout=30, what="finalize_batch to be sent again")
    wait_until(lambda: not stack.redis.zscore(keys.UNFINALIZED_JOBS, job_id), what="finalized")
    assert json.loads(manifest.read_text())["status"] == "completed"
