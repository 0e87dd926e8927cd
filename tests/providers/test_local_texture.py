"""The texture near the outline, where the photo is stretched over the model's steep sides."""

from __future__ import annotations

import cv2
import numpy as np

from image2model.providers.local.image import Photo
from image2model.providers.local.texture import RIM_BAND, make_texture


def striped_disc(size: int = 400, radius: int = 150) -> tuple[np.ndarray, np.ndarray]:
    """A disc of fine black and orange stripes on white, and its coverage."""
    disc = np.zeros((size, size), np.uint8)
    cv2.circle(disc, (size // 2, size // 2), radius, 1, -1)
    stripes = (np.arange(size) // 3 % 2).astype(bool)[None, :].repeat(size, axis=0)
    rgb = np.full((size, size, 3), 255, np.uint8)
    rgb[disc.astype(bool) & stripes] = (230, 120, 30)
    rgb[disc.astype(bool) & ~stripes] = (20, 20, 20)
    return rgb, disc.astype(np.float32)


def test_detail_fades_at_the_outline_and_stays_inside() -> None:
    rgb, coverage = striped_disc()
    texture = make_texture(Photo(rgb, None), coverage, blurred_back=False)
    x0, y0 = (round(f * 400) for f in texture.box[:2])
    photo = rgb[y0 : y0 + texture.image.shape[0], x0 : x0 + texture.image.shape[1]]
    inside = coverage[y0 : y0 + photo.shape[0], x0 : x0 + photo.shape[1]] > 0.5
    depth = cv2.distanceTransform(inside.astype(np.uint8), cv2.DIST_L2, 5)
    band = RIM_BAND * max(texture.image.shape[:2])
    rim = inside & (depth < band / 3)
    core = depth > 2 * band
    grey = texture.image.mean(axis=2)
    original = photo.mean(axis=2)
    # the stripes are near their full contrast inside, mostly blurred away at the outline
    assert grey[core].std() > 0.9 * original[core].std()
    assert grey[rim].std() < 0.5 * original[rim].std()
