"""A job of seven queued items in the test Redis, and a worker's store to move them."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio as aioredis

from image2model import keys
from image2model.jobs.models import Item, Job, JobOptions, JobStatus
from image2model.jobs.store import JobStore
from image2model.jobs.worker_store import WorkerStore
from tests.conftest import redis_url

ITEMS = 7


@pytest.fixture
def job_id() -> Iterator[str]:
    job_id = str(uuid.uuid4())
    items = [
        Item(
            file_id=f"{job_id[:8]}-{i}",
            filename=f"photo{i}.png",
            stem=f"photo{i}",
            stored_name=f"{i}.png",
            file_size=100,
            content_type="image/png",
        )
        for i in range(ITEMS)
    ]
    now = time.time()
    job = Job(
        job_id=job_id,
        owner="user",
        status=JobStatus.QUEUED,
        options=JobOptions(provider="local"),
        created_at=now,
        updated_at=now,
        items=items,
    )
    asyncio.run(_create(job))
    yield job_id
    client = redis.Redis.from_url(redis_url())
    client.delete(keys.job_key(job_id), keys.items_key(job_id), keys.events_key(job_id))
    client.close()


async def _create(job: Job) -> None:
    client = aioredis.Redis.from_url(redis_url(), decode_responses=True)
    try:
        assert await JobStore(client, ttl=600).create(job)
    finally:
        await client.aclose()


@pytest.fixture
def store() -> Iterator[WorkerStore]:
    client = redis.Redis.from_url(redis_url(), decode_responses=True)
    yield WorkerStore(client, ttl=600, lease_seconds=10)
    client.close()
