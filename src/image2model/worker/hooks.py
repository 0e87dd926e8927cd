"""Celery signal handlers: request ids across the queue, task and provider metrics, logging.

- `before_task_publish` stamps the current request id into the message headers (in the API,
  and in a worker when a task queues the next one);
- `task_prerun` binds the task's `job_id` (its first argument) and request id (the header,
  else the job's stored one) to every log line the task writes;
- `task_postrun` records the task's duration and outcome for the API's `/metrics`, and after
  a task that made or finished a model gives the memory it freed back (`heap.give_back`);
- `setup_logging` keeps Celery from installing its own handlers over ours.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
from celery import Task, current_app
from celery.signals import before_task_publish, setup_logging, task_postrun, task_prerun

from image2model import heap
from image2model.jobs.worker_store import WorkerStore
from image2model.ops import context
from image2model.ops.logconfig import configure_logging, is_configured
from image2model.ops.workermetrics import OTHER, WorkerMetrics
from image2model.providers.base import (
    Cancelled,
    GenerationRequest,
    GenerationResult,
    ModelSpec,
    Provider,
    ProviderContext,
)
from image2model.storage import is_id

log = logging.getLogger(__name__)

REQUEST_HEADER = "request_id"
_started: dict[str, float] = {}


def install() -> None:
    """Connect the handlers once per process (repeated calls are no-ops)."""
    before_task_publish.connect(_stamp_request_id, weak=False, dispatch_uid="i2m-publish")
    task_prerun.connect(_bind_task_context, weak=False, dispatch_uid="i2m-prerun")
    task_postrun.connect(_record_task, weak=False, dispatch_uid="i2m-postrun")
    task_postrun.connect(_give_back_memory, weak=False, dispatch_uid="i2m-heap")
    setup_logging.connect(_keep_our_logging, weak=False, dispatch_uid="i2m-logging")


def _stamp_request_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    request = context.request_id.get()
    if headers is not None and request and REQUEST_HEADER not in headers:
        headers[REQUEST_HEADER] = request


def _bind_task_context(
    task_id: str | None = None, task: Task | None = None, args: Any = None, **_: Any
) -> None:
    if task_id:
        _started[task_id] = time.monotonic()
    job = args[0] if args and isinstance(args[0], str) and is_id(args[0]) else None
    request = context.valid_request_id(task.request.get(REQUEST_HEADER)) if task else None
    if request is None and job is not None and task is not None:
        request = _stored_request_id(task, job)
    context.bind(request=request, job=job)


def _stored_request_id(task: Task, job_id: str) -> str | None:
    """The request id saved with the job (a re-queued item's message may not carry one)."""
    store: WorkerStore | None = getattr(getattr(task.app, "resources", None), "store", None)
    if store is None:
        return None
    try:
        return context.valid_request_id(store.request_id(job_id))
    except redis.RedisError:
        return None


def _record_task(
    task_id: str | None = None, task: Task | None = None, state: str | None = None, **_: Any
) -> None:
    started = _started.pop(task_id or "", None)
    client = _redis(task) if task is not None else None
    if started is None or client is None or task is None:
        return
    try:
        metrics = WorkerMetrics(client)
        metrics.record_task(task.name, (state or "").lower(), time.monotonic() - started)
        metrics.report_dropped_lines("worker")
    except redis.RedisError as error:
        log.warning("metrics.task.unrecorded task=%s error=%s", task.name, error)


MODEL_TASKS = frozenset({"tasks.generate_single_model", "tasks.finish_model"})
"""The tasks that hold meshes and images; collecting after the others (50 ms each) buys
nothing."""


def _give_back_memory(task: Task | None = None, **_: Any) -> None:
    if task is not None and task.name in MODEL_TASKS:
        heap.give_back()


def _redis(task: Task) -> redis.Redis | None:
    resources = getattr(task.app, "resources", None)
    return getattr(getattr(resources, "store", None), "redis", None)


def _keep_our_logging(**_: Any) -> None:
    settings = getattr(current_app, "settings", None)
    if not is_configured() and settings is not None:
        configure_logging(settings, "worker")


class MeteredProvider:
    """`provider`, with each `generate` timed and counted by provider, model and outcome."""

    def __init__(self, provider: Provider, client: redis.Redis) -> None:
        self.provider = provider
        self.client = client

    @property
    def name(self) -> str:
        return self.provider.name

    @property
    def models(self) -> tuple[ModelSpec, ...]:
        return self.provider.models

    def generate(self, request: GenerationRequest, context: ProviderContext) -> GenerationResult:
        started, outcome = time.monotonic(), "error"
        try:
            result = self.provider.generate(request, context)
            outcome = "success"
            return result
        except Cancelled:
            outcome = "cancelled"
            raise
        finally:
            self._record(request.model, outcome, time.monotonic() - started)

    def _record(self, model: str | None, outcome: str, seconds: float) -> None:
        known = [spec.id for spec in self.models]
        label = model if model in known else (known[0] if model is None and known else OTHER)
        try:
            WorkerMetrics(self.client).record_provider_call(self.name, label, outcome, seconds)
        except redis.RedisError as error:
            log.warning("metrics.provider.unrecorded provider=%s error=%s", self.name, error)
