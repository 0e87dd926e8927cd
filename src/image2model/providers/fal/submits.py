"""A deployment-wide limit on paid fal submits, per fal account, shared through Redis.

`FAL_SUBMIT_RATE_LIMIT` (e.g. `100/minute`) counts submits in a moving window (the `limits`
library's, the one the API's request limits use) for the account, named by a digest of
FAL_KEY, never the key. A submit beyond the limit waits until the window has room; items
that only resume a request already at fal are never counted.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

import limits
import redis
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

from image2model.keys import FAL_SUBMIT_RATE_PREFIX

SHORTEST_WAIT = 0.05


class SubmitRate:
    """At most `rate` submits for one fal account, across processes and hosts."""

    def __init__(self, client: redis.Redis, rate: str, key: str) -> None:
        self.rate = limits.parse(rate)
        storage = RedisStorage(
            "redis://", connection_pool=client.connection_pool, key_prefix=FAL_SUBMIT_RATE_PREFIX
        )
        self.limiter = MovingWindowRateLimiter(storage)
        self.account = hashlib.sha256(key.encode()).hexdigest()[:16]

    def take(self, wait: Callable[[float], None]) -> None:
        """Count one submit; first `wait(seconds)` (which may raise) while the window is full."""
        while not self.limiter.hit(self.rate, self.account):
            stats = self.limiter.get_window_stats(self.rate, self.account)
            wait(max(SHORTEST_WAIT, stats.reset_time - time.time()))
