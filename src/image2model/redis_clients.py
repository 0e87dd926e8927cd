"""Redis clients that ride out a moment of trouble instead of failing the request or task.

Workers retry, with jittered exponential backoff for 4 to 7 s, a dropped connection or
timeout (Redis restarting), `-OOM` (maxmemory reached), `-MISCONF` (Redis cannot write its
files) and `-READONLY` (a replica during failover). The API retries only `-OOM` and
`-READONLY`, for up to about half a second: with Redis down or unable to persist, a client
is better told at once (503, 507) than kept waiting. The refusals are safe to send again:
Redis checks them before it runs a command, and a script is refused before its first write.
"""

from __future__ import annotations

import socket
from typing import Any

import redis
from redis import asyncio as aioredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import EqualJitterBackoff
from redis.exceptions import (
    ConnectionError,
    OutOfMemoryError,
    ReadOnlyError,
    ResponseError,
    TimeoutError,
)
from redis.retry import Retry

RETRIES = 10
"""With the backoff below, 4.3 to 7 s in all: more than the private Redis takes to come
back after a crash (0.5 s, then 1 s, 2 s while it keeps exiting)."""
BACKOFF_BASE = 0.05  # seconds, doubled at each failure; half of it is jitter
BACKOFF_CAP = 1.0
API_RETRIES = 3
API_BACKOFF_CAP = 0.25
ERRORS = (ConnectionError, TimeoutError, socket.timeout, ResponseError)
REFUSALS = ("OOM", "MISCONF", "READONLY")
"""Error codes of a write Redis refused without running it (a script: before its first
write, and Redis's state cannot change while a script runs)."""


def is_transient(error: Exception) -> bool:
    """Whether sending the same command again may succeed once Redis recovers (workers)."""
    return not isinstance(error, ResponseError) or refusal(error) is not None


def is_brief_refusal(error: Exception) -> bool:
    """A refusal that usually lasts milliseconds: memory freed, a replica promoted (API)."""
    return refusal(error) in ("OOM", "READONLY")


def refusal(error: BaseException) -> str | None:
    """The code of a refused write (`MISCONF` …) in a reply or a script's error, else None."""
    if isinstance(error, OutOfMemoryError):  # redis-py drops the code of the ones it names
        return "OOM"
    if isinstance(error, ReadOnlyError):
        return "READONLY"
    if not isinstance(error, ResponseError):
        return None
    message = str(error)
    for code in REFUSALS:
        if message.startswith(f"{code} ") or f"-{code} " in message:
            return code
    return None


def blocking(url: str, **options: Any) -> redis.Redis:
    """A redis-py client for `url` (workers, providers)."""
    retry = Retry(_backoff(BACKOFF_CAP), RETRIES, ERRORS, is_retryable=is_transient)
    return redis.Redis.from_url(url, retry=retry, retry_on_error=list(ERRORS), **options)


def asynchronous(url: str, **options: Any) -> aioredis.Redis:
    """An asyncio redis-py client for `url` (the API)."""
    retry = AsyncRetry(_backoff(API_BACKOFF_CAP), API_RETRIES, ERRORS, is_brief_refusal)
    return aioredis.Redis.from_url(url, retry=retry, retry_on_error=list(ERRORS), **options)


def _backoff(cap: float) -> EqualJitterBackoff:
    return EqualJitterBackoff(cap=cap, base=BACKOFF_BASE)
