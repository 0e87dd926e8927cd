"""Finding, converting and bundling a finished job's files; names come from the job, not clients."""

from __future__ import annotations

import contextlib
import mimetypes
import os
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from image2model import meshes
from image2model.errors import Conflict, ConversionFailed, Gone, InvalidField, NotFound
from image2model.jobs.models import Item, ItemStatus, Job
from image2model.storage import Storage

MEDIA_TYPES = {
    "glb": "model/gltf-binary",
    "obj": "application/zip",
    "stl": "model/stl",
    "ply": "application/octet-stream",
    "3mf": "model/3mf",
    "usdz": "model/vnd.usdz+zip",
    "fbx": "application/octet-stream",
    "png": "image/png",
    "webp": "image/webp",
    "gif": "image/gif",
    "zip": "application/zip",
}
ModelFormat = Literal["glb", "obj", "stl", "ply", "3mf", "usdz", "fbx"]
LISTED_FORMATS: tuple[ModelFormat, ...] = ("glb", "obj", "stl", "ply", "3mf", "usdz", "fbx")
PRINT_FORMATS: tuple[ModelFormat, ...] = ("stl", "3mf")
TURNTABLES = {"turntable": "webp", "turntable_gif": "gif"}
"""The two files of a model's turntable, rendered on first request."""
PROVIDED_AS_IS: tuple[ModelFormat, ...] = ("usdz", "fbx")
"""Formats in which a file the model's service returned is served instead of a conversion
(theirs may carry what our GLB lost: rigs, PBR maps, their own AR tuning)."""


def completed_items(job: Job) -> list[Item]:
    return [i for i in job.items if i.status is ItemStatus.COMPLETED and i.model_file]


def format_warnings(item: Item) -> dict[str, str]:
    """What a slicer will make of the model's STL or 3MF, when it is not simply printable."""
    report = item.stats.printability if item.stats else None
    if report is None:
        return {}
    if not report.watertight:
        warning = "The mesh is not closed: a slicer may refuse it or fill its holes by guessing"
    elif not report.winding_consistent:
        warning = "Some faces point inwards: a slicer may print the wrong side of them"
    else:
        return {}
    return dict.fromkeys(PRINT_FORMATS, warning)


def expired(storage: Storage, job: Job) -> bool:
    """Whether the job's files are gone: cleaned up by retention, or removed behind our back."""
    if job.results_expired_at is not None:
        return True
    return bool(completed_items(job)) and not storage.result_dir(job.job_id).is_dir()


def _gone(job: Job) -> Gone:
    return Gone(
        "The results of this job expired and were removed",
        details={"job_id": job.job_id, "results_expired_at": job.results_expired_at},
    )


@contextlib.contextmanager
def _files_of(job: Job) -> Iterator[None]:
    """A file that vanishes while it is read (cleanup ran meanwhile) is expiry, not a crash."""
    try:
        yield
    except FileNotFoundError:
        raise _gone(job) from None


def check_format(fmt: str) -> str:
    fmt = fmt.lower()
    if fmt not in meshes.FORMATS:
        raise InvalidField(
            f"Unknown format {fmt[:20]!r}",
            details={"field": "format", "allowed": list(meshes.FORMATS)},
        )
    return fmt


def resolve(
    storage: Storage,
    job: Job,
    filename: str,
    fmt: str | None,
    tools: meshes.Tools,
    size_mm: float | None = None,
) -> tuple[Path, str]:
    """The file behind `filename` of `job` (converted to `fmt` if asked, at `size_mm` for a
    print format) and its media type; 410 when the job's files expired, 422 when this server
    cannot make the format."""
    for item in completed_items(job):
        kind = _kind(item, filename)
        if kind is None or (kind in ("preview", "output", *TURNTABLES) and fmt is not None):
            continue
        target = check_format(fmt) if fmt else kind
        if size_mm is not None and target not in meshes.SIZED:
            raise InvalidField(
                f"size_mm applies to format={' or '.join(meshes.SIZED)} only",
                details={"field": "size_mm", "formats": list(meshes.SIZED)},
            )
        if expired(storage, job):
            raise _gone(job)
        with _files_of(job):
            if kind == "preview":
                return _existing(storage.result_path(job.job_id, filename)), MEDIA_TYPES["png"]
            if kind in TURNTABLES:
                assert item.model_file is not None
                glb = _existing(storage.result_path(job.job_id, item.model_file))
                return meshes.turntable(glb, TURNTABLES[kind]), MEDIA_TYPES[TURNTABLES[kind]]
            if kind == "output":
                path = _existing(storage.result_path(job.job_id, filename))
                return path, mimetypes.guess_type(filename)[0] or "application/octet-stream"
            return model_in(storage, job, item, target, tools, size_mm), MEDIA_TYPES[target]
    raise NotFound("File not found", error_code="FILE_NOT_FOUND")


