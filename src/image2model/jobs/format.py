"""How a job is kept in Redis: what is written, and every read, defined once.

A read is a generator that yields the commands of one pipeline (`Batch`) and receives their
replies, so the async store of the API and the blocking store of the workers run the same
definition (`run_async`, `run_sync`) and only one module knows the layout (`image2model/keys.py`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, TypeVar

import redis
import redis.asyncio as aioredis

from image2model.jobs.models import Item, ItemStatus, Job, JobCost, JobOptions, JobStatus
from image2model.jobs.payloads import Event
from image2model.jobs.transitions import Patch
from image2model.keys import (
    ACTIVE_JOBS,
    ALL_JOBS,
    EVENTS_MAXLEN,
    UNFINALIZED_JOBS,
    events_key,
    items_key,
    job_key,
    lease_key,
    owner_jobs_key,
)

T = TypeVar("T")


@dataclass(frozen=True)
class Batch:
    """Commands for one round trip: `(method, *args)` of redis-py's pipeline."""

    commands: tuple[tuple[Any, ...], ...]
    atomic: bool = False


Read = Generator[Batch, list[Any], T]


def run_sync(client: redis.Redis, read: Read[T]) -> T:
    replies: Any = None
    try:
        while True:
            batch = read.send(replies)
            if not batch.commands:
                replies = []
                continue
            pipe = client.pipeline(transaction=batch.atomic)
            for name, *args in batch.commands:
                getattr(pipe, name)(*args)
            replies = pipe.execute()
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def run_async(client: aioredis.Redis, read: Read[T]) -> T:
    replies: Any = None
    try:
        while True:
            batch = read.send(replies)
            if not batch.commands:
                replies = []
                continue
            async with client.pipeline(transaction=batch.atomic) as pipe:
                for name, *args in batch.commands:
                    getattr(pipe, name)(*args)
                replies = await pipe.execute()
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Outcome:
    """What a transition did: `applied` False when the item was already past it."""

    applied: bool
    job_status: str
    job_closed: bool


@dataclass(frozen=True)
class JobSummary:
    """One row of the admin listing: the job without its items."""

    job_id: str
    owner: str
    status: JobStatus
    provider: str | None
    request_id: str | None
    created_at: float | None
    finished_at: float | None
    total_files: int
    finished_files: int
    completed_files: int
    failed_files: int


# -- writes -------------------------------------------------------------------------------


def job_mapping(job: Job, active_counter: str) -> dict[str, str]:
    meta = {
        "options": job.options.model_dump(mode="json"),
        "created_at": job.created_at,
        "request_id": job.request_id,
    }
    if job.cost is not None:
        meta["cost"] = job.cost.model_dump(mode="json")
    return {
        "status": job.status.value,
        "owner": job.owner,
        "meta": json.dumps(meta),
        "order": json.dumps([item.file_id for item in job.items]),
        "updated_at": str(job.updated_at),
        "done": "0",
        "active_counter": active_counter,
    }


def transition_call(
    job_id: str, file_id: str, patch: Patch, *, ttl: int
) -> tuple[list[str], list[Any]]:
    """KEYS and ARGV of `jobs/lua.py`'s UPDATE_ITEM for `patch`."""
    mode = "start" if patch.starts_attempt else "update"
    keys = [job_key(job_id), items_key(job_id), events_key(job_id), ACTIVE_JOBS, UNFINALIZED_JOBS]
    args = [file_id, patch.to_json(), time.time(), EVENTS_MAXLEN, ttl, job_id, mode]
    return keys, args


_MARK_EXPIRED = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('HSETNX', KEYS[1], 'results_expired_at', ARGV[1])
end
return 0
"""


def write_results_expired(job_id: str, at: float) -> Read[None]:
    """Record that the job's files are gone (a job that already expired is left alone)."""
    yield Batch((("eval", _MARK_EXPIRED, 1, job_key(job_id), repr(at)),))


def parse_outcome(result: list[Any]) -> Outcome:
    code = int(result[0])
    if code < 0:
        raise KeyError("item not found")
    return Outcome(applied=code > 0, job_status=str(result[1]), job_closed=code == 2)


def parse_events(entries: list[tuple[str, dict[str, str]]]) -> list[Event]:
    return [Event(id=eid, event=f["event"], data=json.loads(f["data"])) for eid, f in entries]


# -- reads --------------------------------------------------------------------------------


