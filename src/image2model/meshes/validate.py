"""Loading any provider's model and refusing what is not a usable mesh."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh

from image2model.meshes.printability import Printability, printability


class InvalidModel(Exception):
    """The model file is unreadable, empty or broken; retrying the same file cannot help."""

    code = "INVALID_MODEL"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class MeshStats:
    """What a client sees about a finished model."""

    vertices: int
    faces: int
    watertight: bool
    bounds: list[list[float]]
    printability: Printability


def load_model(path: Path) -> trimesh.Trimesh:
    """One mesh from any file trimesh reads (scenes are flattened), or InvalidModel."""
    try:
        loaded = trimesh.load(str(path), force="mesh")
    # Each trimesh loader fails with its own exception types on malformed input.
    except Exception as exc:
        raise InvalidModel(f"Cannot read model {path.name}: {exc}") from exc
    if not isinstance(loaded, trimesh.Trimesh):
        raise InvalidModel(f"{path.name} holds no triangle mesh")
    check_mesh(loaded, path.name)
    return loaded


def check_mesh(mesh: trimesh.Trimesh, name: str) -> None:
    """InvalidModel unless the mesh has faces, finite vertices and in-range indices."""
    if len(mesh.faces) == 0 or len(mesh.vertices) == 0:
        raise InvalidModel(f"{name} is empty: no faces")
    if not np.isfinite(mesh.vertices).all():
        raise InvalidModel(f"{name} has non-finite vertex coordinates")
    if mesh.faces.min() < 0 or mesh.faces.max() >= len(mesh.vertices):
        raise InvalidModel(f"{name} has faces pointing at missing vertices")


def is_closed(mesh: trimesh.Trimesh) -> bool:
    """Watertight as indexed, or once welded by position (UV seams split vertices)."""
    as_indexed = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
    return bool(
        as_indexed.is_watertight or trimesh.Trimesh(mesh.vertices, mesh.faces).is_watertight
    )


def mesh_stats(mesh: trimesh.Trimesh) -> MeshStats:
    """Counts, closure and bounding box of `mesh`."""
    return MeshStats(
        vertices=len(mesh.vertices),
        faces=len(mesh.faces),
        watertight=is_closed(mesh),
        bounds=[[float(v) for v in corner] for corner in mesh.bounds],
        printability=printability(mesh),
    )
