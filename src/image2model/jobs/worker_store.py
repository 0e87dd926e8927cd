"""Blocking access to jobs in Redis for Celery workers: transitions, leases, recovery,
heartbeats. Reads are the same definitions the API's store runs (`jobs/format.py`)."""

from __future__ import annotations

import time

import redis

from image2model.jobs import format as fmt
from image2model.jobs.format import Outcome
from image2model.jobs.lua import UPDATE_ITEM
from image2model.jobs.models import Item, Job
from image2model.jobs.transitions import Patch
from image2model.keys import (
    ACTIVE_JOBS,
    REQUEUE_GUARD_SECONDS,
    UNFINALIZED_JOBS,
    WORKER_ALIVE_SECONDS,
    WORKER_FORGET_SECONDS,
    WORKERS,
    broker_queue_keys,
    items_key,
    job_key,
    lease_key,
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
        return fmt.run_sync(self.redis, fmt.read_job(job_id))

    def item(self, job_id: str, file_id: str) -> Item | None:
        """One item alone (a job's whole document costs more to read and parse)."""
        raw = self.redis.hget(items_key(job_id), file_id)
        return Item.model_validate_json(raw) if raw is not None else None

    def request_id(self, job_id: str) -> str | None:
        """The request id saved with the job."""
        return fmt.run_sync(self.redis, fmt.read_request_id(job_id))

    def apply(self, job_id: str, file_id: str, patch: Patch) -> Outcome:
        """Apply one transition to an item (atomically, only forward; see `jobs/lua.py`)."""
        keys, args = fmt.transition_call(job_id, file_id, patch, ttl=self.ttl)
        return fmt.parse_outcome(self._update(keys=keys, args=args))

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
        return sorted(fmt.run_sync(self.redis, fmt.read_active_ids()))

    def is_leased(self, job_id: str, file_id: str) -> bool:
        return fmt.run_sync(self.redis, fmt.read_any_leased(job_id, [file_id]))

    def claim_requeue(self, job_id: str, file_id: str) -> bool:
        """Only one recovering worker re-enqueues a stalled item per guard period."""
        key = requeue_key(job_id, file_id)
        return bool(self.redis.set(key, "1", nx=True, ex=REQUEUE_GUARD_SECONDS))

    def clear_requeue(self, job_id: str, file_id: str) -> None:
        self.redis.delete(requeue_key(job_id, file_id))

    def mark_results_expired(self, job_id: str) -> None:
        """Say the job's files are gone; downloads answer 410 from now on."""
        fmt.run_sync(self.redis, fmt.write_results_expired(job_id, time.time()))

    def mark_finalized(self, job_id: str) -> None:
        """The job's manifest is written: nothing more to do for it after its close."""
        self.redis.zrem(UNFINALIZED_JOBS, job_id)

    def unfinalized(self, closed_before: float) -> list[str]:
        """Jobs closed before `closed_before` (epoch seconds) whose finalize has not run."""
        return list(self.redis.zrangebyscore(UNFINALIZED_JOBS, "-inf", closed_before))

    def queue_is_empty(self, queue: str) -> bool:
        """No message waits on the Celery queue `queue` (any priority)."""
        pipe = self.redis.pipeline(transaction=False)
        for key in broker_queue_keys(queue):
            pipe.llen(key)
        return not any(pipe.execute())

    def is_active(self, job_id: str) -> bool:
        return bool(self.redis.sismember(ACTIVE_JOBS, job_id))

    def heartbeat(self, worker: str) -> None:
        now = time.time()
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(WORKERS, {worker: now})
        pipe.zremrangebyscore(WORKERS, "-inf", now - WORKER_FORGET_SECONDS)
        pipe.execute()

    def workers_alive(self, prefix: str) -> bool:
        """Whether a worker whose name starts with `prefix` sent a heartbeat lately."""
        recent = self.redis.zrangebyscore(WORKERS, time.time() - WORKER_ALIVE_SECONDS, "+inf")
        return any(name.startswith(prefix) for name in recent)

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
