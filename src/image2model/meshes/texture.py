"""The one texture the other formats carry: the base colour image and its UVs."""

from __future__ import annotations

import io

import numpy as np
import trimesh
from numpy.typing import NDArray
from PIL import Image
from trimesh.visual import TextureVisuals


def base_colour(mesh: trimesh.Trimesh) -> tuple[NDArray[np.float64], Image.Image] | None:
    """The mesh's UVs (origin bottom left) and base colour image, if it has both."""
    visual = mesh.visual
    if not isinstance(visual, TextureVisuals) or visual.uv is None:
        return None
    image = getattr(visual.material, "baseColorTexture", None) or getattr(
        visual.material, "image", None
    )
    if not isinstance(image, Image.Image):
        return None
    return np.asarray(visual.uv, dtype=np.float64), image


def png_bytes(image: Image.Image, *, alpha: bool = True) -> bytes:
    buffer = io.BytesIO()
    keep_alpha = alpha and "A" in image.getbands()
    image.convert("RGBA" if keep_alpha else "RGB").save(buffer, "PNG")
    return buffer.getvalue()
