"""Finding items whose worker died and putting them back on the queue."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping

from image2model.jobs.dispatch import (
    GENERATION_QUEUE,
    TaskSender,
    generation_queue,
    send_generation,
)
from image2model.jobs.models import Item, ItemStatus, JobStatus
from image2model.jobs.pipeline import GENERATED
from image2model.jobs.worker_store import WorkerStore
from image2model.providers.base import Provider

log = logging.getLogger(__name__)

GENERATE = "tasks.generate_single_model"
FINISH = "tasks.finish_model"

UNDISPATCHED_GRACE_SECONDS = 30.0
"""A queued job not fanned out after this long lost its `process_batch` message."""
QUEUED_GRACE_LEASES = 3
"""A queued item of a fanned-out job, with no message waiting on the queue, is sent again after
this many lease periods: its message was lost (a Redis restart) or sits with a worker that
died. A message only held back by a busy worker makes the resend a duplicate, which does
nothing."""
FINALIZE_GRACE_LEASES = 3
"""A closed job whose manifest is not written after this many lease periods (30 s at the
default lease) gets `finalize_batch` again: its message was lost, or it failed on a full
disk. A resend that races the first message writes the same manifest again."""


def recover_stalled(
    store: WorkerStore,
    sender: TaskSender,
    *,
    lease_seconds: float,
    providers: Mapping[str, Provider],
) -> int:
    """Re-enqueue items that have no way forward; return how many.

    That is an item marked processing whose lease expired (its worker died), and a queued
    item whose message is nowhere to be seen (see `QUEUED_GRACE_LEASES`).
    """
    queued_grace = QUEUED_GRACE_LEASES * lease_seconds
    requeued = 0
    # looked up once per sweep, and only when needed
    queue_of = functools.cache(lambda name: generation_queue(store, providers.get(name)))
    idle = functools.cache(store.queue_is_empty)
    for job_id in store.active_jobs():
        job = store.get(job_id)
        if job is None:
            continue
        age = time.time() - job.created_at
        if job.status is JobStatus.QUEUED and not store.is_dispatched(job_id):
            if age > UNDISPATCHED_GRACE_SECONDS:
                if store.claim_requeue(job_id, "batch"):
                    sender.send_task("tasks.process_batch", args=[job_id])
            continue
        queue = queue_of(job.options.provider)
        for item in job.items:
            waited = age > queued_grace
            step = _stalled_step(store, job_id, item, waited=waited, idle=idle, queue=queue)
            if step is None or not store.claim_requeue(job_id, item.file_id):
                continue
            log.warning(
                "job.item.requeued job_id=%s file_id=%s task=%s",
                job_id,
                item.file_id,
                step,
                extra={"job_id": job_id, "request_id": job.request_id},
            )
            if step == FINISH:
                sender.send_task(FINISH, args=[job_id, item.file_id], queue=GENERATION_QUEUE)
            else:
                send_generation(sender, queue, job_id, item.file_id)
            requeued += 1
    return requeued


def _stalled_step(
    store: WorkerStore,
    job_id: str,
    item: Item,
    *,
    waited: bool,
    idle: Callable[[str], bool],
    queue: str,
) -> str | None:
    """The task an item with no way forward needs again, or None if it has one.

    Stalled: processing with no lease (its worker died; a generated model waiting for
    post-processing only once nothing waits on the CPU queue, where its message sits), or
    queued past the grace with nothing waiting on its queue (its message is lost or held by
    a dead worker)."""
    if item.status is ItemStatus.PROCESSING:
        if store.is_leased(job_id, item.file_id):
            return None
        if GENERATED in item.provider_state:
            return FINISH if idle(GENERATION_QUEUE) else None
        return GENERATE
    if item.status is ItemStatus.QUEUED and waited and idle(queue):
        return GENERATE
    return None


def refinalize(store: WorkerStore, sender: TaskSender, *, lease_seconds: float) -> int:
    """Send `finalize_batch` again for closed jobs that have not been finalized; how many."""
    sent = 0
    closed_before = time.time() - FINALIZE_GRACE_LEASES * lease_seconds
    for job_id in store.unfinalized(closed_before=closed_before):
        if store.claim_requeue(job_id, "finalize"):
            log.warning("job.finalize.resent job_id=%s", job_id, extra={"job_id": job_id})
            sender.send_task("tasks.finalize_batch", args=[job_id])
            sent += 1
    return sent
