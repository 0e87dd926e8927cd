"""Turning a provider's raw output into the stored model: checked, within budget, previewed."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from image2model.meshes.convert import export_glb
from image2model.meshes.decimate import decimate
from image2model.meshes.preview import render_preview
from image2model.meshes.validate import MeshStats, load_model, mesh_stats
from image2model.storage import atomic_copy, atomic_write_bytes


@dataclass(frozen=True)
class FinalModel:
    """The stored GLB and preview PNG, and the model's stats."""

    glb_path: Path
    preview_path: Path
    stats: MeshStats


def finalize_model(
    source: Path,
    out_dir: Path,
    stem: str,
    *,
    face_limit: int | None,
    face_limit_applied: bool,
    preview: Path | None,
) -> FinalModel:
    """Validate `source`, enforce `face_limit`, write `<stem>.glb` and `<stem>.png` atomically."""
    mesh = load_model(source)
    glb = out_dir / f"{stem}.glb"
    if face_limit is not None and len(mesh.faces) > face_limit:
        mesh = decimate(mesh, face_limit)
        atomic_write_bytes(glb, export_glb(mesh))
    elif source.suffix.lower() == ".glb":
        # Copied byte for byte: re-exporting could drop what trimesh does not model.
        atomic_copy(source, glb)
    else:
        atomic_write_bytes(glb, export_glb(mesh))
    png = out_dir / f"{stem}.png"
    if preview is None or not _copy_as_png(preview, png):
        render_preview(glb, png)
    return FinalModel(glb, png, mesh_stats(mesh))


def _copy_as_png(image_path: Path, png: Path) -> bool:
    """Re-encode a provider's preview as PNG; False when it is not a readable image."""
    try:
        with Image.open(image_path) as image:
            image.load()
            buffer = io.BytesIO()
            image.convert("RGBA" if "A" in image.getbands() else "RGB").save(buffer, "PNG")
    except (UnidentifiedImageError, OSError):
        return False
    atomic_write_bytes(png, buffer.getvalue())
    return True
