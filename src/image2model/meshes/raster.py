"""A small numpy z-buffer: which triangle is nearest at each pixel, with barycentrics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

CHUNK = 1 << 19
"""Candidate pixels tested per batch: bounds memory whatever the triangle sizes."""

DEPTH_LEVELS = (1 << 24) - 1


@dataclass(frozen=True)
class Coverage:
    """For each covered pixel (flat index), the nearest face and its barycentric weights."""

    pixels: NDArray[np.int64]
    faces: NDArray[np.int64]
    weights: NDArray[np.float32]


def rasterize(screen: NDArray[np.float64], faces: NDArray[np.int64], size: int) -> Coverage:
    """Screen-space vertices (x right, y down, z towards the viewer) onto a size×size grid."""
    corners = screen[faces]
    low = np.clip(np.ceil(corners[:, :, :2].min(axis=1) - 0.5), 0, size - 1).astype(np.int64)
    high = np.clip(np.floor(corners[:, :, :2].max(axis=1) - 0.5), -1, size - 1).astype(np.int64)
    extent = (high - low + 1).max(axis=1)
    pieces = []
    # Triangles are binned by bounding-box size so each batch tests a fixed square of pixels.
    span = 1
    while span < 2 * size:
        chosen = np.nonzero((extent > span // 2) & (extent <= span))[0]
        step = max(1, CHUNK // (span * span))
        for start in range(0, len(chosen), step):
            batch = chosen[start : start + step]
            pieces.append(_fragments(corners[batch], low[batch], batch, span, size))
        span *= 2
    return _nearest(pieces)


def _fragments(
    corners: NDArray[np.float64],
    low: NDArray[np.int64],
    ids: NDArray[np.int64],
    span: int,
    size: int,
) -> tuple[NDArray[np.int64], NDArray[np.float32], NDArray[np.int64], NDArray[np.float32]]:
    offsets = np.arange(span)
    px = low[:, 0, None, None] + offsets[None, None, :]
    py = low[:, 1, None, None] + offsets[None, :, None]
    x, y = px + 0.5, py + 0.5
    a, b, c = (
        corners[:, 0, None, None, :],
        corners[:, 1, None, None, :],
        corners[:, 2, None, None, :],
    )
    area = _edge(a, b, c[..., 0], c[..., 1])
    area = np.where(np.abs(area) < 1e-12, np.inf, area)
    w0 = _edge(b, c, x, y) / area
    w1 = _edge(c, a, x, y) / area
    w2 = 1.0 - w0 - w1
    inside = (w0 >= -1e-4) & (w1 >= -1e-4) & (w2 >= -1e-4) & (px < size) & (py < size)
    tri, row, col = np.nonzero(inside)
    weights = np.stack([w0[tri, row, col], w1[tri, row, col], w2[tri, row, col]], axis=1)
    depth = (weights * corners[tri, :, 2]).sum(axis=1)
    pixel = py[tri, row, 0] * size + px[tri, 0, col]
    return pixel, depth.astype(np.float32), ids[tri], weights.astype(np.float32)


def _edge(
    p: NDArray[np.floating[Any]],
    q: NDArray[np.floating[Any]],
    x: NDArray[np.floating[Any]],
    y: NDArray[np.floating[Any]],
) -> NDArray[np.float64]:
    result = (q[..., 0] - p[..., 0]) * (y - p[..., 1]) - (q[..., 1] - p[..., 1]) * (x - p[..., 0])
    return np.asarray(result, dtype=np.float64)


def _nearest(
    pieces: list[
        tuple[NDArray[np.int64], NDArray[np.float32], NDArray[np.int64], NDArray[np.float32]]
    ],
) -> Coverage:
    if not pieces:
        empty = np.zeros(0, np.int64)
        return Coverage(empty, empty, np.zeros((0, 3), np.float32))
    pixel = np.concatenate([p[0] for p in pieces])
    depth = np.concatenate([p[1] for p in pieces])
    face = np.concatenate([p[2] for p in pieces])
    weights = np.concatenate([p[3] for p in pieces])
    # One integer key (pixel, then nearness) sorts far faster than a two-key lexsort.
    span = max(float(depth.max() - depth.min()), 1e-12)
    nearness = ((depth.max() - depth) / span * DEPTH_LEVELS).astype(np.int64)
    order = np.argsort(pixel * (DEPTH_LEVELS + 1) + nearness)
    first = np.ones(len(order), dtype=bool)
    first[1:] = pixel[order][1:] != pixel[order][:-1]
    keep = order[first]
    return Coverage(pixel[keep], face[keep], weights[keep])
