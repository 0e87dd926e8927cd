"""A deployment-wide cap on in-flight fal requests, shared by every worker through Redis.

Holders live in a sorted set scored by their expiry (Redis server time, so hosts' clocks do not
matter). A holder renews its slot while it works; one whose worker died stops renewing and its
slot frees itself after `FAL_SLOT_TTL_MS`.

Waiting for a slot costs no polling: a release pushes a token on a list that waiters block on
(BLPOP), so the next item starts the moment a slot frees. A slot freed by expiry pushes
nothing; waiters look again at least every `RECHECK_SECONDS`.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import redis

from image2model.keys import FAL_SLOT_TTL_MS, FAL_SLOTS, FAL_SLOTS_FREED

RECHECK_SECONDS = 1

_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

_ACQUIRE = (
    _NOW_MS
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local held = redis.call('ZSCORE', KEYS[1], ARGV[1])
if held or ARGV[4] == '1' or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 1
end
return 0
"""
)

_RENEW = (
    _NOW_MS
    + """
if redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[2]), ARGV[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
)


class SlotPool:
    """At most `capacity` holders at once, across processes and hosts."""

    def __init__(
        self,
        client: redis.Redis,
        capacity: int,
        ttl_ms: int = FAL_SLOT_TTL_MS,
        recheck_seconds: float = RECHECK_SECONDS,
    ) -> None:
        self.redis = client
        self.capacity = capacity
        self.ttl_ms = ttl_ms
        self.recheck_seconds = recheck_seconds
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)

    def try_acquire(self, holder: str, *, force: bool = False) -> bool:
        """Take a slot if one is free; `force` counts a request already running at fal."""
        args = [holder, self.capacity, self.ttl_ms, "1" if force else "0"]
        return bool(self._acquire(keys=[FAL_SLOTS], args=args))

    def renew(self, holder: str) -> bool:
        return bool(self._renew(keys=[FAL_SLOTS], args=[holder, self.ttl_ms]))

    def release(self, holder: str) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.zrem(FAL_SLOTS, holder)
        pipe.lpush(FAL_SLOTS_FREED, holder)
        pipe.ltrim(FAL_SLOTS_FREED, 0, self.capacity - 1)  # tokens nobody waited for
        pipe.pexpire(FAL_SLOTS_FREED, self.ttl_ms)
        pipe.execute()

    def wait_for_release(self) -> None:
        """Block until a holder releases a slot, or `recheck_seconds` pass."""
        self.redis.blpop([FAL_SLOTS_FREED], timeout=self.recheck_seconds)

    def in_use(self) -> int:
        return int(self.redis.zcard(FAL_SLOTS))

    @contextmanager
    def hold(self, check: Callable[[], None], *, force: bool = False) -> Iterator[str]:
        """Hold a slot for the block; `check()` runs between tries (and may raise to stop)."""
        holder = uuid.uuid4().hex
        while not self.try_acquire(holder, force=force):
            check()
            self.wait_for_release()
        renewer = _Renewer(self, holder)
        renewer.start()
        try:
            yield holder
        finally:
            renewer.stop()
            self.release(holder)


class _Renewer(threading.Thread):
    def __init__(self, pool: SlotPool, holder: str) -> None:
        super().__init__(name="fal-slot-renewer", daemon=True)
        self.pool = pool
        self.holder = holder
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.pool.ttl_ms / 4000):
            try:
                self.pool.renew(self.holder)
            except redis.RedisError:
                continue  # Redis restarting: the next round renews; the TTL covers the gap

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=5)
