"""Foreground mask: the alpha channel when it is real, else a graph cut seeded from the border."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from image2model.providers.base import ProviderError
from image2model.providers.local.background import background_distance, border_width
from image2model.providers.local.image import Photo
from image2model.providers.local.matte import Matte

SEG_SIDE = 256
"""Segmentation runs at this size: GrabCut cost grows with pixels, the silhouette does not."""

MIN_FRACTION = 0.004
MAX_FRACTION = 0.97
"""Outside these area fractions nothing was really separated from the background."""
ALPHA_PART = 0.02
"""An opaque part of an alpha channel under 2 % of the largest is a speck, not a part."""
SCENE_SIDES = 2
SCENE_SPREAD = 15.0
"""Standard deviation of the colours (per channel, 0–255) outside the matte's patch above
which they are more of the picture, not a plain backdrop."""
SCATTER_PARTS = 8
SCATTER_LARGEST = 0.005
"""A mask of SCATTER_PARTS parts or more, none covering SCATTER_LARGEST of the frame, is a
field of small things (stars, dust, a pattern), not an object: the whole frame is kept."""
FILLS_FRAME = 0.5
AGREE = 0.7
"""A colour mask over half the frame that the matte disagrees with (IoU below AGREE) is a
subject filling the frame, where the matte's idea of salience fails."""


@dataclass(frozen=True)
class Silhouette:
    """Soft foreground coverage (0–1, float32) at segmentation size; `fallback` marks the slab."""

    coverage: NDArray[np.float32]
    fallback: bool


def find_silhouette(photo: Photo, *, seed: int = 0, matte: Matte | None = None) -> Silhouette:
    """The object's silhouette, or a rounded slab of the whole frame when none separates.

    With `matte`, the learned matte and the colour model are weighed against each other
    (`_choose`), and the choice is refined by a graph cut seeded from it.
    """
    small_rgb = _shrink(photo.rgb)
    if photo.alpha is not None:
        return _from_alpha(_shrink(photo.alpha), small_rgb.shape[:2])
    cv2.setRNGSeed(seed)
    colour = _clean(_graph_cut(small_rgb))
    mask = colour
    if matte is not None:
        size = (small_rgb.shape[1], small_rgb.shape[0])
        likelihood = cv2.resize(matte.predict(photo.rgb), size, interpolation=cv2.INTER_AREA)
        mask = _choose(small_rgb, colour, np.asarray(likelihood, dtype=np.float32))
    if not MIN_FRACTION <= mask.mean() <= MAX_FRACTION or _scattered(mask):
        return Silhouette(_slab(mask.shape), fallback=True)
    return Silhouette(_soften(mask), fallback=False)


def _scattered(mask: NDArray[np.bool_]) -> bool:
    """Many parts, all of them specks against the frame."""
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    return count - 1 >= SCATTER_PARTS and areas.max() < SCATTER_LARGEST * mask.size


def _choose(
    rgb: NDArray[np.uint8], colour: NDArray[np.bool_], likelihood: NDArray[np.float32]
) -> NDArray[np.bool_]:
    """The learned matte where it is plausible and the colour model does not clearly know
    better, refined by a graph cut seeded from it; else the colour model.

    The matte takes the most salient thing in the picture, which is not always the object: a
    person behind it, or the frame itself when a board fills it. The colour model is right
    exactly there (its background is what the border shows). So the colour model wins when
    its mask is plausible and the matte's reaches the frame on more sides than it does.

    When the colour model finds nothing that differs from the border, the matte's salient
    patch runs off SCENE_SIDES sides of the frame, and the rest of the picture is not a plain
    background (its colours spread over SCENE_SPREAD), the picture is of a piece of one thing
    (a page, tissue, a wall, a scene): the patch is part of it, not an object, and the whole
    frame is kept (as a slab). A poster running off the top and bottom of a plain backdrop
    is still cut out.
    """
    learned = _clean(likelihood > 0.5)
    if not MIN_FRACTION <= learned.mean() <= MAX_FRACTION:
        return colour
    if colour.mean() < MIN_FRACTION and sides_touched(learned) >= SCENE_SIDES:
        rest = rgb[~learned].astype(np.float32)
        if float(rest.std(axis=0).mean()) > SCENE_SPREAD:
            return colour
    if MIN_FRACTION <= colour.mean() <= MAX_FRACTION:
        if sides_touched(learned) > sides_touched(colour):
            return colour
        if colour.mean() > FILLS_FRAME and _iou(learned, colour) < AGREE:
            return colour
    return _clean(_refine(rgb, learned, likelihood))


def _iou(a: NDArray[np.bool_], b: NDArray[np.bool_]) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def sides_touched(mask: NDArray[np.bool_]) -> int:
    """Frame sides the mask runs off: over 5 % of the 1 % band along that side."""
    edge = max(1, round(0.01 * max(mask.shape)))
    return sum(
        bool(side.mean() > 0.05)
        for side in (mask[:edge], mask[-edge:], mask[:, :edge], mask[:, -edge:])
    )


