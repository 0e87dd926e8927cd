"""Finding items whose worker died and putting them back on the queue."""

from __future__ import annotations

import logging
import time
from typing import Protocol

from image2model.jobs.models import ItemStatus, JobStatus
from image2model.jobs.worker_store import WorkerStore

log = logging.getLogger(__name__)

UNDISPATCHED_GRACE_SECONDS = 30.0
"""A queued job not fanned out after this long lost its `process_batch` message."""


class TaskSender(Protocol):
    def send_task(self, name: str, args: list[str]) -> object: ...


def recover_stalled(store: WorkerStore, sender: TaskSender) -> int:
    """Re-enqueue items marked processing whose lease expired; return how many."""
    requeued = 0
    for job_id in store.active_jobs():
        job = store.get(job_id)
        if job is None:
            continue
        if job.status is JobStatus.QUEUED and not store.is_dispatched(job_id):
            if time.time() - job.created_at > UNDISPATCHED_GRACE_SECONDS:
                if store.claim_requeue(job_id, "batch"):
                    sender.send_task("tasks.process_batch", args=[job_id])
            continue
        for item in job.items:
            if item.status is not ItemStatus.PROCESSING or store.is_leased(job_id, item.file_id):
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
