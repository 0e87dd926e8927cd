"""Celery signal handlers: request ids across the queue, task and provider metrics, logging.

- `before_task_publish` stamps the current request id into the message headers (in the API,
  and in a worker when a task queues the next one);
- `task_prerun` binds the task's `job_id` (its first argument) and request id (the header,
  else the job's stored one) to every log line the task writes;
- `task_postrun` records the task's duration and outcome for the API's `/metrics`;
- `setup_logging` keeps Celery from installing its own handlers over ours.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
from celery import Task, current_app
from celery.signals import before_task_publish, setup_logging, task_postrun, task_prerun

from image2model.jobs.store import job_key
from image2model.ops import context
from image2model.ops.logconfig import configure_logging, is_configured
from image2model.ops.workermetrics import OTHER, WorkerMetrics
from image2model.providers.base import Cancelled, Provider
from image2model.storage import is_id

log = logging.getLogger(__name__)

REQUEST_HEADER = "request_id"
_started: dict[str, float] = {}


def install() -> None:
    """Connect the handlers once per process (repeated calls are no-ops)."""
    before_task_publish.connect(_stamp_request_id, weak=False, dispatch_uid="i2m-publish")
    task_prerun.connect(_bind_task_context, weak=False, dispatch_uid="i2m-prerun")
    task_postrun.connect(_record_task, weak=False, dispatch_uid="i2m-postrun")
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
    client = _redis(task)
    if client is None:
        return None
    try:
        meta = client.hget(job_key(job_id), "meta")
    except redis.RedisError:
        return None
    return context.valid_request_id(json.loads(meta).get("request_id")) if meta else None


def _record_task(
    task_id: str | None = None, task: Task | None = None, state: str | None = None, **_: Any
) -> None:
    started = _started.pop(task_id or "", None)
    client = _redis(task) if task is not None else None
    if started is None or client is None or task is None:
        return
    try:
        WorkerMetrics(client).record_task(
            task.name, (state or "").lower(), time.monotonic() - started
        )
    except redis.RedisError as error:
        log.warning("metrics.task.unrecorded task=%s error=%s", task.name, error)


def _redis(task: Task) -> redis.Redis | None:
    resources = getattr(task.app, "resources", None)
    return getattr(getattr(resources, "store", None), "redis", None)


def _keep_our_logging(**_: Any) -> None:
    settings = getattr(current_app, "settings", None)
    if not is_configured() and settings is not None:
        configure_logging(settings, "worker")


@contextmanager
def provider_call(client: redis.Redis, provider: Provider, model: str | None) -> Iterator[None]:
    """Time one provider call and count it by provider, model and outcome."""
    known = [spec.id for spec in provider.models]
    label = model if model in known else (known[0] if model is None and known else OTHER)
    started, outcome = time.monotonic(), "error"
    try:
        yield
        outcome = "success"
    except Cancelled:
        outcome = "cancelled"
        raise
    finally:
        try:
            WorkerMetrics(client).record_provider_call(
                provider.name, label, outcome, time.monotonic() - started
            )
        except redis.RedisError as error:
            log.warning("metrics.provider.unrecorded provider=%s error=%s", provider.name, error)
