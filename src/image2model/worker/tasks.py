"""Celery tasks: ids in, load → delegate → map errors. Safe to run twice."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded

from image2model import meshes
from image2model.config import Settings
from image2model.errors import StorageFull, is_storage_full
from image2model.jobs import dispatch, maintenance, pipeline, transitions
from image2model.jobs.models import ItemStatus, Job
from image2model.jobs.pipeline import ItemContext
from image2model.jobs.transitions import Patch
from image2model.jobs.worker_store import WorkerStore
from image2model.providers.base import Cancelled, ProviderError
from image2model.worker.hooks import MeteredProvider

log = logging.getLogger(__name__)


@shared_task(bind=True, name="tasks.process_batch")
def process_batch(self: Task, job_id: str) -> None:
    """Fan a job out: one `generate_single_model` per unfinished item."""
    resources = self.app.resources
    store: WorkerStore = resources.store
    job = store.get(job_id)
    if job is None or job.status.is_terminal or store.is_dispatched(job_id):
        return
    queue = dispatch.generation_queue(store, resources.providers.get(job.options.provider))
    for item in job.items:
        if not item.status.is_terminal:
            dispatch.send_generation(self.app, queue, job_id, item.file_id)
    store.mark_dispatched(job_id)
    log.info("job.dispatched job_id=%s items=%d queue=%s", job_id, job.total, queue)


@shared_task(bind=True, name="tasks.generate_single_model")
def generate_single_model(self: Task, job_id: str, file_id: str) -> None:
    """Generate one item's model; a duplicate or late delivery finds nothing to do."""
    with _leased(self, job_id, file_id) as store:
        hand_over = store is not None and _generate(self, store, job_id, file_id)
    if hand_over:
        # Sent once the lease is released: sent sooner, the CPU worker could find the lease
        # still held and take its task for a duplicate.
        self.app.send_task("tasks.finish_model", args=[job_id, file_id])


@shared_task(bind=True, name="tasks.finish_model")
def finish_model(self: Task, job_id: str, file_id: str) -> None:
    """Post-process a model the I/O worker generated, on a CPU worker."""
    with _leased(self, job_id, file_id) as store:
        if store is None:
            return
        job = store.get(job_id)
        item = job.item(file_id) if job else None
        if job is None or item is None or item.status is not ItemStatus.PROCESSING:
            return  # cancelled meanwhile, or a duplicate of a finished one
        settings = self.app.settings
        context = ItemContext(
            store, job_id, file_id, settings.PROGRESS_MIN_INTERVAL, state=dict(item.provider_state)
        )
        _post_process(self, job, file_id, context)


@contextmanager
def _leased(task: Task, job_id: str, file_id: str) -> Iterator[WorkerStore | None]:
    """Hold the item's lease for the block (the store), or None: another worker holds it."""
    store: WorkerStore = task.app.resources.store
    holder = f"{socket.gethostname()}:{os.getpid()}:{task.request.id}"
    if not store.acquire_lease(job_id, file_id, holder):
        yield None
        return
    renewer = _LeaseRenewer(store, job_id, file_id, holder)
    renewer.start()
    try:
        yield store
    finally:
        renewer.stop()
        store.release_lease(job_id, file_id, holder)


def _generate(task: Task, store: WorkerStore, job_id: str, file_id: str) -> bool:
    """Generate and post-process the item; True: the generated model waits for a CPU worker
    to post-process it (on the I/O worker)."""
    job = store.get(job_id)
    item = job.item(file_id) if job else None
    if job is None or item is None:
        return False
    if item.status.is_terminal:
        if job.status.is_terminal:  # the close may have lost its follow-up: send it again
            task.app.send_task("tasks.finalize_batch", args=[job_id])
        return False
    store.clear_requeue(job_id, file_id)
    started = store.apply(job_id, file_id, transitions.start())
    if not started.applied:
        return False
    settings = task.app.settings
    if item.attempts + 1 > settings.ITEM_MAX_ATTEMPTS:
        message = f"Gave up after {item.attempts} interrupted attempts"
        _finish(task, store, job_id, file_id, transitions.fail("WORKER_LOST", message))
        return False
    context = ItemContext(
        store, job_id, file_id, settings.PROGRESS_MIN_INTERVAL, state=dict(item.provider_state)
    )
    resources = task.app.resources
    work_dir = resources.storage.work_dir(job_id, file_id)
    if pipeline.generated(context.state, work_dir) is None:  # else made before an interruption
        provider = resources.providers.get(job.options.provider)
        if provider is None:
            unset = f"Provider {job.options.provider} is not set"
            _finish(task, store, job_id, file_id, transitions.fail("PROVIDER_UNAVAILABLE", unset))
            return False
        metered = MeteredProvider(provider, store.redis)
        failure = _attempt(
            task,
            job_id,
            file_id,
            lambda: pipeline.generate_item(
                job, file_id, provider=metered, storage=resources.storage, context=context
            ),
        )
        if failure is not None:
            _finish(task, store, job_id, file_id, failure)
            return False
    if task.app.io_worker:
        return True
    _post_process(task, job, file_id, context)
    return False


