"""Where uploads and results live on disk. Only server-made names ever become paths."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import unicodedata
import uuid
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
MAX_STEM = 64
SCRATCH = ".work"


def new_id() -> str:
    return str(uuid.uuid4())


def is_id(value: str) -> bool:
    """True for ids this server makes (lower-case UUID4); nothing else reaches a path."""
    return bool(_ID.match(value))


def safe_stem(filename: str | None, fallback: str = "model") -> str:
    """A readable, path-free base name from a client's file name (`../A B.jpg` → `A_B`)."""
    name = unicodedata.normalize("NFKD", filename or "").encode("ascii", "ignore").decode()
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    stem = name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name
    stem = _UNSAFE.sub("_", stem).strip("._-")[:MAX_STEM].strip("._-")
    return stem or fallback


def unique_stems(filenames: list[str | None]) -> list[str]:
    """Safe stems, made unique within one job (`chair`, `chair-2`, …)."""
    seen: dict[str, int] = {}
    stems = []
    for name in filenames:
        stem = safe_stem(name)
        count = seen.get(stem.lower(), 0) + 1
        seen[stem.lower()] = count
        stems.append(stem if count == 1 else f"{stem}-{count}")
    return stems


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


IDENTITY_FILE = ".storage-id"


def storage_identity(data_dir: Path, *, create: bool) -> str | None:
    """A random id kept in `data_dir`, so processes on several hosts can tell whether they
    see the same storage; made on first use when `create`."""
    path = data_dir / IDENTITY_FILE
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        if not create:
            return None
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:  # another process made it first
        return path.read_text().strip() or None
    with os.fdopen(fd, "w") as out:
        out.write(new_id() + "\n")
    return path.read_text().strip()


class Storage:
    """The upload and result trees of one deployment."""

    def __init__(self, upload_dir: Path, results_dir: Path) -> None:
        self.upload_dir = upload_dir
        self.results_dir = results_dir

    def ensure(self) -> None:
        self.upload_dir.mkdir(parents=True, exist_ok=True)
        self.results_dir.mkdir(parents=True, exist_ok=True)

    def upload_path(self, job_id: str, stored_name: str) -> Path:
        return self._inside(self.upload_dir, job_id, stored_name)

    def result_dir(self, job_id: str) -> Path:
        return self._inside(self.results_dir, job_id)

    def result_path(self, job_id: str, filename: str) -> Path:
        return self._inside(self.results_dir, job_id, filename)

    def work_dir(self, job_id: str, file_id: str) -> Path:
        return self._inside(self.results_dir, job_id, SCRATCH, file_id)

    def delete_job(self, job_id: str) -> None:
        for root in (self.upload_dir, self.results_dir):
            shutil.rmtree(self._inside(root, job_id), ignore_errors=True)

    @staticmethod
    def _inside(root: Path, *parts: str) -> Path:
        path = root.joinpath(*parts).resolve()
        if not path.is_relative_to(root.resolve()) or path == root.resolve():
            raise ValueError(f"path escapes its root: {parts!r}")
        return path
