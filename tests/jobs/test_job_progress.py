"""The job's progress as the transition script keeps it: a running sum of the items' shares,
and a `task_progress` event only when what it says changes."""

from __future__ import annotations

import itertools
import json
import random

from image2model import keys
from image2model.jobs import transitions
from image2model.jobs.models import ItemStatus, Job, overall_progress
from image2model.jobs.worker_store import WorkerStore
from tests.jobs.conftest import ITEMS


def shares(job: Job) -> list[int]:
    return [100 if i.status.is_terminal else i.progress for i in job.items]


def task_progress(store: WorkerStore, job_id: str) -> list[dict[str, object]]:
    entries = store.redis.xrange(keys.events_key(job_id))
    return [json.loads(f["data"]) for _, f in entries if f["event"] == "task_progress"]


def test_the_running_sum_matches_the_items_after_every_change(
    store: WorkerStore, job_id: str
) -> None:
    rng = random.Random(7)
    job = store.get(job_id)
    assert job is not None
    file_ids = [item.file_id for item in job.items]
    applied = 0
    while not job.status.is_terminal:
        item = job.item(rng.choice(file_ids))
        assert item is not None
        if item.status is ItemStatus.QUEUED:
            patch = transitions.start()
        elif rng.random() < 0.15:
            patch = rng.choice([transitions.fail("BOOM", "failed"), transitions.cancel()])
        else:
            patch = transitions.report(item.progress + rng.randint(0, 9), "working")
        applied += store.apply(job_id, item.file_id, patch).applied
        job = store.get(job_id)
        assert job is not None
        total = int(store.redis.hget(keys.job_key(job_id), "progress_sum") or -1)
        assert total == sum(shares(job))

    events = task_progress(store, job_id)
    said = [(e["progress"], e["current"], e["status"]) for e in events]
    assert all(a != b for a, b in itertools.pairwise(said)), "a repeat was sent"
    assert len(events) < applied  # most reports moved no rounded point
    assert said[-1] == (100, ITEMS, job.status.value)
    for event in events:  # each one as the items were when it was sent
        files = event["files"]
        assert isinstance(files, list)
        counted = [
            100 if f["status"] in ("completed", "failed", "cancelled") else f["progress"]
            for f in files
        ]
        assert event["progress"] == overall_progress(counted)


def test_a_job_without_the_sum_counts_its_items_once(store: WorkerStore, job_id: str) -> None:
    job = store.get(job_id)
    assert job is not None
    first, second = job.items[0].file_id, job.items[1].file_id
    store.apply(job_id, first, transitions.start())
    store.apply(job_id, first, transitions.report(40, "working"))
    # as a job written before the sum was kept
    store.redis.hdel(keys.job_key(job_id), "progress_sum", "progress_shown")
    store.apply(job_id, second, transitions.start())
    store.apply(job_id, second, transitions.report(30, "working"))
    assert store.redis.hget(keys.job_key(job_id), "progress_sum") == "70"
    assert task_progress(store, job_id)[-1]["progress"] == overall_progress([40, 30, 0, 0, 0, 0, 0])
