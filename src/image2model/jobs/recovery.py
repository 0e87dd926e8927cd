"""Finding items whose worker died and putting them back on the queue."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Protocol

from image2model.jobs.models import Item, ItemStatus, JobStatus
from image2model.jobs.worker_store import WorkerStore

log = logging.getLogger(__name__)

UNDISPATCHED_GRACE_SECONDS = 30.0
"""A queued job not fanned out after this long lost its `process_batch` message."""
QUEUED_GRACE_LEASES = 3
"""A queued item of a fanned-out job, with no message waiting on the queue, is sent again after
this many lease periods: its message was lost (a Redis restart) or sits with a worker that
died. A message only held back by a busy worker makes the resend a duplicate, which does
nothing."""
GENERATION_QUEUE = "model_generation"
FINALIZE_GRACE_SECONDS = 30.0
"""A closed job whose manifest is not written after this long gets `finalize_batch` again
(its message was lost, or it failed on a full disk)."""


class TaskSender(Protocol):
    def send_task(self, name: str, args: list[str]) -> object: ...


def recover_stalled(store: WorkerStore, sender: TaskSender, *, lease_seconds: float) -> int:
    """Re-enqueue items that have no way forward; return how many.

    That is an item marked processing whose lease expired (its worker died), and a queued
    item whose message is nowhere to be seen (see `QUEUED_GRACE_LEASES`).
    """
    queued_grace = QUEUED_GRACE_LEASES * lease_seconds
    requeued = 0
    # looked up once per sweep, and only when a queued item has waited long enough
    queue_idle = functools.cache(lambda: store.queue_is_empty(GENERATION_QUEUE))
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
        for item in job.items:
            waited = age > queued_grace
            if not _stalled(store, job_id, item, waited=waited, queue_idle=queue_idle):
                continue
            if store.claim_requeue(job_id, item.file_id):
                log.warning(
                    "job.item.requeued job_id=%s file_id=%s",
                    job_id,
                    item.file_id,
                    extra={"job_id": job_id, "request_id": job.request_id},
                )
                sender.send_task("tasks.generate_single_model", args=[job_id, item.file_id])
                requeued += 1
    return requeued


def _stalled(
    store: WorkerStore, job_id: str, item: Item, *, waited: bool, queue_idle: Callable[[], bool]
) -> bool:
    """Processing with no lease (its worker died), or queued past the grace with nothing
    waiting on the queue (its message is lost or held by a dead worker)."""
    if item.status is ItemStatus.PROCESSING:
        return not store.is_leased(job_id, item.file_id)
    return item.status is ItemStatus.QUEUED and waited and queue_idle()


def refinalize(store: WorkerStore, sender: TaskSender) -> int:
    """Send `finalize_batch` again for closed jobs that have not been finalized; how many."""
    sent = 0
    for job_id in store.unfinalized(closed_before=time.time() - FINALIZE_GRACE_SECONDS):
        if store.claim_requeue(job_id, "finalize"):
            log.warning("job.finalize.resent job_id=%s", job_id, extra={"job_id": job_id})
            sender.send_task("tasks.finalize_batch", args=[job_id])
            sent += 1
    return sent
