"""Per-key (or per-client-IP) request limits in Redis, shared by every API process.

A pure ASGI middleware, so a refused upload is answered before its body is read and
streaming responses pass through untouched.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerHour, RateLimitItemPerMinute
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from redis.exceptions import RedisError
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from image2model.api.auth import KeyRing
from image2model.api.errors import envelope

log = logging.getLogger(__name__)

EXEMPT_PREFIXES = ("/api/v1/health",)
RATE_LIMIT_HEADERS = (
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "Retry-After",
)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset: float

    def headers(self) -> list[tuple[bytes, bytes]]:
        values = {
            "x-ratelimit-limit": self.limit,
            "x-ratelimit-remaining": self.remaining,
            "x-ratelimit-reset": math.ceil(self.reset),
        }
        if not self.allowed:
            values["retry-after"] = max(1, math.ceil(self.reset - time.time()))
        return [(k.encode(), str(v).encode()) for k, v in values.items()]


class RateLimits:
    """The configured windows over a shared Redis store."""

    def __init__(self, storage: RedisStorage, per_minute: int, per_hour: int) -> None:
        self.limiter = MovingWindowRateLimiter(storage)
        self.items: list[RateLimitItem] = []
        if per_minute:
            self.items.append(RateLimitItemPerMinute(per_minute))
        if per_hour:
            self.items.append(RateLimitItemPerHour(per_hour))

    async def hit(self, identity: str) -> Verdict | None:
        """Count one request; the tightest window decides. None when no limit is set."""
        verdicts = []
        for item in self.items:
            allowed = await self.limiter.hit(item, identity)
            stats = await self.limiter.get_window_stats(item, identity)
            verdicts.append(Verdict(allowed, item.amount, stats.remaining, stats.reset_time))
            if not allowed:
                return verdicts[-1]
        return min(verdicts, key=lambda v: v.remaining, default=None)


class RateLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        limits: Callable[[], RateLimits | None],
        keys: Callable[[], KeyRing],
        trusted_proxies: list[str],
    ) -> None:
        self.app = app
        self.limits = limits
        self.keys = keys
        self.trusted = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limits = self.limits() if scope["type"] == "http" else None
        path = scope.get("path", "")
        if limits is None or not path.startswith("/api/") or path.startswith(EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        try:
            verdict = await limits.hit(self._identity(scope))
        except (StorageError, RedisError, OSError) as error:
            log.warning("ratelimit.unavailable error=%s", error)  # the route answers 503 itself
            verdict = None
        if verdict is not None and not verdict.allowed:
            await _refuse(send, verdict)
            return
        await self.app(scope, receive, _with_headers(send, verdict))

    def _identity(self, scope: Scope) -> str:
        """A known key is limited as itself; anything else by where it comes from."""
        headers = Headers(scope=scope)
        principal = self.keys().identify(headers.get("authorization"))
        if principal is not None:
            return f"key:{principal.key_id}"
        return f"ip:{self._client_ip(scope, headers)}"

    def _client_ip(self, scope: Scope, headers: Headers) -> str:
        peer = (scope.get("client") or ("unknown", 0))[0]
        forwarded = headers.get("x-forwarded-for")
        if not forwarded or not self._trusted(peer):
            return str(peer)
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        for hop in reversed(hops):  # the first untrusted hop from the right is the client
            if not self._trusted(hop):
                return hop
        return hops[0] if hops else str(peer)

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.trusted)


async def _refuse(send: Send, verdict: Verdict) -> None:
    message = f"Rate limit of {verdict.limit} requests exceeded; retry later"
    body = json.dumps(envelope(429, "RATE_LIMITED", message, {"limit": verdict.limit})).encode()
    headers = [(b"content-type", b"application/json"), *verdict.headers()]
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _with_headers(send: Send, verdict: Verdict | None) -> Send:
    if verdict is None:
        return send

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *verdict.headers()]}
        await send(message)

    return wrapped
