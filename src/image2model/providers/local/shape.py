"""A silhouette made into a closed volume, in one of three kinds:

- `inflate`: a round dome in front and its mirror behind, as thick as the outline is wide;
- `slab`: the same with its depth capped, a thin rounded plate (boards, posters, scenes);
- `revolve`: each row of the outline turned about its own centre, a body of revolution
  (cups, vases, bottles, lamps).

`choose_shape` picks one for `auto`.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from numpy.typing import NDArray
from skimage.measure import marching_cubes

from image2model.providers.base import ProviderError
from image2model.providers.local.mask import sides_touched

GRID_MIN, GRID_MAX = 16, 256
PAD = 3
FACES_PER_CELL = 10.0
"""Marching-cubes triangles per covered grid cell for this profile (measured, roughly)."""

SLAB_RADIUS = 0.05
"""Half-thickness of a slab, as a fraction of the frame's longer side."""
MIN_HALF_DEPTH = 0.75
"""Least half-depth of the volume, in grid cells: a thin or flattened part stays a solid the
grid can sample (marching cubes samples depth at ±½ cell) instead of vanishing."""

Surface = tuple[NDArray[np.float64], NDArray[np.int64]]

SHAPES = ("inflate", "slab", "revolve")
SLAB_SIDES = 3
SLAB_FILL = 0.6
SLAB_QUAD = 0.93
SLAB_RECTANGLE = 0.95
"""`auto` makes a slab of a subject that reaches 3 sides of the frame, fills 60 % of it, or
is a four-cornered outline it fills to 93 % (a rectangle, or one seen at an angle): a board,
a poster, a painting or a scene, which inflating would make a bun. An upright symmetric
four-cornered outline is revolved instead (a cup, a bucket, a lampshade) unless it is a
rectangle (it fills 95 % of the rectangle around it): then it is taken for a board."""
REVOLVE_SYMMETRY = 0.9
REVOLVE_ONE_RUN = 0.95
REVOLVE_TALL = 1.1
"""`auto` revolves an outline that is its own mirror image (IoU with its reflection about
the vertical centre line at least 0.9), one piece across in 95 % of its rows (no handle or
gap beside it), and at least 1.1 times as tall as wide: a cup, vase, bottle or lamp."""


def choose_shape(coverage: NDArray[np.float32]) -> str:
    """The kind of shape `auto` gives this silhouette (see the constants above)."""
    inside = coverage > 0.5
    if not inside.any():
        return "inflate"
    if sides_touched(inside) >= SLAB_SIDES or inside.mean() >= SLAB_FILL:
        return "slab"
    four_cornered = _quad_fill(inside) >= SLAB_QUAD
    if _revolvable(inside) and not (four_cornered and _rectangle_fill(inside) >= SLAB_RECTANGLE):
        return "revolve"
    return "slab" if four_cornered else "inflate"


def _revolvable(inside: NDArray[np.bool_]) -> bool:
    rows = np.flatnonzero(inside.any(axis=1))
    cols = np.flatnonzero(inside.any(axis=0))
    tall = (rows[-1] - rows[0] + 1) >= REVOLVE_TALL * (cols[-1] - cols[0] + 1)
    return bool(
        tall and _mirror_iou(inside) >= REVOLVE_SYMMETRY and _one_run(inside) >= REVOLVE_ONE_RUN
    )


def _rectangle_fill(inside: NDArray[np.bool_]) -> float:
    """How fully the outline fills the smallest (turned) rectangle around it."""
    points = cv2.findNonZero(inside.astype(np.uint8))
    (_, _), (width, height), _ = cv2.minAreaRect(points)
    return float(inside.sum() / max(1.0, width * height))


