"""Work on finished jobs' files: manifests and retention."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from image2model.jobs.models import Job
from image2model.jobs.worker_store import WorkerStore
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


@dataclass(frozen=True)
class OldJob:
    """A finished job whose files are past retention."""

    job_id: str
    finished_at: float
    folders: tuple[Path, ...]
    size_bytes: int
    file_count: int


def cleanup_old_files(storage: Storage, store: WorkerStore, *, retention: float) -> int:
    """Remove job folders older than `retention` seconds whose job is not running."""
    removed = cleanup_old_jobs(
        storage,
        retention=retention,
        is_active=store.is_active,
        mark_expired=store.mark_results_expired,
    )
    return sum(len(job.folders) for job in removed)


def cleanup_old_jobs(
    storage: Storage,
    *,
    retention: float,
    is_active: Callable[[str], bool],
    mark_expired: Callable[[str], None],
    dry_run: bool = False,
) -> list[OldJob]:
    """The jobs whose newest file is older than `retention` s; deleted unless `dry_run`.

    A job still known to the store is marked expired before its files go, so a reader sees
    either every file or a job whose results expired, never a job with files missing.
    """
    cutoff = time.time() - retention
    found = []
    for job_id, folders in _job_folders(storage).items():
        finished = max(_finished_at(folder) for folder in folders)
        if finished > cutoff or is_active(job_id):
            continue
        sizes = [_tree_usage(folder) for folder in folders]
        size, count = sum(s for s, _ in sizes), sum(n for _, n in sizes)
        found.append(OldJob(job_id, finished, tuple(folders), size, count))
        if not dry_run:
            mark_expired(job_id)
            storage.delete_job(job_id)
    return sorted(found, key=lambda job: job.finished_at)


def _job_folders(storage: Storage) -> dict[str, list[Path]]:
    folders: dict[str, list[Path]] = {}
    for root in (storage.upload_dir, storage.results_dir):
        if not root.is_dir():
            continue
        for folder in root.iterdir():
            if is_id(folder.name) and folder.is_dir() and not folder.is_symlink():
                folders.setdefault(folder.name, []).append(folder)
    return folders


def _tree_usage(folder: Path) -> tuple[int, int]:
    """Bytes and files under `folder`."""
    total = count = 0
    for parent, _, names in os.walk(folder):
        for name in names:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(parent, name)).st_size
                count += 1
    return total, count


def _finished_at(folder: Path) -> float:
    manifest = folder / MANIFEST
    if manifest.is_file():
        finished = json.loads(manifest.read_text()).get("finished_at")
        if finished:
            return float(finished)
    return max((p.lstat().st_mtime for p in folder.rglob("*")), default=folder.lstat().st_mtime)
