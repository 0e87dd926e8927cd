"""Placing the surface in model space and writing it as a textured GLB."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh
from numpy.typing import NDArray
from PIL import Image
from trimesh.visual import TextureVisuals
from trimesh.visual.material import PBRMaterial

from image2model.meshes.convert import export_glb
from image2model.providers.local.texture import Texture
from image2model.storage import atomic_write_bytes

CLAY = (200, 196, 188, 255)
"""Base colour when no texture is wanted: a neutral clay that shows the shape."""


def to_model_space(frame: NDArray[np.float64], aspect: tuple[int, int]) -> NDArray[np.float64]:
    """Frame fractions (y down) to glTF space: +Y up, +Z towards the viewer, longest side 1."""
    width, height = _extents(aspect)
    x = (frame[:, 0] - 0.5) * width
    y = (0.5 - frame[:, 1]) * height
    return np.column_stack([x, y, frame[:, 2]])


def to_frame(model: NDArray[np.float64], aspect: tuple[int, int]) -> NDArray[np.float64]:
    """The inverse of `to_model_space`: where each point projects onto the photo."""
    width, height = _extents(aspect)
    return np.column_stack([model[:, 0] / width + 0.5, 0.5 - model[:, 1] / height, model[:, 2]])


def _extents(aspect: tuple[int, int]) -> tuple[float, float]:
    height, width = aspect
    longest = max(height, width)
    return width / longest, height / longest


def textured_mesh(
    mesh: trimesh.Trimesh, aspect: tuple[int, int], texture: Texture
) -> trimesh.Trimesh:
    """`mesh` with UVs projected from the photo; with a blurred back, the rim is a UV seam."""
    frame = to_frame(np.asarray(mesh.vertices), aspect)
    normals = mesh.vertex_normals
    faces = np.asarray(mesh.faces)
    back_face = mesh.triangles_center[:, 2] < 0
    if texture.blurred_back:
        # Vertices used by back faces get a second copy pointing at the blurred half.
        used = np.unique(faces[back_face])
        remap = np.full(len(mesh.vertices), -1, np.int64)
        remap[used] = len(mesh.vertices) + np.arange(len(used))
        faces = np.where(back_face[:, None], remap[faces], faces)
        order = np.concatenate([np.arange(len(mesh.vertices)), used])
        is_back = np.concatenate([np.zeros(len(mesh.vertices), bool), np.ones(len(used), bool)])
    else:
        order = np.arange(len(mesh.vertices))
        is_back = np.zeros(len(order), bool)
    image = Image.fromarray(texture.image)
    # trimesh embeds images whose format is JPEG as JPEG: far faster to write than PNG.
    image.format = "JPEG"
    material = PBRMaterial(  # type: ignore[no-untyped-call]
        baseColorTexture=image, metallicFactor=0.0, roughnessFactor=0.85
    )
    textured = trimesh.Trimesh(
        _centred(mesh.vertices)[order],
        faces,
        vertex_normals=normals[order],
        visual=TextureVisuals(  # type: ignore[no-untyped-call]
            uv=texture.uv(frame[order], is_back), material=material
        ),
        process=False,
    )
    textured.remove_unreferenced_vertices()
    return textured


def plain_mesh(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """`mesh` with a single clay-coloured material and smooth normals."""
    material = PBRMaterial(  # type: ignore[no-untyped-call]
        baseColorFactor=CLAY, metallicFactor=0.0, roughnessFactor=0.85
    )
    return trimesh.Trimesh(
        _centred(mesh.vertices),
        mesh.faces,
        vertex_normals=mesh.vertex_normals,
        visual=TextureVisuals(material=material),  # type: ignore[no-untyped-call]
        process=False,
    )


def _centred(vertices: NDArray[np.float64]) -> NDArray[np.float64]:
    """Centred on the object's bounding box, so viewers frame it without panning."""
    centre = (vertices.min(axis=0) + vertices.max(axis=0)) / 2
    return np.asarray(vertices - centre, dtype=np.float64)


def write_glb(mesh: trimesh.Trimesh, path: Path) -> Path:
    """Write `mesh` as GLB at `path`."""
    atomic_write_bytes(path, export_glb(mesh))
    return path
