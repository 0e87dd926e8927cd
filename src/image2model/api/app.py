"""The FastAPI application: clients made in lifespan, one error envelope, the routers."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import redis.asyncio as aioredis
from fastapi import FastAPI

from image2model import __version__
from image2model.api import download, errors, health, models, status, upload
from image2model.api.auth import KeyRing
from image2model.api.deps import Services
from image2model.api.signing import Signer, load_secret
from image2model.config import Settings
from image2model.jobs.events import EventHub
from image2model.jobs.service import JobService
from image2model.jobs.store import JobStore
from image2model.providers.registry import build_providers
from image2model.storage import Storage
from image2model.worker import create_celery

log = logging.getLogger(__name__)
API_PREFIX = "/api/v1"


def create_app(settings: Settings) -> FastAPI:
    """The API for `settings`; nothing connects until the app starts."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = aioredis.Redis.from_url(
            settings.redis_url, decode_responses=True, max_connections=2048
        )
        celery = create_celery(settings)

        async def dispatch(job_id: str) -> None:
            await anyio.to_thread.run_sync(
                lambda: celery.send_task("tasks.process_batch", args=[job_id])
            )

        store = JobStore(client, ttl=settings.JOB_TTL)
        storage = Storage(settings.upload_dir, settings.results_dir)
        storage.ensure()
        hub = EventHub(store)
        app.state.services = Services(
            settings=settings,
            store=store,
            jobs=JobService(store=store, storage=storage, dispatch=dispatch),
            storage=storage,
            hub=hub,
            keys=KeyRing(settings),
            signer=Signer(load_secret(settings)),
            providers=build_providers(settings),
            started_at=time.time(),
        )
        try:
            yield
        finally:
            await hub.close()
            await client.aclose()
            celery.close()

    app = FastAPI(
        title="image2model",
        version=__version__,
        description="Turn batches of 2D images into textured 3D models.",
        lifespan=lifespan,
    )
    errors.install(app)
    app.include_router(health.root_router)
    for module in (upload, status, models, download, health):
        app.include_router(module.router, prefix=API_PREFIX)
    return app
