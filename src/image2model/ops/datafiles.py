"""What DATA_DIR holds: sizes and counts of uploads, results and logs, and file listings.

Blocking (it walks trees), so the API calls it in a thread. Symbolic links are reported
as such and never followed, so nothing outside the data roots is read.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from image2model.storage import is_id


@dataclass(frozen=True)
class FileEntry:
    path: str  # relative to its root
    size: int
    modified: float

    def describe(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "job_id": self.path.split("/", 1)[0] if is_id(self.path.split("/", 1)[0]) else None,
            "size_bytes": self.size,
            "modified": datetime.fromtimestamp(self.modified, tz=UTC).isoformat(),
        }


def walk_files(root: Path) -> list[FileEntry]:
    """Every regular file under `root` (not following links), newest first."""
    found: list[FileEntry] = []
    if not root.is_dir():
        return found
    for parent, _, names in os.walk(root, followlinks=False):
        for name in names:
            full = Path(parent, name)
            try:
                stat = full.lstat()
            except OSError:
                continue
            if full.is_symlink():
                continue
            found.append(FileEntry(full.relative_to(root).as_posix(), stat.st_size, stat.st_mtime))
    return sorted(found, key=lambda f: (-f.modified, f.path))


def tree_usage(root: Path) -> dict[str, Any]:
    files = walk_files(root)
    jobs = [p for p in root.iterdir() if is_id(p.name)] if root.is_dir() else []
    return {
        "path": str(root),
        "size_bytes": sum(f.size for f in files),
        "file_count": len(files),
        "job_count": len(jobs),
    }


MB = 1024 * 1024
GB = 1024 * MB


def disk_usage(data_dir: Path, roots: dict[str, Path]) -> dict[str, Any]:
    """Sizes and counts of each named root, and the totals of DATA_DIR's disk; `upload_dir`
    and `output_dir` say the same in the replaced service's terms (MB, GB, percent)."""
    disk = shutil.disk_usage(data_dir if data_dir.is_dir() else data_dir.parent)
    usage = {name: tree_usage(root) for name, root in roots.items()}
    legacy = {
        old: _legacy_tree(roots[new], usage[new], disk)
        for old, new in (("upload_dir", "uploads"), ("output_dir", "results"))
        if new in roots
    }
    return {
        "data_dir": str(data_dir),
        **usage,
        **legacy,
        "timestamp": datetime.now(UTC).isoformat(),
        "total_size_bytes": sum(u["size_bytes"] for u in usage.values()),
        "disk": {
            "total_bytes": disk.total,
            "used_bytes": disk.used,
            "free_bytes": disk.free,
            "used_percent": round(100.0 * disk.used / disk.total, 2) if disk.total else 0.0,
        },
    }


def _legacy_tree(root: Path, usage: dict[str, Any], disk: Any) -> dict[str, Any]:
    if not root.is_dir():
        return {"path": str(root), "exists": False, "error": "Directory does not exist"}
    return {
        "path": str(root),
        "size_mb": usage["size_bytes"] / MB,
        "file_count": usage["file_count"],
        "directory_count": sum(1 for p in root.iterdir() if p.is_dir() and not p.is_symlink()),
        "disk_total_gb": disk.total / GB,
        "disk_used_gb": disk.used / GB,
        "disk_free_gb": disk.free / GB,
        "disk_usage_percent": 100.0 * disk.used / disk.total if disk.total else 0.0,
    }


def list_files(root: Path, *, page: int, page_size: int) -> dict[str, Any]:
    """One page of the files under `root`, newest first; `items`, `total_files` and
    `total_size_mb` are the same in the replaced service's terms."""
    files = walk_files(root)
    start = (page - 1) * page_size
    shown = files[start : start + page_size]
    return {
        "total": len(files),
        "page": page,
        "page_size": page_size,
        "pages": (len(files) + page_size - 1) // page_size,
        "files": [f.describe() for f in shown],
        "total_files": len(files),
        "total_size_mb": sum(f.size for f in files) / MB,
        "items": [
            {
                "path": f.path,
                "size_mb": f.size / MB,
                "modified": str(f.modified),
                "is_directory": False,
                "file_count": None,
            }
            for f in shown
        ],
    }
