"""The FastAPI application: clients made in lifespan, one error envelope, the routers."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import redis.asyncio as aioredis
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from limits.aio.storage import RedisStorage
from redis.exceptions import RedisError

from image2model import __version__, redis_clients
from image2model.api import (
    admin,
    download,
    errors,
    health,
    lifecycle,
    logs,
    models,
    openapi,
    status,
    ui,
    upload,
)
from image2model.api.auth import KeyRing
from image2model.api.deps import Services
from image2model.api.headers import SecurityHeadersMiddleware
from image2model.api.links import Links
from image2model.api.ratelimit import RATE_LIMIT_HEADERS, RateLimitMiddleware, RateLimits
from image2model.api.schemas import ERROR_RESPONSES, HEALTH_ERRORS
from image2model.api.selection import usable_providers
from image2model.api.signing import Signer, load_secret
from image2model.config import Settings
from image2model.jobs.events import EventHub
from image2model.jobs.service import JobService
from image2model.jobs.store import JobStore
from image2model.keys import RATE_LIMIT_PREFIX
from image2model.meshes import Tools
from image2model.ops.logconfig import configure_logging
from image2model.ops.metrics import ChildRestarts
from image2model.providers.fal.prices import PriceBook
from image2model.providers.registry import build_providers
from image2model.storage import Storage, storage_identity
from image2model.worker import QUEUES, create_celery

log = logging.getLogger(__name__)
API_PREFIX = "/api/v1"


def create_app(
    settings: Settings, *, child_restarts: ChildRestarts | None = None, log_stdout: bool = True
) -> FastAPI:
    """The API for `settings`; nothing connects until the app starts. In embedded mode,
    `child_restarts` reports how often `serve` restarted its children (health, metrics).
    Without `log_stdout` its log lines go to its log file alone (an app run inside another
    program that owns stdout, such as a test runner)."""
    keys = KeyRing(settings)
    providers = build_providers(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = redis_clients.asynchronous(
            settings.redis_url, decode_responses=True, max_connections=2048
        )
        log_setup = configure_logging(settings, "api", stdout=log_stdout)
        celery = create_celery(settings)

        async def dispatch(job_id: str) -> None:
            await anyio.to_thread.run_sync(
                lambda: celery.send_task("tasks.process_batch", args=[job_id])
            )

        store = JobStore(client, ttl=settings.JOB_TTL)
        storage = Storage(settings.upload_dir, settings.results_dir)
        storage.ensure()
        await _publish_storage_identity(store, settings.data_dir)
        hub = EventHub(store, buffer=settings.SSE_LISTENER_BUFFER)
        app.state.rate_limits = rate_limits(settings, client)
        jobs = JobService(
            store=store,
            storage=storage,
            dispatch=dispatch,
            max_image_pixels=settings.MAX_IMAGE_PIXELS,
            max_active_jobs=settings.MAX_ACTIVE_JOBS_PER_KEY,
            decode_concurrency=settings.UPLOAD_DECODE_CONCURRENCY,
        )
        signer = Signer(load_secret(settings))
        app.state.services = Services(
            settings=settings,
            store=store,
            jobs=jobs,
            storage=storage,
            hub=hub,
            keys=keys,
            signer=signer,
            links=Links(signer, settings.PUBLIC_BASE_URL or ""),
            providers=providers,
            prices=PriceBook(settings, (m.id for m in providers["fal"].models)),
            started_at=time.time(),
            tools=Tools.find(settings.ASSIMP_COMMAND),
        )
        app.state.services.prices.start()
        try:
            # background services run while the app serves; stopped (and metrics flushed) first
            async with lifecycle.running(app, app.state.services, celery):
                yield
        finally:
            await app.state.services.prices.close()
            jobs.close()
            await hub.close()
            await client.aclose()
            celery.close()
            log_setup.close()

    app = FastAPI(
        title="image2model",
        version=__version__,
        description="Turn batches of 2D images into textured 3D models.",
        lifespan=lifespan,
    )
    errors.install(app)
    install_security(app, settings, keys)
    ui.install(app, settings)  # `/`: the web page for browsers, service info for others
    app.include_router(health.root_router)
    for module in (upload, status, models, download, admin, logs):
        app.include_router(module.router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    # Health needs no key and is never rate limited: only Redis being down is an error.
    app.include_router(health.router, prefix=API_PREFIX, responses=HEALTH_ERRORS)
    openapi.install(
        app,
        lambda: usable_providers(providers),
        settings.default_provider,
        settings.MAX_FILES_PER_UPLOAD,
    )
    # added last, so outermost: request ids, metrics and access lines cover every response
    lifecycle.install(app, settings, QUEUES, child_restarts)
    return app


def install_security(app: FastAPI, settings: Settings, keys: KeyRing) -> None:
    """Rate limits innermost, then CORS (preflights are never limited), headers outermost."""
    app.add_middleware(
        RateLimitMiddleware,
        limits=lambda: getattr(app.state, "rate_limits", None),
        keys=lambda: keys,
        trusted_proxies=settings.TRUSTED_PROXIES,
    )
    if settings.CORS_ORIGINS:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.CORS_ORIGINS,
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID", "X-Request-ID"],
            expose_headers=[*RATE_LIMIT_HEADERS, "Content-Disposition", "X-Request-ID"],
            max_age=600,
        )
    app.add_middleware(SecurityHeadersMiddleware)


def rate_limits(settings: Settings, client: aioredis.Redis) -> RateLimits | None:
    if not (settings.RATE_LIMIT_PER_MINUTE or settings.RATE_LIMIT_PER_HOUR):
        return None
    storage = RedisStorage(
        "async+redis://",
        implementation="redispy",
        key_prefix=RATE_LIMIT_PREFIX,
        connection_pool=client.connection_pool,
    )
    return RateLimits(storage, settings.RATE_LIMIT_PER_MINUTE, settings.RATE_LIMIT_PER_HOUR)


async def _publish_storage_identity(store: JobStore, data_dir: Path) -> None:
    """Tell workers which storage the API uses, so one that sees another refuses to start."""
    try:
        identity = await anyio.to_thread.run_sync(lambda: storage_identity(data_dir, create=True))
    except OSError as error:  # a full or read-only disk: uploads will say so; start anyway
        log.warning("storage.identity.unwritten error=%s", error)
        return
    if identity is not None:
        try:
            await store.publish_storage_identity(identity)
        except RedisError as error:  # Redis not up yet: the readiness check reports it
            log.warning("storage.identity.unpublished error=%s", error)
