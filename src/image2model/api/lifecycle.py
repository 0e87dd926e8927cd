"""The API's operational start and stop: background services, draining, final flush.

Start-up (in lifespan, after Redis, logging and the stores exist): metrics primed, the
background services started. Shutdown, as uvicorn runs it with `GracefulServer`: stop
accepting, tell every open event stream the server is going (a final `server_shutdown`
event, so clients reconnect elsewhere or later), let in-flight requests finish, then
lifespan cancels the background services, flushes metrics and closes Redis.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

import uvicorn
from fastapi import Depends, FastAPI, Request
from redis.exceptions import RedisError

from image2model.api.background import BackgroundServices, Schedule
from image2model.api.deps import Services
from image2model.api.middleware import Draining, RequestTelemetry
from image2model.config import Settings
from image2model.ops.metrics import ApiMetrics, ChildRestarts

log = logging.getLogger(__name__)


@dataclass
class Operations:
    """The API process's operational state, on `app.state.ops`."""

    settings: Settings
    metrics: ApiMetrics
    draining: Draining = field(default_factory=Draining)
    background: BackgroundServices | None = None
    schedule: Schedule = field(default_factory=Schedule)
    celery: Any = None
    services: Services | None = None
    child_restarts: ChildRestarts | None = None
    """In embedded mode: how often `serve` restarted each of its children."""

    @property
    def hub(self) -> Any:
        return self.services.hub if self.services else None

    def begin_drain(self) -> None:
        """Refuse new requests and end every open event stream with a final event."""
        if self.draining.active:
            return
        self.draining.active = True
        if self.hub is not None:
            self.hub.announce_shutdown()
        log.info("api.draining")


def install(
    app: FastAPI,
    settings: Settings,
    queues: Sequence[str],
    child_restarts: ChildRestarts | None = None,
) -> Operations:
    """Create the operational state and add the telemetry middleware (outermost)."""
    ops = Operations(
        settings=settings,
        metrics=ApiMetrics(queues, child_restarts),
        child_restarts=child_restarts,
    )
    app.state.ops = ops
    app.add_middleware(
        RequestTelemetry,
        metrics=ops.metrics,
        draining=ops.draining,
    )
    return ops


@asynccontextmanager
async def running(app: FastAPI, services: Services, celery: Any) -> AsyncIterator[Operations]:
    """Start background services for the app's lifetime; stop them and flush on exit."""
    ops: Operations = app.state.ops
    ops.services, ops.celery = services, celery
    background = BackgroundServices(
        settings=services.settings,
        metrics=ops.metrics,
        store=services.store,
        schedule=ops.schedule,
    )
    ops.background = background
    background.start()
    log.info("api.started")
    try:
        yield ops
    finally:
        ops.begin_drain()
        await background.stop()
        await _flush_metrics(ops, services)


async def _flush_metrics(ops: Operations, services: Services) -> None:
    """A last reading, written to the log, so the final state outlives the process."""
    try:
        await ops.metrics.refresh(services.store, services.settings.data_dir)
    except (RedisError, OSError) as error:
        log.warning("metrics.flush.partial error=%s", error)
    requests = sum(
        sample.value
        for metric in ops.metrics.http_requests.collect()
        for sample in metric.samples
        if sample.name == "http_requests_total"
    )
    snapshot = ops.metrics.snapshot
    log.info(
        "metrics.flushed http_requests=%d jobs=%s queues=%s",
        requests,
        snapshot.jobs,
        snapshot.queues,
        extra={"http_requests": requests, "jobs": snapshot.jobs, "queue_depth": snapshot.queues},
    )


class GracefulServer(uvicorn.Server):
    """uvicorn, but event streams hear about a shutdown before connections are waited on."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        ops = getattr(getattr(self.config.app, "state", None), "ops", None)
        if isinstance(ops, Operations):
            ops.begin_drain()
        started = time.monotonic()
        await super().shutdown(sockets)
        log.info("api.stopped after=%.2fs", time.monotonic() - started)


def get_ops(request: Request) -> Operations:
    ops: Operations = request.app.state.ops
    return ops


OpsDep = Annotated[Operations, Depends(get_ops)]
