"""Request telemetry as a pure ASGI middleware: request id, metrics and one access line.

Pure ASGI (not BaseHTTPMiddleware) so event streams and large downloads pass through
unbuffered; an SSE response counts as an open stream from its first to its last byte.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from image2model.api.errors import envelope
from image2model.ops import context
from image2model.ops.metrics import ApiMetrics

access_log = logging.getLogger("image2model.access")

REQUEST_ID_HEADER = b"x-request-id"
UNMATCHED = "unmatched"
JOB_PARAMS = ("job_id", "task_id")


class Draining:
    """Set when the server starts shutting down: new requests get 503, streams end."""

    def __init__(self) -> None:
        self.active = False


class RequestTelemetry:
    """Gives every request an id, measures it by route template, writes its access line."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: ApiMetrics,
        draining: Draining,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.draining = draining

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        token = context.request_id.set(request_id)
        job_token = context.job_id.set(None)
        started = time.perf_counter()
        state: dict[str, Any] = {"status": 500, "stream": False}

        async def observe(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = request_id
                if headers.get("content-type", "").startswith("text/event-stream"):
                    state["stream"] = True
                    self.metrics.sse_streams.inc()
            await send(message)

        try:
            if self.draining.active:
                await _refuse(observe)
            else:
                await self.app(scope, receive, observe)
        finally:
            if state["stream"]:
                self.metrics.sse_streams.dec()
            self._record(scope, state["status"], time.perf_counter() - started)
            context.job_id.reset(job_token)
            context.request_id.reset(token)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        endpoint = self._endpoint(scope)
        self.metrics.observe_request(scope["method"], endpoint, status, seconds)
        params = scope.get("path_params") or {}
        job = next((params[p] for p in JOB_PARAMS if isinstance(params.get(p), str)), None)
        access_log.log(
            _level(status),
            "http.request %s %s %d",
            scope["method"],
            endpoint,
            status,
            extra={
                "method": scope["method"],
                "route": endpoint,
                "path": scope["path"][:300],
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
                "client": (scope.get("client") or ("-",))[0],
                "job_id": job[:64] if job else None,
            },
        )

    def _endpoint(self, scope: Scope) -> str:
        return route_template(scope)


def route_template(scope: Scope) -> str:
    """The matched route's template (`/api/v1/status/tasks/{task_id}/status`), never a raw path.

    FastAPI records the matched route without the prefixes of the routers that include it;
    those prefixes are literal, so they are the leading segments the template lacks.
    """
    route = scope.get("route")
    template = getattr(route, "path", None)
    if not isinstance(template, str):
        return UNMATCHED
    if isinstance(route, Mount):
        return template.rstrip("/") + "/{path}"
    if ":path}" in template:
        return template
    segments = scope["path"].split("/")
    extra = len(segments) - len(template.split("/"))
    return "/".join(segments[: extra + 1]) + template if extra > 0 else template


def _level(status: int) -> int:
    """Server errors are errors; 503 (not ready, shutting down) is expected now and then."""
    if status == 503:
        return logging.WARNING
    return logging.ERROR if status >= 500 else logging.INFO


def _request_id(scope: Scope) -> str:
    """The client's X-Request-ID when it is safe, else a new one; downstream sees it too."""
    headers = [(k, v) for k, v in scope["headers"] if k != REQUEST_ID_HEADER]
    given = dict(scope["headers"]).get(REQUEST_ID_HEADER, b"").decode("latin-1")
    request_id = context.valid_request_id(given) or context.new_request_id()
    scope["headers"] = [*headers, (REQUEST_ID_HEADER, request_id.encode())]
    return request_id


async def _refuse(send: Send) -> None:
    body = envelope(503, "SHUTTING_DOWN", "The server is shutting down; retry shortly")
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"retry-after", b"2"),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
