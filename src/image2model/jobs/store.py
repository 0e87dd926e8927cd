"""Everything the service keeps in Redis: every key name and TTL lives in this module.

Layout (prefix `i2m:`):
  job:{id}             hash   status, owner, meta (JSON), order (JSON file ids), counters
  job:{id}:items       hash   file_id → item JSON
  job:{id}:events      stream progress events; entry ids are the SSE ids
  jobs:active          set    ids of jobs not yet terminal (recovery scans these)
  owner:{key_id}:jobs  zset   job ids by creation time (listings)
  owner:{key_id}:active counter of the key's unfinished jobs (per-key cap)
  lease:{id}:{file_id} string worker holding the item; expires unless renewed
  requeue:{id}:{file}  string marks a recent re-enqueue of a stalled item
  file:{file_id}       string the job an uploaded image belongs to (new jobs from old uploads)
  workers              zset   worker name → last heartbeat (readiness)
  ratelimit:…          (limits library) moving-window request counters per key or client IP
  fal:slots            zset   holders of fal request slots → expiry (ms); shared concurrency cap
  jobs:all             zset   every job id by creation time (admin listing, metrics); pruned
                              of ids whose job expired when read
  metrics:tasks        hash   task durations and counts recorded by workers (scraped by the API)
  metrics:providers    hash   provider calls and latency recorded by workers
  {queue}[\x06\x16{p}]  list   Celery's (kombu's) broker queues, named by queue and priority
The job's keys expire `JOB_TTL` after it ends; while active they carry no TTL.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from image2model.jobs.lua import UPDATE_ITEM
from image2model.jobs.models import Item, Job, JobOptions, JobStatus

PREFIX = "i2m"
ACTIVE_JOBS = f"{PREFIX}:jobs:active"
WORKERS = f"{PREFIX}:workers"
FAL_SLOTS = f"{PREFIX}:fal:slots"
FAL_SLOT_TTL_MS = 60_000
"""A fal slot holder that stops renewing (its worker died) frees the slot after this long."""
RATE_LIMIT_PREFIX = f"{PREFIX}:ratelimit"
ALL_JOBS = f"{PREFIX}:jobs:all"
TASK_METRICS = f"{PREFIX}:metrics:tasks"
PROVIDER_METRICS = f"{PREFIX}:metrics:providers"
BROKER_PRIORITY_STEPS = (3, 6, 9)
"""kombu's Redis transport keeps one list per queue and priority step (0 is the bare name)."""
EVENTS_MAXLEN = 5000
REQUEUE_GUARD_SECONDS = 300
FILE_INDEX_TTL = 7 * 24 * 3600


def job_key(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}"


def items_key(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}:items"


def events_key(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}:events"


def owner_jobs_key(owner: str) -> str:
    return f"{PREFIX}:owner:{owner}:jobs"


def file_key(file_id: str) -> str:
    return f"{PREFIX}:file:{file_id}"


def owner_active_key(owner: str) -> str:
    return f"{PREFIX}:owner:{owner}:active"


def lease_key(job_id: str, file_id: str) -> str:
    return f"{PREFIX}:lease:{job_id}:{file_id}"


def requeue_key(job_id: str, file_id: str) -> str:
    return f"{PREFIX}:requeue:{job_id}:{file_id}"


def broker_queue_keys(queue: str) -> list[str]:
    """The Redis lists holding a Celery queue's waiting messages."""
    return [queue, *(f"{queue}\x06\x16{step}" for step in BROKER_PRIORITY_STEPS)]


@dataclass(frozen=True)
class Event:
    """One progress event as stored in the job's stream."""

    id: str
    event: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Transition:
    """What an item update did: `applied` False when the item was already past it."""

    applied: bool
    job_status: str
    job_closed: bool


def _job_mapping(job: Job) -> dict[str, str]:
    meta = {
        "options": job.options.model_dump(mode="json"),
        "created_at": job.created_at,
        "request_id": job.request_id,
    }
    return {
        "status": job.status.value,
        "owner": job.owner,
        "meta": json.dumps(meta),
        "order": json.dumps([item.file_id for item in job.items]),
        "updated_at": str(job.updated_at),
        "done": "0",
    }


def parse_job(job_id: str, fields: dict[str, str], raw_items: list[str | None]) -> Job | None:
    if not fields or "meta" not in fields:
        return None
    meta = json.loads(fields["meta"])
    finished = fields.get("finished_at")
    return Job(
        job_id=job_id,
        owner=fields["owner"],
        status=JobStatus(fields["status"]),
        options=JobOptions.model_validate(meta["options"]),
        created_at=meta["created_at"],
        updated_at=float(fields.get("updated_at", meta["created_at"])),
        finished_at=float(finished) if finished else None,
        request_id=meta.get("request_id"),
        items=[Item.model_validate_json(raw) for raw in raw_items if raw is not None],
    )