def _parse_job(job_id: str, fields: dict[str, str], items: dict[str, str]) -> Job | None:
    if not fields or "meta" not in fields or "order" not in fields:
        return None
    meta = json.loads(fields["meta"])
    finished = fields.get("finished_at")
    expired = fields.get("results_expired_at")
    order = json.loads(fields["order"])
    return Job(
        job_id=job_id,
        owner=fields["owner"],
        status=JobStatus(fields["status"]),
        options=JobOptions.model_validate(meta["options"]),
        created_at=meta["created_at"],
        updated_at=float(fields.get("updated_at", meta["created_at"])),
        finished_at=float(finished) if finished else None,
        request_id=meta.get("request_id"),
        items=[Item.model_validate_json(items[i]) for i in order if i in items],
        results_expired_at=float(expired) if expired else None,
        cost=JobCost.model_validate(meta["cost"]) if meta.get("cost") else None,
    )


def read_job(job_id: str) -> Read[Job | None]:
    fields, items = yield Batch(
        (("hgetall", job_key(job_id)), ("hgetall", items_key(job_id))), atomic=True
    )
    return _parse_job(job_id, fields, items)


def read_snapshot(job_id: str) -> Read[tuple[Job, str, str | None] | None]:
    """The job, the id of the last event it reflects, and its terminal event id (atomic)."""
    fields, items, last = yield Batch(
        (
            ("hgetall", job_key(job_id)),
            ("hgetall", items_key(job_id)),
            ("xrevrange", events_key(job_id), "+", "-", 1),
        ),
        atomic=True,
    )
    job = _parse_job(job_id, fields, items) if last else None
    if job is None:
        return None
    return job, str(last[0][0]), fields.get("terminal_event_id")


def read_request_id(job_id: str) -> Read[str | None]:
    (meta,) = yield Batch((("hget", job_key(job_id), "meta"),))
    request_id = json.loads(meta).get("request_id") if meta else None
    return request_id if isinstance(request_id, str) else None


def read_active_ids() -> Read[set[str]]:
    (ids,) = yield Batch((("smembers", ACTIVE_JOBS),))
    return set(ids)


def read_counts() -> Read[tuple[dict[str, int], dict[str, int]]]:
    """Jobs and items by status over every job still held; forgets ids whose job expired."""
    jobs = {status.value: 0 for status in JobStatus}
    items = {status.value: 0 for status in ItemStatus}
    (ids,) = yield Batch((("zrange", ALL_JOBS, 0, -1),))
    fields = ("status", "completed", "failed", "cancelled")
    rows = yield Batch(tuple(("hmget", job_key(job_id), fields) for job_id in ids))
    gone, active = [], []
    for job_id, (status, *finished) in zip(ids, rows, strict=True):
        if status is None or status not in jobs:
            gone.append(job_id)
            continue
        jobs[status] += 1
        if JobStatus(status).is_terminal:
            for name, count in zip(("completed", "failed", "cancelled"), finished, strict=True):
                items[name] += int(count or 0)
        else:
            active.append(job_id)
    values = yield Batch(tuple(("hvals", items_key(job_id)) for job_id in active))
    for raw in (raw for job_values in values for raw in job_values):
        status = json.loads(raw).get("status")
        if status in items:
            items[status] += 1
    if gone:
        yield Batch((("zrem", ALL_JOBS, *gone),))
    return jobs, items


_SUMMARY_FIELDS = ("status", "owner", "meta", "order", "done", "finished_at", "completed", "failed")


def read_summaries(
    owner: str | None, newest: float | str, oldest: float | str
) -> Read[list[JobSummary]]:
    """Jobs created between `oldest` and `newest` (epoch seconds or ±inf), newest first."""
    index = owner_jobs_key(owner) if owner else ALL_JOBS
    (ids,) = yield Batch((("zrevrangebyscore", index, newest, oldest),))
    rows = yield Batch(tuple(("hmget", job_key(job_id), _SUMMARY_FIELDS) for job_id in ids))
    return [_summary(job_id, row) for job_id, row in zip(ids, rows, strict=True) if row[0]]


def _summary(job_id: str, row: list[str | None]) -> JobSummary:
    status, owner, meta_raw, order, done, finished, completed, failed = row
    meta = json.loads(meta_raw or "{}")
    return JobSummary(
        job_id=job_id,
        owner=owner or "",
        status=JobStatus(status or JobStatus.QUEUED),
        provider=meta.get("options", {}).get("provider"),
        request_id=meta.get("request_id"),
        created_at=meta.get("created_at"),
        finished_at=float(finished) if finished else None,
        total_files=len(json.loads(order or "[]")),
        finished_files=int(done or 0),
        completed_files=int(completed or 0),
        failed_files=int(failed or 0),
    )


def read_any_leased(job_id: str, file_ids: list[str]) -> Read[bool]:
    """Whether a worker still holds any of these items."""
    if not file_ids:
        return False
    (held,) = yield Batch((("exists", *(lease_key(job_id, f) for f in file_ids)),))
    return bool(held)


def event_fields(event: str, data: dict[str, Any]) -> dict[str, str]:
    """A stream entry's fields, as `jobs/lua.py` writes them too."""
    return {"event": event, "data": json.dumps(data)}
