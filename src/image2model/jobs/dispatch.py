"""Which queue an item's generation goes to.

A provider that mostly waits on a remote service (`io_bound`, e.g. fal) runs on the I/O
worker (`image2model worker --io`: threads, two per FAL_MAX_CONCURRENCY slot), so a request in
flight holds a thread, not a worker process; its post-processing comes back to the CPU
workers (`tasks.finish_model`). Without a live I/O worker, or for a CPU-bound provider (the
offline generator), the whole item runs on the CPU workers, as it always could.
"""

from __future__ import annotations

from typing import Protocol

from image2model.jobs.worker_store import WorkerStore
from image2model.providers.base import Provider

GENERATION_QUEUE = "model_generation"
IO_QUEUE = "provider_io"
IO_WORKER_PREFIX = "image2model-io-"
"""How an I/O worker's Celery hostname starts (and so its heartbeat in the workers set)."""


class TaskSender(Protocol):
    def send_task(self, name: str, args: list[str], queue: str | None = None) -> object: ...


def is_io_bound(provider: Provider | None) -> bool:
    return bool(getattr(provider, "io_bound", False))


def generation_queue(store: WorkerStore, provider: Provider | None) -> str:
    """Where `generate_single_model` goes for an item of `provider`."""
    if is_io_bound(provider) and store.workers_alive(IO_WORKER_PREFIX):
        return IO_QUEUE
    return GENERATION_QUEUE


def send_generation(sender: TaskSender, queue: str, job_id: str, file_id: str) -> None:
    sender.send_task("tasks.generate_single_model", args=[job_id, file_id], queue=queue)