def _refine(
    rgb: NDArray[np.uint8], mask: NDArray[np.bool_], likelihood: NDArray[np.float32]
) -> NDArray[np.bool_]:
    """A graph cut on the photo from the matte: confident pixels fixed, the rim left open."""
    labels = np.where(mask, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    labels[(likelihood > 0.9) & mask] = cv2.GC_FGD
    labels[likelihood < 0.05] = cv2.GC_BGD
    if not (labels == cv2.GC_BGD).any() or not (labels == cv2.GC_FGD).any():
        return mask
    background = np.zeros((1, 65), np.float64)
    foreground = np.zeros((1, 65), np.float64)
    cv2.grabCut(rgb, labels, (0, 0, 1, 1), background, foreground, 2, cv2.GC_INIT_WITH_MASK)
    return np.asarray((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD), dtype=bool)


def _shrink(image: NDArray[np.uint8]) -> NDArray[np.uint8]:
    height, width = image.shape[:2]
    scale = SEG_SIDE / max(height, width)
    if scale >= 1:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


def _from_alpha(alpha: NDArray[np.uint8], shape: tuple[int, ...]) -> Silhouette:
    """The alpha channel as coverage, without the specks and dust cut-out tools leave: opaque
    bits far smaller than the object, faint pixels away from it, and pin-holes in it."""
    coverage = (alpha.astype(np.float32) / 255.0).reshape(shape[:2])
    solid = coverage > 0.5
    if solid.sum() < 16:
        raise ProviderError("NO_OBJECT", "The image is fully transparent: there is no object")
    kept = _large_parts(solid, keep=ALPHA_PART)
    rim = cv2.dilate(kept.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=2) > 0
    pinholes = _without_pinholes(kept) & ~kept
    cleaned = np.where(pinholes, 1.0, np.where(rim, coverage, 0.0))
    return Silhouette(np.asarray(cleaned, dtype=np.float32), fallback=False)


def _graph_cut(rgb: NDArray[np.uint8]) -> NDArray[np.bool_]:
    seeds = _seed_labels(rgb)
    if seeds is None:
        return np.zeros(rgb.shape[:2], dtype=bool)
    background = np.zeros((1, 65), np.float64)
    foreground = np.zeros((1, 65), np.float64)
    # The rectangle is ignored when starting from a mask.
    cv2.grabCut(rgb, seeds, (0, 0, 1, 1), background, foreground, 2, cv2.GC_INIT_WITH_MASK)
    return np.asarray((seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD), dtype=bool)


def _seed_labels(rgb: NDArray[np.uint8]) -> NDArray[np.uint8] | None:
    """GrabCut's starting labels: the border ring is background, the inside probably object.

    None when no pixel differs enough from the background colours to be an object at all.
    """
    distance, threshold = background_distance(rgb)
    if (distance > threshold).mean() < MIN_FRACTION:
        return None
    ring = _border(rgb.shape[:2], width=border_width(rgb.shape))
    labels = np.full(rgb.shape[:2], cv2.GC_PR_FGD, np.uint8)
    # Where the object touches the frame the ring is only probably background.
    labels[ring] = np.where(distance[ring] > threshold, cv2.GC_PR_BGD, cv2.GC_BGD)
    return labels


def _border(shape: tuple[int, ...], *, width: int) -> NDArray[np.bool_]:
    ring = np.ones(shape[:2], dtype=bool)
    ring[width:-width, width:-width] = False
    return ring


def _clean(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Remove specks and ragged edges, keep the main parts and any real (large) holes."""
    size = max(3, round(max(mask.shape) / 100) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    cleaned = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, kernel)
    cleaned = cv2.morphologyEx(cleaned, cv2.MORPH_CLOSE, kernel)
    return _without_pinholes(_large_parts(cleaned.astype(bool), keep=0.1))


def _without_pinholes(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """`mask` with its holes under 0.2 % of its area filled; real (large) holes stay."""
    holes = ~_large_parts(~mask, keep=0.002 * max(1, int(mask.sum())), touching=True)
    return mask | holes


def _large_parts(
    mask: NDArray[np.bool_], *, keep: float, touching: bool = False
) -> NDArray[np.bool_]:
    """Components at least `keep` × the largest (or `keep` pixels when `touching`)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        mask.astype(np.uint8), connectivity=8
    )
    if count <= 1:
        return mask
    areas = stats[1:, cv2.CC_STAT_AREA]
    wanted = areas >= (keep if touching else keep * areas.max())
    if touching:
        # Background regions that reach the frame edge are never holes.
        edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
        wanted[edge[edge > 0] - 1] = True
    return np.asarray(np.concatenate([[False], wanted])[labels], dtype=bool)


def _soften(mask: NDArray[np.bool_]) -> NDArray[np.float32]:
    """Anti-aliased coverage so the rim is smooth once resampled to the mesh grid."""
    return np.asarray(cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 0.8), dtype=np.float32)


def _slab(shape: tuple[int, ...]) -> NDArray[np.float32]:
    """A rounded rectangle covering the frame: the model for images with no separable object."""
    height, width = shape[:2]
    inset = max(1, round(0.02 * min(height, width)))
    radius = max(1, round(0.1 * min(height, width)))
    canvas = np.zeros((height, width), np.uint8)
    box = (inset + radius, inset + radius, width - inset - radius, height - inset - radius)
    cv2.rectangle(canvas, box[:2], box[2:], 1, thickness=-1)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2)
    return _soften(np.asarray(cv2.dilate(canvas, disc), dtype=bool))
