"""One listener's stream of a job's events, read straight from `EventHub.stream` against the
test Redis: where it starts (a snapshot, or a resume), the order, and where it ends."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from image2model import keys
from image2model.jobs import transitions
from image2model.jobs.events import KEEPALIVE, TIMED_OUT, EventHub
from image2model.jobs.models import ModelStats
from image2model.jobs.payloads import EVENTS, Event
from image2model.jobs.store import JobStore
from image2model.jobs.worker_store import WorkerStore
from tests.conftest import redis_url
from tests.jobs.conftest import ITEMS


@pytest.fixture
async def hub() -> AsyncIterator[EventHub]:
    client = aioredis.Redis.from_url(redis_url(), decode_responses=True)
    hub = EventHub(JobStore(client, ttl=600), block_ms=100)
    yield hub
    await hub.close()
    await client.aclose()


async def read(hub: EventHub, job_id: str, last_event_id: str | None = None) -> list[Event]:
    return [e async for e in hub.stream(job_id, last_event_id, keepalive=5.0)]


def fail_all(store: WorkerStore, job_id: str) -> None:
    job = store.get(job_id)
    assert job is not None
    for item in job.items:
        store.apply(job_id, item.file_id, transitions.fail("BOOM", "it broke"))


def stored_ids(store: WorkerStore, job_id: str) -> list[str]:
    return [entry_id for entry_id, _ in store.redis.xrange(keys.events_key(job_id))]


async def test_a_new_listener_gets_the_job_then_each_change_until_the_end(
    hub: EventHub, store: WorkerStore, job_id: str
) -> None:
    events: list[Event] = []
    opened = asyncio.Event()

    async def listen() -> None:
        async for event in hub.stream(job_id, None, keepalive=5.0):
            events.append(event)
            opened.set()

    listener = asyncio.create_task(listen())
    await asyncio.wait_for(opened.wait(), 10)
    opening = events[0]
    assert opening.opening and opening.event == "task_progress"
    assert opening.id == stored_ids(store, job_id)[-1], "under the id of what it reflects"
    assert opening.data["total"] == ITEMS and opening.data["progress"] == 0

    await asyncio.to_thread(fail_all, store, job_id)
    await asyncio.wait_for(listener, 10)
    later = events[1:]
    assert not any(e.opening for e in later)
    assert [e.id for e in later] == stored_ids(store, job_id)[1:], "each stored event, once"
    assert later[-1].event == "task_failed"


async def test_a_resumed_listener_gets_what_came_after_its_id_and_no_snapshot(
    hub: EventHub, store: WorkerStore, job_id: str
) -> None:
    fail_all(store, job_id)
    ids = stored_ids(store, job_id)
    resumed = await read(hub, job_id, last_event_id=ids[3])
    assert [e.id for e in resumed] == ids[4:]
    assert resumed[-1].event == "task_failed"


@pytest.mark.parametrize("last_event_id", ["not-an-id", "1-0", "", None])
async def test_an_unusable_last_event_id_starts_from_a_snapshot_of_the_ended_job(
    hub: EventHub, store: WorkerStore, job_id: str, last_event_id: str | None
) -> None:
    """Malformed, or older than the first event kept: the job as it is, then its ending."""
    fail_all(store, job_id)
    opening, terminal = await read(hub, job_id, last_event_id)
    assert opening.opening and opening.data["status"] == "failed"
    assert terminal.event == "task_failed" and terminal.id == stored_ids(store, job_id)[-1]


async def test_a_silent_job_gets_keepalives_and_an_unknown_one_nothing(
    hub: EventHub, job_id: str
) -> None:
    stream = hub.stream(job_id, None, keepalive=0.05)
    assert (await anext(stream)).opening
    assert await anext(stream) is KEEPALIVE
    await stream.aclose()
    assert await read(hub, "no-such-job") == []


ENDINGS = {
    "task_completed": ["complete"] * ITEMS,
    "partial": ["complete", "fail", *["complete"] * (ITEMS - 2)],
    "task_failed": ["fail"] * ITEMS,
    "task_cancelled": ["complete", "cancel", *["fail"] * (ITEMS - 2)],
}


def end_item(ending: str) -> transitions.Patch:
    if ending == "complete":
        stats = ModelStats(vertices=8, faces=12, watertight=True)
        return transitions.complete(
            model_file="a.glb", preview_file="a.png", model_size=1, preview_size=1, stats=stats
        )
    return transitions.fail("BOOM", "it broke") if ending == "fail" else transitions.cancel()


@pytest.mark.parametrize("ending", list(ENDINGS))
def test_every_event_the_script_writes_is_its_model_field_by_field(
    store: WorkerStore, job_id: str, ending: str
) -> None:
    """What `jobs/lua.py` writes and what `jobs/payloads.py` declares agree exactly (the
    models forbid unknown fields and require every declared one), old clients' fields too."""
    started = time.time() * 1000
    job = store.get(job_id)
    assert job is not None
    for item, end in zip(job.items, ENDINGS[ending], strict=True):
        store.apply(job_id, item.file_id, transitions.start())
        store.apply(job_id, item.file_id, transitions.report(40, "working"))
        store.apply(job_id, item.file_id, end_item(end))
    written = [
        (f["event"], json.loads(f["data"])) for _, f in store.redis.xrange(keys.events_key(job_id))
    ]
    assert {name for name, _ in written} >= {"task_progress", "file_update"}
    for name, data in written:
        EVENTS[name].model_validate(data)
        assert data["task_id"] == data["job_id"] == job_id
        assert started - 1000 <= data["timestamp"] <= time.time() * 1000 + 1000
    name, last = written[-1]
    assert name == ending.replace("partial", "task_completed")
    if name == "task_completed":
        assert last["progress"] == 100 and last["message"]


async def test_a_stream_asked_to_end_ends_with_its_timeout(hub: EventHub, job_id: str) -> None:
    until = asyncio.get_running_loop().time() + 0.3
    events = [e async for e in hub.stream(job_id, None, keepalive=5.0, until=until)]
    assert events[0].opening and events[-1] is TIMED_OUT
    assert asyncio.get_running_loop().time() >= until
