"""The texture: the photo cropped to the object, colours pushed past the rim, UVs by projection."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from image2model.providers.local.image import Photo

MARGIN = 0.03
"""Crop margin around the object, as a fraction of the frame, so rim texels have neighbours."""

FILL_SIDE = 512
"""Size the colours outside the object are computed at before being scaled up."""

RIM_BAND = 0.025
"""Near its outline the photo is stretched over the model's steep sides, so detail there
would smear into streaks: within this share of the texture's longer side from the outline,
the texture fades to a blur of the object's colours, strongest at the outline itself."""


@dataclass(frozen=True)
class Texture:
    """Texture pixels and the crop box (x0, y0, x1, y1 in frame fractions) they cover."""

    image: NDArray[np.uint8]
    box: tuple[float, float, float, float]
    blurred_back: bool

    def uv(self, frame_xy: NDArray[np.float64], back: NDArray[np.bool_]) -> NDArray[np.float64]:
        """UVs (OpenGL convention, v up) for points given in frame fractions."""
        x0, y0, x1, y1 = self.box
        u = (frame_xy[:, 0] - x0) / (x1 - x0)
        v = 1.0 - (frame_xy[:, 1] - y0) / (y1 - y0)
        if self.blurred_back:
            # Side-by-side atlas: the photo on the left half, its blurred copy on the right.
            u = np.where(back, 0.5 + 0.5 * u, 0.5 * u)
        return np.column_stack([np.clip(u, 0, 1), np.clip(v, 0, 1)])


def make_texture(photo: Photo, coverage: NDArray[np.float32], *, blurred_back: bool) -> Texture:
    """The photo cropped to the silhouette, with its colours extended past the rim."""
    height, width = photo.rgb.shape[:2]
    x0, y0, x1, y1 = _crop_box(coverage, (height, width))
    rgb = photo.rgb[y0:y1, x0:x1]
    inside = _inside(coverage, (height, width), (x0, y0, x1, y1))
    image = _soften_rim(_extend(rgb, inside), inside)
    if blurred_back:
        sigma = 0.015 * max(image.shape[:2])
        image = np.hstack([image, cv2.GaussianBlur(image, (0, 0), sigma)])
    box = (x0 / width, y0 / height, x1 / width, y1 / height)
    return Texture(np.ascontiguousarray(image), box, blurred_back)


def _crop_box(coverage: NDArray[np.float32], size: tuple[int, int]) -> tuple[int, int, int, int]:
    height, width = size
    rows, cols = np.nonzero(coverage > 0.02)
    scale_y, scale_x = height / coverage.shape[0], width / coverage.shape[1]
    pad_y, pad_x = MARGIN * height, MARGIN * width
    y0 = max(0, int((rows.min() * scale_y) - pad_y))
    y1 = min(height, int(((rows.max() + 1) * scale_y) + pad_y) + 1)
    x0 = max(0, int((cols.min() * scale_x) - pad_x))
    x1 = min(width, int(((cols.max() + 1) * scale_x) + pad_x) + 1)
    return x0, y0, x1, y1


def _inside(
    coverage: NDArray[np.float32], size: tuple[int, int], box: tuple[int, int, int, int]
) -> NDArray[np.float32]:
    """Pixels safely inside the object at texture size: rim pixels mix in the background."""
    height, width = size
    full = cv2.resize(coverage, (width, height), interpolation=cv2.INTER_LINEAR)
    x0, y0, x1, y1 = box
    inside = (full[y0:y1, x0:x1] > 0.5).astype(np.uint8)
    shrink = max(1, round(max(height, width) / max(coverage.shape)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * shrink + 1,) * 2)
    eroded = cv2.erode(inside, kernel)
    # A sliver thinner than the erosion would vanish; keep it rather than lose its colour.
    kept = eroded if eroded.any() else inside
    return np.asarray(kept, dtype=np.float32)


def _extend(rgb: NDArray[np.uint8], weight: NDArray[np.float32]) -> NDArray[np.uint8]:
    """Pixels outside `weight` take the colour of the object nearest them; inside stay as is."""
    if not weight.any():
        return rgb
    height, width = weight.shape
    # The fill is computed small: it only has to be right in colour, not in detail.
    scale = min(1.0, FILL_SIDE / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small_rgb = np.asarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), np.float32)
    small_weight = np.asarray(cv2.resize(weight, size, interpolation=cv2.INTER_AREA), np.float32)
    small_fill = _push_pull(small_rgb.reshape(size[1], size[0], 3), small_weight)
    filled = cv2.resize(small_fill, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.where(weight[..., None] > 0.5, rgb, np.reshape(filled, rgb.shape)).astype(np.uint8)


def _soften_rim(image: NDArray[np.uint8], inside: NDArray[np.float32]) -> NDArray[np.uint8]:
    """Blend toward a blur of the (already extended) colours near the outline, see RIM_BAND."""
    band = RIM_BAND * max(image.shape[:2])
    if band < 2 or not inside.any():
        return image
    depth = cv2.distanceTransform((inside > 0.5).astype(np.uint8), cv2.DIST_L2, 5)
    weight = np.clip(1.0 - depth / band, 0.0, 1.0)[..., None]
    blurred = cv2.GaussianBlur(image, (0, 0), band / 2)
    mixed = image * (1.0 - weight) + blurred * weight
    return np.asarray(np.clip(mixed + 0.5, 0, 255), dtype=np.uint8)


def _push_pull(rgb: NDArray[np.float32], weight: NDArray[np.float32]) -> NDArray[np.uint8]:
    """Fill by averaging covered pixels down a pyramid and blending coarse colours back up."""
    levels = [(rgb * weight[..., None], weight)]
    while min(levels[-1][1].shape) > 1:
        c, w = levels[-1]
        size = (max(1, w.shape[1] // 2), max(1, w.shape[0] // 2))
        smaller = cv2.resize(c, size, interpolation=cv2.INTER_AREA)
        lighter = cv2.resize(w, size, interpolation=cv2.INTER_AREA)
        levels.append(
            (
                np.asarray(smaller, dtype=np.float32).reshape(size[1], size[0], 3),
                np.asarray(lighter, dtype=np.float32).reshape(size[1], size[0]),
            )
        )
    filled = _normalise(*levels[-1])
    for c, w in reversed(levels[:-1]):
        up = cv2.resize(filled, (w.shape[1], w.shape[0]), interpolation=cv2.INTER_LINEAR)
        alpha = np.clip(w, 0, 1)[..., None]
        filled = _normalise(c, w) * alpha + up.reshape(c.shape) * (1 - alpha)
    return np.asarray(np.clip(filled + 0.5, 0, 255), dtype=np.uint8)


def _normalise(colour: NDArray[np.float32], weight: NDArray[np.float32]) -> NDArray[np.float32]:
    return np.asarray(colour / np.maximum(weight, 1e-6)[..., None], dtype=np.float32)
