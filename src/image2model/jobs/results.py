"""Finding, converting and bundling a finished job's files; names come from the job, not clients."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Literal

from image2model import meshes
from image2model.errors import Conflict, InvalidField, NotFound
from image2model.jobs.models import Item, ItemStatus, Job
from image2model.storage import Storage

MEDIA_TYPES = {
    "glb": "model/gltf-binary",
    "obj": "application/zip",
    "stl": "model/stl",
    "ply": "application/octet-stream",
    "png": "image/png",
    "zip": "application/zip",
}
ModelFormat = Literal["glb", "obj", "stl", "ply"]
LISTED_FORMATS: tuple[ModelFormat, ...] = ("glb", "obj", "stl", "ply")


def completed_items(job: Job) -> list[Item]:
    return [i for i in job.items if i.status is ItemStatus.COMPLETED and i.model_file]


def check_format(fmt: str) -> str:
    fmt = fmt.lower()
    if fmt not in meshes.FORMATS:
        raise InvalidField(
            f"Unknown format {fmt[:20]!r}",
            details={"field": "format", "allowed": list(meshes.FORMATS)},
        )
    return fmt


def resolve(storage: Storage, job: Job, filename: str, fmt: str | None) -> tuple[Path, str]:
    """The file behind `filename` of `job` (converted to `fmt` if asked) and its media type."""
    for item in completed_items(job):
        kind = _kind(item, filename)
        if kind == "preview" and fmt is None:
            return storage.result_path(job.job_id, filename), MEDIA_TYPES["png"]
        if kind is not None and kind != "preview":
            assert item.model_file is not None
            target = check_format(fmt) if fmt else kind
            glb = storage.result_path(job.job_id, item.model_file)
            return meshes.convert(glb, target), MEDIA_TYPES[target]
    raise NotFound("File not found", error_code="FILE_NOT_FOUND")


def download_name(stem: str, fmt: str) -> str:
    """What a model is called for the client: OBJ comes as a ZIP with its MTL and texture."""
    return f"{stem}.zip" if fmt == "obj" else f"{stem}.{fmt}"


def _kind(item: Item, filename: str) -> str | None:
    if filename == item.preview_file:
        return "preview"
    for fmt in meshes.FORMATS:
        if filename in (download_name(item.stem, fmt), f"{item.stem}.{fmt}"):
            return fmt
    return None


def bundle(storage: Storage, job: Job, fmt: str) -> Path:
    """Every model of a finished job in one format, as a ZIP (cached; results no longer change)."""
    if not job.status.is_terminal:
        raise Conflict("The job is still running", details={"status": job.status.value})
    items = completed_items(job)
    if not items:
        raise NotFound("This job has no models", error_code="NO_MODELS")
    target = storage.result_path(job.job_id, f".all-{fmt}.zip")
    if target.exists():
        return target
    partial = target.with_name(f"{target.name}.partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for item in items:
            assert item.model_file is not None
            glb = storage.result_path(job.job_id, item.model_file)
            archive.write(meshes.convert(glb, fmt), download_name(item.stem, fmt))
    partial.replace(target)
    return target