def provided(item: Item, fmt: str) -> str | None:
    """The file the model's service returned in `fmt`, where we serve theirs as it came."""
    if fmt not in PROVIDED_AS_IS:
        return None
    return next((o.file for o in item.outputs if o.file.lower().endswith(f".{fmt}")), None)


def listed_formats(item: Item, unavailable: dict[str, str]) -> list[ModelFormat]:
    """The formats the item's model downloads in here: all, less those this server cannot
    make and the model's service did not return."""
    return [f for f in LISTED_FORMATS if f not in unavailable or provided(item, f)]


def model_in(
    storage: Storage,
    job: Job,
    item: Item,
    fmt: str,
    tools: meshes.Tools,
    size_mm: float | None = None,
) -> Path:
    """The item's model as `fmt`: the file the model's service returned in that format, as
    it came, if there is one; else converted from the GLB (once, then cached)."""
    kept = provided(item, fmt)
    if kept is not None:
        return _existing(storage.result_path(job.job_id, kept))
    assert item.model_file is not None
    glb = _existing(storage.result_path(job.job_id, item.model_file))
    try:
        return meshes.convert(glb, fmt, tools, size_mm=size_mm)
    except meshes.FormatUnavailable as error:
        raise InvalidField(str(error), details={"field": "format", "unavailable": fmt}) from None
    except meshes.ConversionFailed as error:
        raise ConversionFailed(
            f"The model could not be written as {fmt}: {error}", details={"format": fmt}
        ) from None


def holds(job: Job, filename: str) -> bool:
    """Whether `filename` is one of the finished job's files."""
    return any(_kind(item, filename) is not None for item in completed_items(job))


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise FileNotFoundError(path)
    return path


def download_name(stem: str, fmt: str) -> str:
    """What a model is called for the client: OBJ comes as a ZIP with its MTL and texture."""
    return f"{stem}.zip" if fmt == "obj" else f"{stem}.{fmt}"


def turntable_name(item: Item, kind: str) -> str:
    """What the item's turntable is called: `<stem>.turntable.webp` (or `.gif`)."""
    return f"{item.stem}.turntable.{kind}"


def _kind(item: Item, filename: str) -> str | None:
    if filename == item.preview_file:
        return "preview"
    for kind, image in TURNTABLES.items():
        if filename == turntable_name(item, image):
            return kind
    if any(filename == output.file for output in item.outputs):
        return "output"
    for fmt in meshes.FORMATS:
        if filename in (download_name(item.stem, fmt), f"{item.stem}.{fmt}"):
            return fmt
    return None


def bundle(storage: Storage, job: Job, fmt: str, tools: meshes.Tools) -> Path:
    """Every model of a finished job in one format, as a ZIP (cached; results no longer change)."""
    if not job.status.is_terminal:
        raise Conflict("The job is still running", details={"status": job.status.value})
    items = completed_items(job)
    if not items:
        raise NotFound("This job has no models", error_code="NO_MODELS")
    if expired(storage, job):
        raise _gone(job)
    target = storage.result_path(job.job_id, f".all-{fmt}.zip")
    if target.exists():
        return target
    with _files_of(job):
        # A private partial file per request: concurrent first downloads never share one.
        handle, partial = tempfile.mkstemp(prefix=f"{target.name}.", dir=target.parent)
        os.close(handle)
        try:
            with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
                for item in items:
                    model = model_in(storage, job, item, fmt, tools)
                    archive.write(model, download_name(item.stem, fmt))
            os.replace(partial, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)
    return target
