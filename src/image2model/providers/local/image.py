"""Reading the input photo: orientation, size cap, and whether its alpha channel means anything."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from image2model.providers.base import ProviderError

MAX_SIDE = 2048
"""Longer inputs are downscaled first: beyond this the texture gains nothing at ≤50k faces."""

MIN_SIDE = 64
"""Tiny inputs are upscaled so segmentation and meshing have pixels to work with."""


@dataclass(frozen=True)
class Photo:
    """An RGB image (H×W×3 uint8) and, when it has real transparency, its alpha (H×W uint8)."""

    rgb: NDArray[np.uint8]
    alpha: NDArray[np.uint8] | None


def load_photo(path: Path) -> Photo:
    """Decode `path` into a Photo no larger than MAX_SIDE; ProviderError if it is not an image."""
    try:
        with Image.open(path) as image:
            # JPEG can decode at 1/2..1/8 scale directly, which saves most of the memory.
            image.draft("RGB", (MAX_SIDE, MAX_SIDE))
            upright = ImageOps.exif_transpose(image)
            upright.load()
            return _to_photo(_fit(upright))
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError) as exc:
        raise ProviderError("INVALID_IMAGE", f"Cannot read the image: {_why(exc)}") from exc


def _why(error: Exception) -> str:
    """The decoder's reason, without the file's path on this server."""
    if isinstance(error, UnidentifiedImageError):
        return "not a recognised image format"
    if isinstance(error, OSError) and error.filename:
        return error.strerror or type(error).__name__
    return str(error)[:200]


def _fit(image: Image.Image) -> Image.Image:
    longest = max(image.size)
    if longest > MAX_SIDE:
        scale = MAX_SIDE / longest
    elif longest < MIN_SIDE:
        scale = MIN_SIDE / longest
    else:
        return image
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    resample = Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.NEAREST
    return image.resize(size, resample)


def _to_photo(image: Image.Image) -> Photo:
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    if not has_alpha:
        return Photo(np.asarray(image.convert("RGB")), None)
    rgba = np.asarray(image.convert("RGBA"))
    alpha = np.ascontiguousarray(rgba[..., 3])
    # An alpha channel that is opaque everywhere (common in PNG exports) carries no shape.
    real = int(alpha.min()) < 250
    return Photo(np.ascontiguousarray(rgba[..., :3]), alpha if real else None)
