"""Whether a model can go to a 3D printer as it is, in a slicer's terms and units.

glTF's unit is the metre, so a model 1 unit tall prints 1,000 mm tall unless it is scaled;
the figures are given at that scale. A mesh that is open as indexed is welded by position
first: seams where a texture splits vertices are not holes to a slicer.

Self-intersections are not looked for: finding them needs a collision library
(python-fcl) or an O(n²) triangle test, too dear for every model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh
from numpy.typing import NDArray

MM_PER_UNIT = 1000.0


@dataclass(frozen=True)
class Printability:
    watertight: bool
    """Closed: every edge shared by exactly two faces (after welding seams)."""
    winding_consistent: bool
    """Neighbouring faces agree on which side is outside."""
    bodies: int
    """Separate closed pieces; each prints as its own part."""
    volume_mm3: float | None
    """Only for a watertight mesh: an open one has no inside to measure."""
    area_mm2: float
    size_mm: list[float]
    """Bounding box extents along x, y, z."""


def printable_geometry(
    mesh: trimesh.Trimesh,
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Vertices and faces as indexed when they are closed, else welded by position (one vertex
    per position), so that a seam where a texture split them is no hole to a slicer. Faces
    keep their order, so per-corner data (UVs) still lines up with them.

    Welding is not always right: parts that touch at a point keep separate vertices there on
    purpose (merged, the edges around that point would belong to four faces).
    """
    vertices, faces = np.asarray(mesh.vertices), np.asarray(mesh.faces)
    if trimesh.Trimesh(vertices, faces, process=False).is_watertight:
        return vertices, faces
    positions, welded = np.unique(vertices, axis=0, return_inverse=True)
    return positions, welded.reshape(-1)[faces]


def printability(mesh: trimesh.Trimesh) -> Printability:
    welded = trimesh.Trimesh(*printable_geometry(mesh), process=False)
    watertight = bool(welded.is_watertight)
    volume = abs(float(welded.volume)) * MM_PER_UNIT**3 if watertight else None
    return Printability(
        watertight=watertight,
        winding_consistent=bool(welded.is_winding_consistent),
        bodies=int(welded.body_count),
        volume_mm3=None if volume is None else round(volume, 1),
        area_mm2=round(float(welded.area) * MM_PER_UNIT**2, 1),
        size_mm=[round(float(e) * MM_PER_UNIT, 2) for e in welded.extents],
    )
