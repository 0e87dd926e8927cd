"""A background colour model from the frame border, robust to the object touching one side."""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

CLUSTERS = 5
SIDE_SHARE = 0.1
"""A border colour is background when it fills at least this share of two or more sides."""

MIN_DISTANCE = 14.0
"""Lab distance below which a colour always counts as background (noise, JPEG artefacts)."""


def border_width(shape: tuple[int, ...]) -> int:
    """Thickness of the border strip the background is learnt from."""
    return max(2, round(0.03 * max(shape[:2])))


def background_distance(rgb: NDArray[np.uint8]) -> tuple[NDArray[np.float32], float]:
    """Per-pixel Lab distance to the background colours, and the distance that means object."""
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    samples, side = _border_samples(lab, border_width(rgb.shape))
    centres, labels = _cluster(samples)
    background = _background_clusters(labels, side)
    distance = _nearest(lab.reshape(-1, 3), centres[background]).reshape(lab.shape[:2])
    # Background varies (shadows, texture); further than most of its own pixels is object.
    own = _nearest(samples[np.isin(labels, np.nonzero(background)[0])], centres[background])
    threshold = max(MIN_DISTANCE, 1.5 * float(np.percentile(own, 90)))
    return distance, threshold


def _border_samples(
    lab: NDArray[np.float32], width: int
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    sides = [lab[:width], lab[-width:], lab[:, :width], lab[:, -width:]]
    samples = np.concatenate([s.reshape(-1, 3) for s in sides])
    side = np.repeat(np.arange(4), [s.shape[0] * s.shape[1] for s in sides])
    return np.ascontiguousarray(samples), side


def _cluster(samples: NDArray[np.float32]) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    clusters = min(CLUSTERS, len(samples))
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 10, 1.0)
    assigned = np.zeros((len(samples), 1), np.int32)
    _, labels, centres = cv2.kmeans(samples, clusters, assigned, criteria, 2, cv2.KMEANS_PP_CENTERS)
    return np.asarray(centres, np.float32), np.asarray(labels, np.int64).ravel()


def _background_clusters(labels: NDArray[np.int64], side: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Clusters present on two sides or more; an object usually touches only one."""
    presence = np.zeros((int(labels.max()) + 1, 4))
    np.add.at(presence, (labels, side), 1)
    presence /= np.bincount(side, minlength=4)
    common = (presence >= SIDE_SHARE).sum(axis=1) >= 2
    if common.any():
        return np.asarray(common, dtype=bool)
    # Every side a different colour: fall back to the most widespread ones.
    spread = presence.mean(axis=1)
    return np.asarray(spread >= 0.5 * spread.max(), dtype=bool)


def _nearest(pixels: NDArray[np.float32], centres: NDArray[np.float32]) -> NDArray[np.float32]:
    gaps = ((pixels[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    return np.asarray(np.sqrt(gaps.min(axis=1)), dtype=np.float32)
