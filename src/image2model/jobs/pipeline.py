"""One item, start to end: prepare, generate, post-process, record."""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from typing import Any

from image2model import meshes
from image2model.jobs.models import ItemStatus, Job, JobOptions
from image2model.jobs.worker_store import WorkerStore
from image2model.ops.celery_hooks import provider_call
from image2model.providers.base import (
    Cancelled,
    GenerationRequest,
    Provider,
    ProviderError,
)
from image2model.storage import Storage

log = logging.getLogger(__name__)

PROVIDER_SPAN = (5.0, 90.0)
"""Share of an item's progress bar given to the provider; the rest is ours."""
RETRY_DELAYS = (2.0, 8.0, 30.0)


@dataclass
class ItemContext:
    """The provider's view of the running item: throttled progress and saved state."""

    store: WorkerStore
    job_id: str
    file_id: str
    min_interval: float
    state: dict[str, Any] = field(default_factory=dict)
    _last_report: float = 0.0
    _last_cancel_check: float = 0.0
    _cancelled: bool = False

    def report(self, progress: float, message: str) -> None:
        now = time.monotonic()
        if now - self._last_report < self.min_interval and progress < 100:
            return
        self._last_report = now
        low, high = PROVIDER_SPAN
        scaled = low + (high - low) * max(0.0, min(progress, 100.0)) / 100.0
        self.progress(int(scaled), message)

    def progress(self, progress: int, message: str) -> None:
        self.store.update_item(
            self.job_id, self.file_id, {"progress": progress, "message": message}
        )

    def load_state(self) -> dict[str, Any]:
        return dict(self.state)

    def save_state(self, state: dict[str, Any]) -> None:
        """Persist `state`; Cancelled if the item ended meanwhile (checked atomically, so a
        provider that saves before paying never pays for a cancelled item)."""
        self.state = dict(state)
        saved = self.store.update_item(self.job_id, self.file_id, {"provider_state": self.state})
        if not saved.applied:
            self._cancelled = True
            raise Cancelled

    def is_cancelled(self) -> bool:
        now = time.monotonic()
        if not self._cancelled and now - self._last_cancel_check >= 1.0:
            self._last_cancel_check = now
            job = self.store.get(self.job_id)
            item = job.item(self.file_id) if job else None
            self._cancelled = item is None or item.status is ItemStatus.CANCELLED
        return self._cancelled


def run_item(
    job: Job, file_id: str, *, provider: Provider, storage: Storage, context: ItemContext
) -> dict[str, Any]:
    """Make the item's model and return the patch that completes it."""
    item = job.item(file_id)
    assert item is not None
    work_dir = storage.work_dir(job.job_id, file_id)
    work_dir.mkdir(parents=True, exist_ok=True)
    options = job.options
    request = GenerationRequest(
        image_path=storage.upload_path(job.job_id, item.stored_name),
        work_dir=work_dir,
        face_limit=options.face_limit,
        texture=options.texture not in (False, "no", "false"),
        model=options.model,
        seed=options.seed,
        options=_chosen_options(options),
    )
    try:
        context.progress(int(PROVIDER_SPAN[0]), f"Generating with {provider.name}")
        result = _generate_with_retries(provider, request, context)
        context.progress(int(PROVIDER_SPAN[1]), "Post-processing model")
        final = meshes.finalize_model(
            result.model_path,
            storage.result_dir(job.job_id),
            item.stem,
            face_limit=options.face_limit,
            face_limit_applied=result.face_limit_applied,
            preview=result.preview_path,
        )
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    stats = final.stats
    return {
        "status": ItemStatus.COMPLETED.value,
        "message": f"Model ready ({stats.faces} faces)",
        "model_file": final.glb_path.name,
        "preview_file": final.preview_path.name,
        "model_size": final.glb_path.stat().st_size,
        "preview_size": final.preview_path.stat().st_size,
        "stats": {
            "vertices": stats.vertices,
            "faces": stats.faces,
            "watertight": stats.watertight,
            "bounds": stats.bounds,
        },
    }


def _chosen_options(options: JobOptions) -> dict[str, Any]:
    typed = options.model_dump(include={"face_limit", "texture", "pbr", "seed"})
    return {**{k: v for k, v in typed.items() if v is not None}, **options.extra}


def _generate_with_retries(
    provider: Provider, request: GenerationRequest, context: ItemContext
) -> Any:
    for delay in (*RETRY_DELAYS, None):
        try:
            with provider_call(context.store.redis, provider, request.model):
                return provider.generate(request, context)
        except ProviderError as error:
            if not error.retryable or delay is None:
                raise
            log.warning("job.item.retry code=%s delay=%.0fs", error.code, delay)
            context.progress(int(PROVIDER_SPAN[0]), f"{error.message}; retrying in {delay:.0f} s")
            _sleep_unless_cancelled(delay, context)
    raise AssertionError("unreachable")


def _sleep_unless_cancelled(seconds: float, context: ItemContext) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if context.is_cancelled():
            raise Cancelled
        time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))


def failure_patch(code: str, message: str) -> dict[str, Any]:
    return {
        "status": ItemStatus.FAILED.value,
        "message": message,
        "error": {"code": code, "message": message},
    }
