"""Reconnecting with Last-Event-ID: no gap, no duplicate; keep-alives while idle."""

from __future__ import annotations

from image2model import keys
from tests.conftest import Stack, image_bytes
from tests.jobs.test_batch_e2e import upload
from tests.support.sse import SseEvent, iter_events, read_until_terminal


def test_resume_with_last_event_id_has_no_gap_and_no_duplicate(stack: Stack) -> None:
    stack.start_worker(concurrency=2)
    job = upload(stack, [(f"s{i}.png", image_bytes()) for i in range(3)], delay="1.5", steps="10")
    url = f"/api/v1/status/tasks/{job['job_id']}/stream"
    first: list[SseEvent] = []
    with stack.client() as client:
        with client.stream("GET", url) as response:
            for event in iter_events(response):
                if isinstance(event, SseEvent):
                    first.append(event)
                    if len(first) == 12:
                        break
        assert first[0].event == "task_progress"
        rest = read_until_terminal(client, url, headers={"Last-Event-ID": first[-1].id})
    assert rest[0].event != "task_progress" or rest[0].id != first[0].id
    stored = [eid for eid, _ in stack.redis.xrange(keys.events_key(job["job_id"]))]
    replayed = [e.id for e in first[1:]] + [e.id for e in rest]
    assert replayed == stored[stored.index(first[1].id) :], (
        "every stored event exactly once, in order"
    )
    assert rest[-1].event == "task_completed"


def test_finished_job_stream_gives_snapshot_then_terminal(stack: Stack) -> None:
    stack.start_worker(concurrency=1)
    job = upload(stack, [("f.png", image_bytes())], delay="0")
    with stack.client() as client:
        read_until_terminal(client, f"/api/v1/status/tasks/{job['job_id']}/stream")
        again = read_until_terminal(client, f"/api/v1/status/tasks/{job['job_id']}/stream")
    assert [e.event for e in again] == ["task_progress", "task_completed"]
    assert again[0].data["status"] == "completed"


def test_keepalive_comments_while_waiting(stack: Stack) -> None:
    job = upload(stack, [("w.png", image_bytes())], delay="0")  # no worker: stays queued
    comments = 0
    url = f"/api/v1/status/tasks/{job['job_id']}/stream"
    with stack.client() as client, client.stream("GET", url) as response:
        for event in iter_events(response):
            if isinstance(event, str):
                comments += 1
                if comments == 2:
                    break
    assert comments == 2


def test_tampered_or_expired_stream_link_is_404(stack: Stack) -> None:
    job = upload(stack, [("t.png", image_bytes())], delay="0")
    with stack.client(key=None) as browser:
        tampered = job["stream_url"].replace("signature=", "signature=x")
        assert browser.get(tampered).status_code == 404
        other = job["stream_url"].replace(job["job_id"], "00000000-0000-4000-8000-000000000000")
        assert browser.get(other).status_code == 404
        expired = job["stream_url"].split("?")[0] + "?expires=1&signature=abc"
        assert browser.get(expired).status_code == 404
        assert browser.get(job["stream_url"].split("?")[0]).status_code == 401