def _parse_events(entries: list[tuple[str, dict[str, str]]]) -> list[Event]:
    return [Event(id=eid, event=f["event"], data=json.loads(f["data"])) for eid, f in entries]


def _initial_event(job: Job) -> dict[str, str]:
    files = [
        {"file_id": i.file_id, "filename": i.filename, "status": i.status.value, "progress": 0}
        for i in job.items
    ]
    data = {
        "job_id": job.job_id,
        "status": job.status.value,
        "progress": 0,
        "current": 0,
        "total": job.total,
        "total_files": job.total,
        "message": f"Queued {job.total} files",
        "files": files,
    }
    return {"event": "task_progress", "data": json.dumps(data)}


def parse_transition(result: list[Any]) -> Transition:
    code = int(result[0])
    if code < 0:
        raise KeyError("item not found")
    return Transition(applied=code > 0, job_status=str(result[1]), job_closed=code == 2)


class JobStore:
    """Async access for the API process."""

    def __init__(self, client: aioredis.Redis, *, ttl: int) -> None:
        self.redis = client
        self.ttl = ttl
        self._update = client.register_script(UPDATE_ITEM)

    async def create(self, job: Job, *, max_active: int = 0) -> bool:
        """Record a new job; False (nothing written) when its owner has `max_active` running."""
        counter = owner_active_key(job.owner)
        if max_active and await self._reserve(counter, max_active) is False:
            return False
        mapping = {**_job_mapping(job), "active_counter": counter}
        async with self.redis.pipeline(transaction=True) as pipe:
            if not max_active:
                pipe.incr(counter)
            pipe.hset(job_key(job.job_id), mapping=mapping)
            pipe.hset(
                items_key(job.job_id),
                mapping={i.file_id: i.model_dump_json() for i in job.items},
            )
            pipe.xadd(events_key(job.job_id), _initial_event(job))
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
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(job_key(job_id))
            pipe.hget(job_key(job_id), "order")
            fields, order = await pipe.execute()
        if not order:
            return None
        raw_items = await self.redis.hmget(items_key(job_id), json.loads(order))
        return parse_job(job_id, fields, raw_items)

    async def snapshot(self, job_id: str) -> tuple[Job, str, str | None] | None:
        """The job, the id of the last event it reflects, and its terminal event id (atomic)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(job_key(job_id))
            pipe.hgetall(items_key(job_id))
            pipe.xrevrange(events_key(job_id), count=1)
            fields, items, last = await pipe.execute()
        if not fields or not last:
            return None
        order = json.loads(fields["order"])
        job = parse_job(job_id, fields, [items.get(file_id) for file_id in order])
        if job is None:
            return None
        return job, str(last[0][0]), fields.get("terminal_event_id")

    async def update_item(
        self, job_id: str, file_id: str, patch: dict[str, Any], *, mode: str = "update"
    ) -> Transition:
        result = await self._update(
            keys=[job_key(job_id), items_key(job_id), events_key(job_id), ACTIVE_JOBS],
            args=[file_id, json.dumps(patch), time.time(), EVENTS_MAXLEN, self.ttl, job_id, mode],
        )
        return parse_transition(result)

    async def events_after(self, job_id: str, last_id: str, count: int = 500) -> list[Event]:
        entries = await self.redis.xrange(events_key(job_id), min=f"({last_id}", count=count)
        return _parse_events(entries)

    async def first_event_id(self, job_id: str) -> str | None:
        entries = await self.redis.xrange(events_key(job_id), count=1)
        return str(entries[0][0]) if entries else None

    async def event(self, job_id: str, event_id: str) -> Event | None:
        entries = await self.redis.xrange(events_key(job_id), min=event_id, max=event_id)
        events = _parse_events(entries)
        return events[0] if events else None

    async def wait_events(
        self, job_ids: dict[str, str], block_ms: int
    ) -> list[tuple[str, list[Event]]]:
        """Block until any of the streams `{job_id: last_id}` has new entries."""
        streams = {events_key(job_id): last for job_id, last in job_ids.items()}
        reply = await self.redis.xread(streams, block=block_ms, count=500)
        prefix_len, suffix_len = len(job_key("")), len(":events")
        return [
            (str(stream)[prefix_len:-suffix_len], _parse_events(entries))
            for stream, entries in (reply or [])
        ]

    async def delete(self, job_id: str, owner: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(job_key(job_id), items_key(job_id), events_key(job_id))
            pipe.srem(ACTIVE_JOBS, job_id)
            pipe.zrem(owner_jobs_key(owner), job_id)
            pipe.zrem(ALL_JOBS, job_id)
            await pipe.execute()

    async def live_workers(self, max_age: float) -> int:
        count: int = await self.redis.zcount(WORKERS, time.time() - max_age, "+inf")
        return count
