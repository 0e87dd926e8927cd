"""The API process's access to jobs in Redis (async); the layout is in `image2model/keys.py` and
`jobs/format.py`, and nothing outside `image2model.jobs` touches job keys."""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from image2model.jobs import format as fmt
from image2model.jobs.format import JobSummary, Outcome
from image2model.jobs.lua import UPDATE_ITEM
from image2model.jobs.models import Job
from image2model.jobs.payloads import Event, task_progress
from image2model.jobs.transitions import Patch
from image2model.keys import (
    ACTIVE_JOBS,
    ALL_JOBS,
    FILE_INDEX_TTL,
    STORAGE_ID,
    UNFINALIZED_JOBS,
    WORKERS,
    events_key,
    file_key,
    items_key,
    job_key,
    job_of_events_key,
    owner_active_key,
    owner_jobs_key,
)

__all__ = ["Event", "JobStore", "JobSummary", "Outcome"]


class JobStore:
    """Async access for the API process."""

    def __init__(self, client: aioredis.Redis, *, ttl: int) -> None:
        self.redis = client
        self.ttl = ttl
        self._update = client.register_script(UPDATE_ITEM)

    async def ping(self) -> bool:
        return bool(await self.redis.ping())

    async def create(self, job: Job, *, max_active: int = 0) -> bool:
        """Record a new job; False (nothing written) when its owner has `max_active` running."""
        counter = owner_active_key(job.owner)
        if max_active and await self._reserve(counter, max_active) is False:
            return False
        opening = task_progress(job, message=f"Queued {job.total} files")
        async with self.redis.pipeline(transaction=True) as pipe:
            if not max_active:
                pipe.incr(counter)
            pipe.hset(job_key(job.job_id), mapping=fmt.job_mapping(job, counter))
            pipe.hset(
                items_key(job.job_id),
                mapping={i.file_id: i.model_dump_json() for i in job.items},
            )
            pipe.xadd(events_key(job.job_id), fmt.event_fields("task_progress", opening))
            pipe.sadd(ACTIVE_JOBS, job.job_id)
            pipe.zadd(owner_jobs_key(job.owner), {job.job_id: job.created_at})
            pipe.zadd(ALL_JOBS, {job.job_id: job.created_at})
            for item in job.items:
                pipe.set(file_key(item.file_id), job.job_id, ex=FILE_INDEX_TTL)
            await pipe.execute()
        return True

    async def _reserve(self, counter: str, limit: int) -> bool:
        taken = int(await self.redis.incr(counter))
        if taken > limit:
            await self.redis.decr(counter)
            return False
        return True

    async def active_jobs_of(self, owner: str) -> int:
        return int(await self.redis.get(owner_active_key(owner)) or 0)

    async def job_of_file(self, file_id: str) -> str | None:
        job_id: str | None = await self.redis.get(file_key(file_id))
        return job_id

    async def get(self, job_id: str) -> Job | None:
        return await fmt.run_async(self.redis, fmt.read_job(job_id))

    async def snapshot(self, job_id: str) -> tuple[Job, str, str | None] | None:
        """The job, the id of the last event it reflects, and its terminal event id (atomic)."""
        return await fmt.run_async(self.redis, fmt.read_snapshot(job_id))

    async def apply(self, job_id: str, file_id: str, patch: Patch) -> Outcome:
        """Apply one transition to an item (atomically, only forward; see `jobs/lua.py`)."""
        keys, args = fmt.transition_call(job_id, file_id, patch, ttl=self.ttl)
        return fmt.parse_outcome(await self._update(keys=keys, args=args))

    async def events_after(self, job_id: str, last_id: str, count: int = 500) -> list[Event]:
        entries = await self.redis.xrange(events_key(job_id), min=f"({last_id}", count=count)
        return fmt.parse_events(entries)

    async def first_event_id(self, job_id: str) -> str | None:
        entries = await self.redis.xrange(events_key(job_id), count=1)
        return str(entries[0][0]) if entries else None

    async def last_event_id(self, job_id: str) -> str | None:
        entries = await self.redis.xrevrange(events_key(job_id), count=1)
        return str(entries[0][0]) if entries else None

    async def event(self, job_id: str, event_id: str) -> Event | None:
        entries = await self.redis.xrange(events_key(job_id), min=event_id, max=event_id)
        events = fmt.parse_events(entries)
        return events[0] if events else None

    async def wait_events(
        self, job_ids: dict[str, str], block_ms: int
    ) -> list[tuple[str, list[Event]]]:
        """Block until any of the streams `{job_id: last_id}` has new entries."""
        streams = {events_key(job_id): last for job_id, last in job_ids.items()}
        reply = await self.redis.xread(streams, block=block_ms, count=500)
        return [
            (job_of_events_key(str(stream)), fmt.parse_events(entries))
            for stream, entries in (reply or [])
        ]

    async def publish_storage_identity(self, identity: str) -> None:
        """The identity of the storage the API writes uploads to (`Storage.identity`)."""
        await self.redis.set(STORAGE_ID, identity)

    async def mark_results_expired(self, job_id: str) -> None:
        """Say the job's files are gone; downloads answer 410 from now on."""
        await fmt.run_async(self.redis, fmt.write_results_expired(job_id, time.time()))

    async def delete(self, job_id: str, owner: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(job_key(job_id), items_key(job_id), events_key(job_id))
            pipe.srem(ACTIVE_JOBS, job_id)
            pipe.zrem(UNFINALIZED_JOBS, job_id)
            pipe.zrem(owner_jobs_key(owner), job_id)
            pipe.zrem(ALL_JOBS, job_id)
            await pipe.execute()

    async def live_workers(self, max_age: float) -> int:
        count: int = await self.redis.zcount(WORKERS, time.time() - max_age, "+inf")
        return count

    async def active_ids(self) -> set[str]:
        """Jobs not yet finished."""
        return await fmt.run_async(self.redis, fmt.read_active_ids())

    async def count_by_status(self) -> tuple[dict[str, int], dict[str, int]]:
        """Jobs and items by status over every job the store still holds."""
        return await fmt.run_async(self.redis, fmt.read_counts())

    async def summaries(
        self, *, owner: str | None, newest: float | str = "+inf", oldest: float | str = "-inf"
    ) -> list[JobSummary]:
        """Jobs (of `owner`, or everyone's) created between `oldest` and `newest`, newest
        first."""
        return await fmt.run_async(self.redis, fmt.read_summaries(owner, newest, oldest))

    async def any_leased(self, job_id: str, file_ids: list[str]) -> bool:
        """Whether a worker still holds any of the job's items."""
        return await fmt.run_async(self.redis, fmt.read_any_leased(job_id, file_ids))