def _post_process(task: Task, job: Job, file_id: str, context: ItemContext) -> None:
    """Turn the generated model into the item's results, and complete the item."""
    resources = task.app.resources
    store: WorkerStore = resources.store
    storage = resources.storage
    result = pipeline.generated(context.state, storage.work_dir(job.job_id, file_id))
    if result is None:  # its work directory is gone: generate again (a paid one resumes)
        provider = resources.providers.get(job.options.provider)
        queue = dispatch.generation_queue(store, provider)
        dispatch.send_generation(task.app, queue, job.job_id, file_id)
        return
    outcome = _attempt(
        task,
        job.job_id,
        file_id,
        lambda: pipeline.finish_item(job, file_id, result, storage=storage, context=context),
    )
    assert outcome is not None
    _finish(task, store, job.job_id, file_id, outcome)


def _attempt(
    task: Task, job_id: str, file_id: str, step: Callable[[], Patch | None]
) -> Patch | None:
    """Run one step of the item; its failure as the transition that ends the item."""
    try:
        return step()
    except Cancelled:
        return transitions.cancel()
    except (ProviderError, meshes.InvalidModel, StorageFull) as error:
        return transitions.fail(error.code, _without_paths(error.message, task.app.settings))
    except SoftTimeLimitExceeded:
        return transitions.fail("TIMEOUT", "Generation took longer than the time limit")
    except Exception as error:  # a bug must end the item visibly, not leave it processing
        log.exception("job.item.crashed job_id=%s file_id=%s", job_id, file_id)
        return transitions.fail(
            "INTERNAL_ERROR", f"Generation failed unexpectedly ({type(error).__name__})"
        )


def _without_paths(message: str, settings: Settings) -> str:
    """A failure as clients read it: this server's storage paths are not theirs to see."""
    for folder, name in (
        (settings.upload_dir, "UPLOAD_DIR"),
        (settings.results_dir, "RESULTS_DIR"),
        (settings.data_dir, "DATA_DIR"),
    ):
        message = message.replace(str(folder), name)
    return message


def _finish(task: Task, store: WorkerStore, job_id: str, file_id: str, patch: Patch) -> None:
    outcome = store.apply(job_id, file_id, patch)
    code = patch.error.code if patch.error else None
    status = patch.status.value if patch.status else None
    log.info("job.item.%s job_id=%s file_id=%s code=%s", status, job_id, file_id, code)
    if outcome.job_closed:
        task.app.send_task("tasks.finalize_batch", args=[job_id])


@shared_task(bind=True, name="tasks.finalize_batch")
def finalize_batch(self: Task, job_id: str) -> None:
    """After the job closed: write its manifest next to the results, drop scratch files."""
    resources = self.app.resources
    job = resources.store.get(job_id)
    if job is None:  # expired or deleted: nothing left to describe
        resources.store.mark_finalized(job_id)
        return
    if not job.status.is_terminal:
        return
    maintenance.drop_scratch(resources.storage, job_id)
    try:
        maintenance.write_manifest(resources.storage, job)
    except OSError as error:
        if not is_storage_full(error):
            raise
        # left unfinalized: the housekeeper sends this task again later
        log.warning("job.finalize.storage_full job_id=%s", job_id)
        return
    resources.store.mark_finalized(job_id)
    log.info("job.finalized job_id=%s status=%s", job_id, job.status.value)


@shared_task(bind=True, name="tasks.cleanup_old_files")
def cleanup_old_files(self: Task) -> int:
    """Delete uploads and results of jobs that ended more than RESULT_RETENTION ago."""
    resources = self.app.resources
    removed = maintenance.cleanup_old_files(
        resources.storage, resources.store, retention=self.app.settings.RESULT_RETENTION
    )
    log.info("maintenance.cleanup removed=%d", removed)
    return removed


class _LeaseRenewer(threading.Thread):
    """Keeps the item's lease alive while this process works on it."""

    def __init__(self, store: WorkerStore, job_id: str, file_id: str, holder: str) -> None:
        super().__init__(name="lease-renewer", daemon=True)
        self.args_ = (job_id, file_id, holder)
        self.store = store
        self.stopped = threading.Event()

    def run(self) -> None:
        interval = self.store.lease_ms / 3000
        while not self.stopped.wait(interval):
            self.store.renew_lease(*self.args_)

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=5)
