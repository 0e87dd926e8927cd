"""Previews without a GPU, through the numpy rasterizer: a lit three-quarter view as PNG, and
a turntable (the model turning once about its vertical axis) as animated WebP and GIF."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import trimesh
from numpy.typing import NDArray
from PIL import Image
from scipy.spatial import cKDTree
from trimesh.visual import ColorVisuals, TextureVisuals

from image2model.meshes.raster import Coverage, rasterize
from image2model.meshes.validate import InvalidModel
from image2model.storage import atomic_write_bytes

SUPERSAMPLE = 1
"""Rendered at the output size: 2× supersampling cost 3× the time for slightly softer edges."""
BACKGROUND = np.array([236, 238, 241], dtype=np.float32)
AZIMUTH, ELEVATION = math.radians(-35), math.radians(20)
KEY = np.array([-0.45, 0.6, 0.66])
FILL = np.array([0.7, -0.1, 0.7])
TURNTABLE_FRAMES = 24
TURNTABLE_SIZE = 256
TURNTABLE_SECONDS = 3.0
"""One turn: 24 frames of 256 px, 8 frames a second (about 1.3 s on one core at 50k faces)."""


@dataclass(frozen=True)
class _Part:
    """One mesh of the scene with what shading needs, in view space."""

    vertices: NDArray[np.float64]
    faces: NDArray[np.int64]
    normals: NDArray[np.float64]
    visual: object
    facing: NDArray[np.bool_]
    """Faces that can be seen: on a closed mesh, those turned towards the camera."""
    rotation: NDArray[np.float64]
    """From model space to view space."""


@dataclass(frozen=True)
class _Solid:
    """One mesh of the scene and what shading needs that no view changes."""

    mesh: trimesh.Trimesh
    vertex_normals: NDArray[np.float64]
    face_normals: NDArray[np.float64]
    closed: bool
    """A closed, consistent surface: its back faces are hidden and can be culled."""

    @classmethod
    def of(cls, mesh: trimesh.Trimesh) -> _Solid:
        closed = bool(mesh.is_watertight and mesh.is_winding_consistent and mesh.volume > 0)
        return cls(mesh, np.asarray(mesh.vertex_normals), np.asarray(mesh.face_normals), closed)


def render_preview(mesh_path: Path, out_png: Path, size: int = 512) -> None:
    """Write a size×size PNG of the model seen from the front-right, slightly above."""
    parts = _view_parts(_load_parts(mesh_path), AZIMUTH)
    pixels = _render(parts, size)
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"Cannot encode preview {out_png.name}")
    atomic_write_bytes(out_png, encoded.tobytes())


def render_turntable(
    mesh_path: Path,
    out_webp: Path,
    out_gif: Path,
    *,
    frames: int = TURNTABLE_FRAMES,
    size: int = TURNTABLE_SIZE,
) -> None:
    """Write the model turning once, from the preview's first view round to it again, as an
    animated WebP and a GIF of the same frames (at one scale, so the model does not jump)."""
    meshes = _load_parts(mesh_path)
    vertices = np.concatenate([m.mesh.vertices for m in meshes])
    low, high = vertices.min(axis=0), vertices.max(axis=0)
    axis = (low + high) / 2
    # wide enough for the widest turn about the vertical axis, and for the height
    reach = float(np.hypot(vertices[:, 0] - axis[0], vertices[:, 2] - axis[2]).max())
    span = max(2 * reach, float(high[1] - low[1]))
    images = []
    for frame in range(frames):
        parts = _view_parts(meshes, AZIMUTH + 2 * math.pi * frame / frames)
        images.append(Image.fromarray(_render(parts, size, span=span, centre=axis)))
    duration = round(1000 * TURNTABLE_SECONDS / frames)
    _save_animation(out_webp, images, "WEBP", duration, quality=80, method=4)
    _save_animation(out_gif, _one_palette(images), "GIF", duration)


def _save_animation(
    path: Path, frames: list[Image.Image], fmt: str, duration: int, **options: int
) -> None:
    buffer = io.BytesIO()
    first, *rest = frames
    first.save(buffer, fmt, save_all=True, append_images=rest, duration=duration, loop=0, **options)
    atomic_write_bytes(path, buffer.getvalue())


def _one_palette(images: list[Image.Image]) -> list[Image.Image]:
    """The frames in 256 colours of one palette, so that they do not flicker: the palette is
    the first frame's (octree), each pixel takes its nearest entry through a table over 32
    levels a channel (Pillow's own conversion of each RGB frame took 0.7 s for 24 frames)."""
    palette_image = images[0].quantize(256, method=Image.Quantize.FASTOCTREE)
    palette = np.asarray(palette_image.getpalette() or [], dtype=np.float32).reshape(-1, 3)
    levels = np.arange(4, 256, 8, dtype=np.float32)
    grid = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(-1, 3)
    _, nearest = cKDTree(palette).query(grid)
    table = np.asarray(nearest, dtype=np.uint8).reshape(32, 32, 32)
    entries = palette.astype(np.uint8).reshape(-1).tolist()
    indexed = []
    for image in images:
        rgb = np.asarray(image) >> 3
        frame = Image.fromarray(table[rgb[..., 0], rgb[..., 1], rgb[..., 2]], mode="P")
        frame.putpalette(entries)
        indexed.append(frame)
    return indexed


def _render(
    parts: list[_Part],
    size: int,
    span: float | None = None,
    centre: NDArray[np.float64] | None = None,
) -> NDArray[np.uint8]:
    """The parts lit on the background, size×size RGB; fitted to them unless `span` (model
    units across the frame) and `centre` (in model space, unrotated) are given."""
    canvas = size * SUPERSAMPLE
    screen, faces, origin = _to_screen(parts, canvas, span, centre)
    coverage = rasterize(screen, faces, canvas)
    image = np.tile(BACKGROUND, (canvas * canvas, 1))
    image[coverage.pixels] = _shade(parts, faces, origin, coverage)
    small = cv2.resize(image.reshape(canvas, canvas, 3), (size, size), interpolation=cv2.INTER_AREA)
    return np.asarray(np.clip(small + 0.5, 0, 255), dtype=np.uint8)


def _load_parts(path: Path) -> list[_Solid]:
    try:
        loaded = trimesh.load(str(path))
    # Each trimesh loader fails with its own exception types on malformed input.
    except Exception as exc:
        raise InvalidModel(f"Cannot read model {path.name}: {exc}") from exc
    found = loaded.dump() if isinstance(loaded, trimesh.Scene) else [loaded]
    meshes = [m for m in found if isinstance(m, trimesh.Trimesh) and len(m.faces)]
    if not meshes:
        raise InvalidModel(f"{path.name} holds no triangle mesh to preview")
    return [_Solid.of(m) for m in meshes]


def _view_parts(meshes: list[_Solid], azimuth: float) -> list[_Part]:
    rotation = _rotation_x(ELEVATION) @ _rotation_y(azimuth)
    return [_view_part(m, rotation) for m in meshes]


def _rotation_y(angle: float) -> NDArray[np.float64]:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rotation_x(angle: float) -> NDArray[np.float64]:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _view_part(solid: _Solid, rotation: NDArray[np.float64]) -> _Part:
    mesh = solid.mesh
    normals = solid.vertex_normals @ rotation.T
    # Culling back faces halves the work, but only a closed, consistent surface hides them.
    if solid.closed:
        facing = (solid.face_normals @ rotation.T)[:, 2] > 0
    else:
        facing = np.ones(len(mesh.faces), dtype=bool)
        # Two-sided lighting: an open mesh shows its inside rather than a black hole.
        normals = normals * np.where(normals[:, 2:3] < 0, -1.0, 1.0)
    return _Part(mesh.vertices @ rotation.T, mesh.faces, normals, mesh.visual, facing, rotation)


def _to_screen(
    parts: list[_Part],
    canvas: int,
    span: float | None = None,
    pivot: NDArray[np.float64] | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.int64]]:
    """All parts in pixels (orthographic; fitted, or `span` units across), the visible faces,
    and (part, face) of each."""
    vertices = np.concatenate([p.vertices for p in parts])
    low, high = vertices.min(axis=0), vertices.max(axis=0)
    across = span if span is not None else float((high - low)[:2].max())
    scale = 0.86 * canvas / max(across, 1e-9)
    centre = (low + high) / 2 if pivot is None else parts[0].rotation @ pivot
    screen = np.column_stack(
        [
            (vertices[:, 0] - centre[0]) * scale + canvas / 2,
            (centre[1] - vertices[:, 1]) * scale + canvas / 2,
            vertices[:, 2] * scale,
        ]
    )
    starts = np.cumsum([0] + [len(p.vertices) for p in parts[:-1]])
    faces = np.concatenate([p.faces + s for p, s in zip(parts, starts, strict=True)])
    owner = np.repeat(np.arange(len(parts)), [len(p.faces) for p in parts])
    local = np.concatenate([np.arange(len(p.faces)) for p in parts])
    facing = np.concatenate([p.facing for p in parts])
    return screen, faces[facing], np.column_stack([owner, local])[facing]


