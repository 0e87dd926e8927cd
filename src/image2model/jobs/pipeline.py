"""One item in a worker: its request from the job, the shared generation steps, its patch."""

from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from image2model.generation import finish, generate, scaled
from image2model.jobs import transitions
from image2model.jobs.models import ItemStatus, Job, ModelStats, Output
from image2model.jobs.transitions import Patch
from image2model.jobs.worker_store import WorkerStore
from image2model.providers.base import Cancelled, GenerationRequest, GenerationResult, Provider
from image2model.storage import Storage


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
        self.step(scaled(progress), message)

    def step(self, progress: float, message: str) -> None:
        self.store.apply(self.job_id, self.file_id, transitions.report(int(progress), message))

    def load_state(self) -> dict[str, Any]:
        return dict(self.state)

    def save_state(self, state: dict[str, Any]) -> None:
        """Persist `state`; Cancelled if the item ended meanwhile (checked atomically, so a
        provider that saves before paying never pays for a cancelled item)."""
        self.state = dict(state)
        saved = self.store.apply(self.job_id, self.file_id, transitions.save_state(self.state))
        if not saved.applied:
            self._cancelled = True
            raise Cancelled

    def is_cancelled(self) -> bool:
        now = time.monotonic()
        if not self._cancelled and now - self._last_cancel_check >= 1.0:
            self._last_cancel_check = now
            item = self.store.item(self.job_id, self.file_id)
            self._cancelled = item is None or item.status is ItemStatus.CANCELLED
        return self._cancelled


_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
GENERATED = "generated"
"""The provider_state key of a generated model waiting for post-processing: file names in the
item's work directory, so the step after it runs on any worker that shares DATA_DIR."""


def request_for(job: Job, file_id: str, storage: Storage) -> GenerationRequest:
    item = job.item(file_id)
    assert item is not None
    return GenerationRequest(
        image_path=storage.upload_path(job.job_id, item.stored_name),
        views={v.role: storage.upload_path(job.job_id, v.stored_name) for v in item.views},
        work_dir=storage.work_dir(job.job_id, file_id),
        face_limit=job.options.face_limit,
        model=job.options.model,
        options=job.options.model_options(),
    )


def generate_item(
    job: Job, file_id: str, *, provider: Provider, storage: Storage, context: ItemContext
) -> None:
    """Run the provider and record what it made on the item; post-processing comes next."""
    request = request_for(job, file_id, storage)
    request.work_dir.mkdir(parents=True, exist_ok=True)
    result = generate(provider, request, context)
    made = {
        "model": result.model_path.relative_to(request.work_dir).as_posix(),
        "preview": (
            result.preview_path.relative_to(request.work_dir).as_posix()
            if result.preview_path is not None
            else None
        ),
        "face_limit_applied": result.face_limit_applied,
        "shape": result.shape,
        "outputs": {
            name: path.relative_to(request.work_dir).as_posix()
            for name, path in result.outputs.items()
        },
    }
    context.save_state({**context.state, GENERATED: made})


def generated(state: dict[str, Any], work_dir: Path) -> GenerationResult | None:
    """The generated model recorded in an item's `state`, if its files are still there."""
    made = state.get(GENERATED)
    if not isinstance(made, dict):
        return None
    model = work_dir / str(made["model"])
    preview = work_dir / str(made["preview"]) if made.get("preview") else None
    outputs = {str(k): work_dir / str(v) for k, v in (made.get("outputs") or {}).items()}
    files = [model, *([preview] if preview else []), *outputs.values()]
    if not all(path.is_file() for path in files):
        return None
    return GenerationResult(
        model_path=model,
        preview_path=preview,
        face_limit_applied=bool(made.get("face_limit_applied")),
        outputs=outputs,
        shape=made.get("shape"),
    )


def finish_item(
    job: Job, file_id: str, result: GenerationResult, *, storage: Storage, context: ItemContext
) -> Patch:
    """Post-process the generated model into the results; the transition that completes the
    item. The work directory is removed either way."""
    item = job.item(file_id)
    assert item is not None
    request = request_for(job, file_id, storage)
    result_dir = storage.result_dir(job.job_id)
    try:
        final = finish(result, request, context, result_dir=result_dir, stem=item.stem)
        outputs = keep_outputs(result.outputs, result_dir, item.stem)
    finally:
        shutil.rmtree(request.work_dir, ignore_errors=True)
    return transitions.complete(
        model_file=final.glb_path.name,
        preview_file=final.preview_path.name,
        model_size=final.glb_path.stat().st_size,
        preview_size=final.preview_path.stat().st_size,
        stats=ModelStats(**asdict(final.stats), shape=result.shape),
        outputs=outputs,
    )


def keep_outputs(files: dict[str, Path], result_dir: Path, stem: str) -> list[Output]:
    """The provider's other files moved into the results as `<stem>-<where>.<ext>` (and a
    number where two places read alike once made safe for a file name)."""
    kept: list[Output] = []
    taken: set[str] = set()
    for name, path in files.items():
        base = f"{stem}-{_UNSAFE.sub('-', name)[:80]}"
        filename = next(
            f"{base}{tail}{path.suffix}"
            for tail in ("", *(f"-{n}" for n in range(2, len(files) + 2)))
            if f"{base}{tail}{path.suffix}" not in taken
        )
        taken.add(filename)
        target = result_dir / filename
        os.replace(path, target)
        kept.append(Output(name=name, file=target.name, size=target.stat().st_size))
    return kept
