"""Reducing a mesh to a face budget while keeping it closed and keeping its colours."""

from __future__ import annotations

import fast_simplification
import numpy as np
import trimesh
from numpy.typing import NDArray
from scipy.spatial import cKDTree
from trimesh.visual import ColorVisuals, TextureVisuals

from image2model.meshes.validate import InvalidModel

TARGETS = (1.0, 0.95, 0.85, 0.7)
"""Fractions of the budget to try: a slightly smaller target often avoids a torn collapse."""

SEPARATION = 2e-5
"""How far coincident vertices are pushed apart, relative to the model size."""


def decimate(mesh: trimesh.Trimesh, face_limit: int) -> trimesh.Trimesh:
    """At most `face_limit` faces; closed if the input was; UVs and colours carried over."""
    if len(mesh.faces) <= face_limit:
        return mesh
    welded = trimesh.Trimesh(mesh.vertices, mesh.faces)
    closed = welded.is_watertight
    torn: trimesh.Trimesh | None = None
    for fraction in TARGETS:
        candidate = _simplify(welded, max(4, int(face_limit * fraction)))
        if len(candidate.faces) > face_limit:
            continue
        if not closed or candidate.is_watertight:
            return _carry_visuals(mesh, candidate)
        torn = torn or candidate
    if torn is None:
        raise InvalidModel(f"Cannot reduce the model to {face_limit} faces")
    return _carry_visuals(mesh, torn)


def _simplify(mesh: trimesh.Trimesh, target: int) -> trimesh.Trimesh:
    points, faces = fast_simplification.simplify(
        np.asarray(mesh.vertices, dtype=np.float32),
        np.asarray(mesh.faces, dtype=np.int32),
        target_count=target,
    )
    # No processing: merging the points collapses that land on one spot would tear the surface.
    simplified = trimesh.Trimesh(np.asarray(points, dtype=np.float64), faces, process=False)
    return _separate_coincident(simplified)


def _separate_coincident(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """Nudge apart distinct vertices at one spot, so readers that weld by position stay closed."""
    _, inverse, counts = np.unique(
        np.round(mesh.vertices, 7), axis=0, return_inverse=True, return_counts=True
    )
    shared = counts[inverse.ravel()] > 1
    if shared.any():
        # Two sheets pinched together: moving each outwards along its normal parts them.
        step = SEPARATION * float(mesh.scale)
        vertices = mesh.vertices.copy()
        vertices[shared] += mesh.vertex_normals[shared] * step
        mesh = trimesh.Trimesh(vertices, mesh.faces, process=False)
    return mesh


def _carry_visuals(source: trimesh.Trimesh, target: trimesh.Trimesh) -> trimesh.Trimesh:
    visual = source.visual
    if isinstance(visual, TextureVisuals) and visual.uv is not None:
        if len(visual.uv) == len(source.vertices):
            return _carry_uv(source, target, visual)
    if isinstance(visual, ColorVisuals) and visual.kind == "vertex":
        _, nearest = cKDTree(source.vertices).query(target.vertices)
        target.visual = ColorVisuals(target, vertex_colors=visual.vertex_colors[nearest])
    elif isinstance(visual, ColorVisuals) and visual.kind == "face":
        _, nearest = cKDTree(source.triangles_center).query(target.triangles_center)
        target.visual = ColorVisuals(target, face_colors=visual.face_colors[nearest])
    return target


def _carry_uv(
    source: trimesh.Trimesh, target: trimesh.Trimesh, visual: TextureVisuals
) -> trimesh.Trimesh:
    """UV per corner from a nearby source vertex on the same UV chart; seams split again."""
    uv = np.asarray(visual.uv, dtype=np.float64)
    _, hint = cKDTree(source.triangles_center).query(target.triangles_center)
    chart = np.repeat(uv[source.faces[hint]].mean(axis=1), 3, axis=0)
    corners = target.vertices[target.faces].reshape(-1, 3)
    k = min(4, len(source.vertices))
    _, candidates = cKDTree(source.vertices).query(corners, k=k)
    candidates = np.asarray(candidates).reshape(len(corners), k)
    gap = np.linalg.norm(uv[candidates] - chart[:, None, :], axis=2)
    corner_uv = uv[candidates[np.arange(len(corners)), gap.argmin(axis=1)]]
    return _split_by_uv(target, corner_uv, visual.material)


def _split_by_uv(
    mesh: trimesh.Trimesh, corner_uv: NDArray[np.float64], material: object
) -> trimesh.Trimesh:
    keys = np.column_stack([mesh.faces.reshape(-1), corner_uv])
    unique, inverse = np.unique(keys, axis=0, return_inverse=True)
    return trimesh.Trimesh(
        mesh.vertices[unique[:, 0].astype(np.int64)],
        inverse.reshape(-1, 3),
        visual=TextureVisuals(uv=unique[:, 1:], material=material),  # type: ignore[no-untyped-call]
        process=False,
    )