def _shade(
    parts: list[_Part], faces: NDArray[np.int64], origin: NDArray[np.int64], hit: Coverage
) -> NDArray[np.float32]:
    # Lighting per vertex, interpolated (Gouraud): at preview size it matches per-pixel normals.
    light = np.concatenate([_lighting(p.normals) for p in parts])
    shade = (light[faces[hit.faces]] * hit.weights).sum(axis=1)
    colour = np.empty((len(hit.faces), 3), np.float32)
    owner, local = origin[hit.faces, 0], origin[hit.faces, 1]
    for index, part in enumerate(parts):
        mine = owner == index
        colour[mine] = _albedo(part, local[mine], hit.weights[mine])
    return np.asarray(colour * shade[:, None], dtype=np.float32)


def _lighting(normals: NDArray[np.float64]) -> NDArray[np.float32]:
    light = 0.32 + 0.62 * _lambert(normals, KEY) + 0.22 * _lambert(normals, FILL)
    return np.asarray(light, dtype=np.float32)


def _lambert(normal: NDArray[np.float64], direction: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.maximum(normal @ (direction / np.linalg.norm(direction)), 0.0)


def _albedo(
    part: _Part, faces: NDArray[np.int64], weights: NDArray[np.float32]
) -> NDArray[np.float32]:
    """Base colour per pixel: texture, vertex or face colours, else the material colour."""
    visual = part.visual
    corners = part.faces[faces]
    if isinstance(visual, TextureVisuals):
        texture = _texture(visual)
        if texture is not None and visual.uv is not None and len(visual.uv):
            uv = (np.asarray(visual.uv)[corners] * weights[:, :, None]).sum(axis=1)
            return _sample(texture, uv) * _factor(visual)
        return np.tile(_factor(visual) * 255, (len(faces), 1))
    if isinstance(visual, ColorVisuals) and visual.kind == "vertex":
        rgb = np.asarray(visual.vertex_colors[:, :3], dtype=np.float32)
        return np.asarray((rgb[corners] * weights[:, :, None]).sum(axis=1), dtype=np.float32)
    if isinstance(visual, ColorVisuals) and visual.kind == "face":
        return np.asarray(visual.face_colors[faces, :3], dtype=np.float32)
    return np.full((len(faces), 3), 200.0, np.float32)


def _texture(visual: TextureVisuals) -> NDArray[np.uint8] | None:
    image = getattr(visual.material, "baseColorTexture", None) or getattr(
        visual.material, "image", None
    )
    if image is None:
        return None
    return np.asarray(image.convert("RGB"))


def _factor(visual: TextureVisuals) -> NDArray[np.float32]:
    factor = getattr(visual.material, "baseColorFactor", None)
    if factor is None:
        return np.ones(3, np.float32)
    rgb = np.asarray(factor, dtype=np.float32)[:3]
    return rgb / 255.0 if rgb.max() > 1.0 else rgb


def _sample(texture: NDArray[np.uint8], uv: NDArray[np.float64]) -> NDArray[np.float32]:
    height, width = texture.shape[:2]
    # Repeat-wrap only outside [0, 1]: a plain modulo would send u = 1 to the opposite edge.
    uv = np.where((uv >= 0) & (uv <= 1), uv, np.mod(uv, 1.0))
    u = uv[:, 0] * (width - 1)
    v = (1.0 - uv[:, 1]) * (height - 1)
    texels = texture[np.rint(v).astype(np.int64), np.rint(u).astype(np.int64)]
    return np.asarray(texels, dtype=np.float32)
