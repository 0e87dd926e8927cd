"""The Celery app, built from Settings; the same for the embedded runtime and remote hosts."""

from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import redis
from celery import Celery
from celery.signals import worker_init, worker_ready, worker_shutdown
from kombu import Queue
from PIL import Image

from image2model import heap, redis_clients
from image2model.config import Settings
from image2model.jobs.dispatch import GENERATION_QUEUE, IO_QUEUE
from image2model.jobs.worker_store import WorkerStore
from image2model.ops.workermetrics import WorkerMetrics
from image2model.providers.base import Provider
from image2model.providers.registry import build_providers
from image2model.redis_url import celery_url
from image2model.storage import Storage
from image2model.worker import hooks

log = logging.getLogger(__name__)

CPU_QUEUES = ("batch_processing", GENERATION_QUEUE, "maintenance")
"""What `image2model worker` consumes (prefork processes)."""
QUEUES = (*CPU_QUEUES, IO_QUEUE)
TASK_ROUTES = {
    "tasks.process_batch": {"queue": "batch_processing"},
    "tasks.finalize_batch": {"queue": "batch_processing"},
    "tasks.generate_single_model": {"queue": GENERATION_QUEUE},  # or IO_QUEUE: jobs/dispatch
    "tasks.finish_model": {"queue": GENERATION_QUEUE},
    "tasks.cleanup_old_files": {"queue": "maintenance"},
}
CLEANUP_EVERY_SECONDS = 3600.0


@dataclass
class WorkerResources:
    """Clients a worker process makes once, on first use after the fork."""

    store: WorkerStore
    storage: Storage
    providers: dict[str, Provider]


class WorkerApp(Celery):  # type: ignore[misc]
    """A Celery app that carries the deployment's settings to its tasks."""

    settings: Settings
    io_worker = False
    """This process is the I/O worker: it generates, and leaves post-processing to others."""
    _making_resources = threading.Lock()

    @property
    def resources(self) -> WorkerResources:
        """Made once per process, on first use (the I/O worker's threads may ask at once)."""
        with self._making_resources:
            return self._resources

    @cached_property
    def _resources(self) -> WorkerResources:
        settings = self.settings
        client = redis_clients.blocking(settings.redis_url, decode_responses=True)
        storage = Storage(settings.upload_dir, settings.results_dir)
        storage.ensure()
        store = WorkerStore(client, ttl=settings.JOB_TTL, lease_seconds=settings.LEASE_SECONDS)
        return WorkerResources(store=store, storage=storage, providers=build_providers(settings))


def create_celery(settings: Settings) -> WorkerApp:
    """The Celery app for `settings`; importing it connects to nothing."""
    app = WorkerApp("image2model", set_as_current=True)
    app.settings = settings
    annotations: dict[str, Any] = {}
    if settings.TASK_RATE_LIMIT:
        annotations = {"*": {"rate_limit": settings.TASK_RATE_LIMIT}}
    app.conf.update(
        broker_url=celery_url(settings.redis_url),
        broker_connection_retry_on_startup=True,
        # a refused write (-OOM, -MISCONF) in kombu's own calls reconnects, as a dropped
        # connection does, instead of stopping the worker; redelivery is harmless (leases)
        broker_channel_error_retry=True,
        broker_transport_options={"visibility_timeout": settings.BROKER_VISIBILITY_TIMEOUT},
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_concurrency=settings.WORKER_CONCURRENCY,
        worker_hijack_root_logger=False,
        task_time_limit=settings.TASK_TIME_LIMIT,
        task_soft_time_limit=settings.TASK_SOFT_TIME_LIMIT,
        task_annotations=annotations,
        task_queues=[Queue(name) for name in QUEUES],
        task_default_queue="model_generation",
        task_routes=TASK_ROUTES,
        beat_schedule={
            "cleanup-old-files": {
                "task": "tasks.cleanup_old_files",
                "schedule": CLEANUP_EVERY_SECONDS,
            }
        },
    )
    app.conf.imports = ("image2model.worker.tasks",)
    hooks.install()  # request ids through the queue, task metrics, JSON logs
    return app


class Housekeeper(threading.Thread):
    """In each worker's main process: a heartbeat for readiness and recovery of lost items."""

    def __init__(self, app: WorkerApp, name: str) -> None:
        super().__init__(name="image2model-housekeeper", daemon=True)
        self.app = app
        self.worker_name = name
        self.stopped = threading.Event()

    def run(self) -> None:
        from image2model.jobs.recovery import recover_stalled, refinalize

        store = self.app.resources.store
        interval = max(0.5, self.app.settings.LEASE_SECONDS / 3)
        while not self.stopped.is_set():
            try:
                store.heartbeat(self.worker_name)
                recover_stalled(
                    store,
                    self.app,
                    lease_seconds=self.app.settings.LEASE_SECONDS,
                    providers=self.app.resources.providers,
                )
                refinalize(store, self.app, lease_seconds=self.app.settings.LEASE_SECONDS)
                WorkerMetrics(store.redis).report_dropped_lines("worker")
            except redis.RedisError as error:
                # Redis restarting: the next round retries; leases keep items safe meanwhile
                log.warning("worker.housekeeping.failed error=%s", error)
            self.stopped.wait(interval)
        try:
            store.remove_worker(self.worker_name)
        except redis.RedisError as error:  # Redis gone first: its heartbeat simply ages out
            log.warning("worker.housekeeping.unregister_failed error=%s", error)


_housekeepers: list[Housekeeper] = []


@worker_init.connect
def _prepare_pool(**_: Any) -> None:
    """Before the pool forks. Pillow imports its format plugins on first use, which each pool
    child would otherwise do during its first task (about 40 ms on two busy cores); the
    allocator's threshold for large blocks is fixed so they go back to the system when freed."""
    Image.init()
    heap.keep_large_blocks_mapped()


@worker_ready.connect
def _start_housekeeper(sender: Any, **_: Any) -> None:
    app = sender.app
    if isinstance(app, WorkerApp):
        keeper = Housekeeper(app, getattr(sender, "hostname", None) or socket.gethostname())
        _housekeepers.append(keeper)
        keeper.start()


@worker_shutdown.connect
def _stop_housekeepers(**_: Any) -> None:
    for keeper in _housekeepers:
        keeper.stopped.set()
    for keeper in _housekeepers:
        keeper.join(timeout=5)
