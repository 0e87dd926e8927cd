"""Work on finished jobs' files: manifests and retention."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from image2model.jobs.models import Job
from image2model.jobs.store import WorkerStore
from image2model.storage import SCRATCH, Storage, atomic_write_bytes, is_id

MANIFEST = "manifest.json"


def write_manifest(storage: Storage, job: Job) -> Path:
    """Describe a finished job next to its results, so the files explain themselves."""
    path = storage.result_path(job.job_id, MANIFEST)
    document = job.model_dump(mode="json", exclude={"owner"})
    for item in document["items"]:
        item.pop("provider_state", None)
    atomic_write_bytes(path, json.dumps(document, indent=2).encode())
    return path


def drop_scratch(storage: Storage, job_id: str) -> None:
    """Remove the providers' work folders once nothing runs for the job any more."""
    shutil.rmtree(storage.result_path(job_id, SCRATCH), ignore_errors=True)


def cleanup_old_files(storage: Storage, store: WorkerStore, *, retention: float) -> int:
    """Remove job folders older than `retention` seconds whose job is not running."""
    cutoff = time.time() - retention
    removed = 0
    for root in (storage.upload_dir, storage.results_dir):
        if not root.is_dir():
            continue
        for folder in root.iterdir():
            if not (folder.is_dir() and is_id(folder.name)):
                continue
            if _finished_at(folder) > cutoff or store.is_active(folder.name):
                continue
            storage.delete_job(folder.name)
            removed += 1
    return removed


def _finished_at(folder: Path) -> float:
    manifest = folder / MANIFEST
    if manifest.is_file():
        finished = json.loads(manifest.read_text()).get("finished_at")
        if finished:
            return float(finished)
    return max((p.stat().st_mtime for p in folder.rglob("*")), default=folder.stat().st_mtime)