def _quad_fill(inside: NDArray[np.bool_]) -> float:
    """How fully the outline fills the quadrilateral around it (0 when its hull has not four
    corners)."""
    contours, _ = cv2.findContours(
        inside.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    hull = cv2.convexHull(np.concatenate(contours))
    corners = cv2.approxPolyDP(hull, 0.02 * cv2.arcLength(hull, True), True)
    if len(corners) != 4:
        return 0.0
    area = cv2.contourArea(corners)
    return float(inside.sum() / area) if area > 0 else 0.0


def _mirror_iou(inside: NDArray[np.bool_]) -> float:
    """IoU of the outline with its reflection about its own vertical centre line."""
    weights = inside.sum(axis=0).astype(np.float64)
    centre = float((np.arange(inside.shape[1]) * weights).sum() / weights.sum())
    shift = round(2 * centre) - (inside.shape[1] - 1)
    mirrored = np.roll(inside[:, ::-1], shift, axis=1)
    if shift > 0:
        mirrored[:, :shift] = False
    elif shift < 0:
        mirrored[:, shift:] = False
    both = np.logical_and(inside, mirrored).sum()
    either = np.logical_or(inside, mirrored).sum()
    return float(both / either) if either else 0.0


def _one_run(inside: NDArray[np.bool_]) -> float:
    """Share of the outline's rows that cross it in one piece."""
    rows = inside[inside.any(axis=1)].astype(np.int8)
    starts = (np.diff(rows, axis=1, prepend=0) == 1).sum(axis=1)
    return float((starts == 1).mean())


def grid_size(coverage: NDArray[np.float32], target_faces: int) -> tuple[int, int]:
    """Grid (rows, cols) whose marching-cubes mesh has roughly `target_faces` triangles."""
    height, width = coverage.shape
    fraction = max(float((coverage > 0.5).mean()), 0.02)
    side = math.sqrt(target_faces / (FACES_PER_CELL * fraction * height * width)) * max(
        height, width
    )
    scale = min(max(side, GRID_MIN), GRID_MAX) / max(height, width)
    return max(8, round(height * scale)), max(8, round(width * scale))


def inflate(
    coverage: NDArray[np.float32], grid: tuple[int, int], *, thickness: float, flat: bool
) -> Surface:
    """Closed surface in frame units: x, y (down) in [0, 1] across the frame, z to the viewer."""
    inside = _grid_inside(coverage, grid)
    signed = _signed_distance(inside)
    cap = SLAB_RADIUS * max(grid) if flat else math.inf
    height = np.maximum(thickness * _dome(signed, cap), MIN_HALF_DEPTH)
    field = np.where(signed > 0, height, signed).astype(np.float32)
    return _in_frame(_mesh(field), grid)


def revolve(coverage: NDArray[np.float32], grid: tuple[int, int], *, thickness: float) -> Surface:
    """Closed surface of revolution in frame units (as `inflate`): each row of the outline
    turned about its own centre, so the depth at a point is that of a circle through the row."""
    inside = _grid_inside(coverage, grid)
    x = np.arange(inside.shape[1], dtype=np.float32)
    present = np.asarray(inside.any(axis=1), dtype=bool)
    left = np.where(present, np.argmax(inside, axis=1), 0).astype(np.float32)
    right = np.where(present, inside.shape[1] - 1 - np.argmax(inside[:, ::-1], axis=1), 0)
    centre = np.asarray((left + right) / 2, dtype=np.float32)
    radius = np.where(present, (right - left + 1) / 2, 0).astype(np.float32)
    # Row to row, a radius that jitters by a pixel would ring round the body: smooth it.
    radius = np.where(present, _smooth_rows(radius), 0)
    centre = np.where(present, _smooth_rows(centre, weights=present), centre)
    offset = np.abs(x[None, :] - centre[:, None])
    inside_disc = radius[:, None] - offset  # distance to the row's rim, in cells
    height = thickness * np.sqrt(np.maximum(radius[:, None] ** 2 - offset**2, 0))
    field = np.where(inside_disc > 0, np.maximum(height, MIN_HALF_DEPTH), inside_disc)
    field[~present] = -1.0
    return _in_frame(_mesh(field.astype(np.float32)), grid)


def _grid_inside(coverage: NDArray[np.float32], grid: tuple[int, int]) -> NDArray[np.bool_]:
    """The cells of the (padded) grid the object covers; NO_OBJECT when there are none."""
    rows, cols = grid
    small = cv2.resize(coverage, (cols, rows), interpolation=cv2.INTER_AREA)
    inside = _inside(np.pad(small, PAD).astype(np.float32))
    if not inside.any():
        raise ProviderError("NO_OBJECT", "No object was found in the image")
    return inside


def _in_frame(surface: Surface, grid: tuple[int, int]) -> Surface:
    """A surface in padded grid cells moved to frame units."""
    vertices, faces = surface
    rows, cols = grid
    # Cell centres sit half a cell in from the frame edge once the padding is removed.
    scale = np.array([1.0 / cols, 1.0 / rows, 1.0 / max(rows, cols)])
    offset = np.array([PAD - 0.5, PAD - 0.5, 0.0])
    return (vertices - offset) * scale, faces


def _smooth_rows(
    values: NDArray[np.float32], weights: NDArray[np.bool_] | None = None
) -> NDArray[np.float32]:
    """A 1-cell Gaussian along the rows (of the rows that have the object, when `weights`)."""
    kernel = cv2.getGaussianKernel(5, 1.0).astype(np.float32).ravel()
    w = np.ones_like(values) if weights is None else weights.astype(np.float32)
    num = np.convolve(values * w, kernel, mode="same")
    den = np.convolve(w, kernel, mode="same")
    return np.asarray(np.where(den > 0, num / np.maximum(den, 1e-6), values), dtype=np.float32)


def _inside(coverage: NDArray[np.float32]) -> NDArray[np.bool_]:
    """Cells the object covers; an outline thinner than a cell keeps the cells it crosses most."""
    inside = coverage > 0.5
    most = float(coverage.max())
    if not inside.any() and most > 0:
        inside = coverage >= 0.5 * most
    return np.asarray(inside, dtype=bool)


def _signed_distance(inside: NDArray[np.bool_]) -> NDArray[np.float32]:
    """Distance to the rim in cells, positive inside, smoothed so the rim is not stair-stepped."""
    inner = cv2.distanceTransform(inside.astype(np.uint8), cv2.DIST_L2, 5)
    outer = cv2.distanceTransform((~inside).astype(np.uint8), cv2.DIST_L2, 5)
    signed = np.where(inside, inner - 0.5, 0.5 - outer).astype(np.float32)
    smooth = np.asarray(cv2.GaussianBlur(signed, (0, 0), 1.0), dtype=np.float32)
    # An object a cell or two thin would smooth away entirely; it keeps its steps instead.
    return smooth if (smooth > 0).any() else signed


def _dome(depth: NDArray[np.float32], cap: float) -> NDArray[np.float32]:
    """Height of a circular profile: √(d(2R−d)) with R the local half-width, so discs dome."""
    depth = np.maximum(depth, 0)
    radius = np.minimum(_local_radius(depth), cap)
    clipped = np.minimum(depth, radius)
    height = np.sqrt(np.maximum(clipped * (2 * radius - clipped), 0))
    return np.asarray(cv2.GaussianBlur(height, (0, 0), 0.7), dtype=np.float32)


def _local_radius(depth: NDArray[np.float32]) -> NDArray[np.float32]:
    """Radius of the largest inscribed disc covering each point (granulometry on a ladder)."""
    radius = depth.copy()
    deepest = float(depth.max())
    if deepest <= 1.5:
        return radius
    for level in np.geomspace(1.5, deepest, 16, dtype=np.float32):
        centres = (depth < level).astype(np.uint8)
        reach = cv2.distanceTransform(centres, cv2.DIST_L2, 5)
        radius = np.where(reach <= level, np.maximum(radius, level), radius)
    # Thin parts meeting thick ones would crease where the ladder steps; blur the seam.
    sigma = max(1.0, 0.05 * deepest)
    smooth = cv2.GaussianBlur(radius, (0, 0), sigma)
    return np.asarray(np.maximum(smooth, depth), dtype=np.float32)


def _mesh(field: NDArray[np.float32]) -> Surface:
    """Marching cubes over |z| ≤ field(x, y): closed because the volume is zero at its edges."""
    top = float(field.max())
    step = max(1.0, top / 48)
    half = math.ceil((top + 1) / step) + 1
    # Samples at ±(k + ½)·step: symmetric, and f is linear in z so coarse steps stay exact.
    depths = ((np.arange(-half, half, dtype=np.float32) + 0.5) * step).astype(np.float32)
    volume = field[:, :, None] - np.abs(depths)[None, None, :]
    vertices, faces, _, _ = marching_cubes(volume, 0.0, allow_degenerate=False)  # type: ignore[no-untyped-call]
    rows, cols, z = vertices[:, 0], vertices[:, 1], (vertices[:, 2] - half + 0.5) * step
    # Winding is reversed so faces turn outwards once y is flipped to point up in model space.
    return np.column_stack([cols, rows, z]).astype(np.float64), faces[:, ::-1].astype(np.int64)
