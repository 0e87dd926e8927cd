"""Blocking job-store access for Celery workers: item updates, leases, recovery, heartbeats.

Key names come from `image2model.jobs.store`, the one module that defines them.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from image2model.jobs.lua import UPDATE_ITEM
from image2model.jobs.models import Job
from image2model.jobs.store import (
    ACTIVE_JOBS,
    EVENTS_MAXLEN,
    REQUEUE_GUARD_SECONDS,
    WORKERS,
    Transition,
    events_key,
    items_key,
    job_key,
    lease_key,
    parse_job,
    parse_transition,
    requeue_key,
)


class WorkerStore:
    """Blocking access for Celery workers (synchronous code)."""

    def __init__(self, client: redis.Redis, *, ttl: int, lease_seconds: float) -> None:
        self.redis = client
        self.ttl = ttl
        self.lease_ms = int(lease_seconds * 1000)
        self._update = client.register_script(UPDATE_ITEM)

    def get(self, job_id: str) -> Job | None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(job_key(job_id))
        pipe.hget(job_key(job_id), "order")
        fields, order = pipe.execute()
        if not order:
            return None
        raw_items = self.redis.hmget(items_key(job_id), json.loads(order))
        return parse_job(job_id, fields, raw_items)

    def update_item(
        self, job_id: str, file_id: str, patch: dict[str, Any], *, mode: str = "update"
    ) -> Transition:
        result = self._update(
            keys=[job_key(job_id), items_key(job_id), events_key(job_id), ACTIVE_JOBS],
            args=[file_id, json.dumps(patch), time.time(), EVENTS_MAXLEN, self.ttl, job_id, mode],
        )
        return parse_transition(result)

    def mark_dispatched(self, job_id: str) -> None:
        self.redis.hset(job_key(job_id), "dispatched", "1")

    def is_dispatched(self, job_id: str) -> bool:
        return bool(self.redis.hexists(job_key(job_id), "dispatched"))

    def acquire_lease(self, job_id: str, file_id: str, holder: str) -> bool:
        key = lease_key(job_id, file_id)
        return bool(self.redis.set(key, holder, nx=True, px=self.lease_ms))

    def renew_lease(self, job_id: str, file_id: str, holder: str) -> bool:
        """Extend the lease if we still hold it (compare-and-expire in one round trip)."""
        key = lease_key(job_id, file_id)
        renewed = self.redis.eval(_RENEW, 1, key, holder, self.lease_ms)
        return bool(renewed)

    def release_lease(self, job_id: str, file_id: str, holder: str) -> None:
        self.redis.eval(_RELEASE, 1, lease_key(job_id, file_id), holder)

    def active_jobs(self) -> list[str]:
        return sorted(self.redis.smembers(ACTIVE_JOBS))

    def is_leased(self, job_id: str, file_id: str) -> bool:
        return bool(self.redis.exists(lease_key(job_id, file_id)))

    def claim_requeue(self, job_id: str, file_id: str) -> bool:
        """Only one recovering worker re-enqueues a stalled item per guard period."""
        key = requeue_key(job_id, file_id)
        return bool(self.redis.set(key, "1", nx=True, ex=REQUEUE_GUARD_SECONDS))

    def clear_requeue(self, job_id: str, file_id: str) -> None:
        self.redis.delete(requeue_key(job_id, file_id))

    def is_active(self, job_id: str) -> bool:
        return bool(self.redis.sismember(ACTIVE_JOBS, job_id))

    def heartbeat(self, worker: str) -> None:
        now = time.time()
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(WORKERS, {worker: now})
        pipe.zremrangebyscore(WORKERS, "-inf", now - 3600)
        pipe.execute()

    def remove_worker(self, worker: str) -> None:
        self.redis.zrem(WORKERS, worker)


_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
