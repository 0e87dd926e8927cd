"""Inflation: a disc becomes a round dome front and back, closed, with adjustable thickness."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import trimesh

from image2model.providers.local.shape import (
    SLAB_RADIUS,
    choose_shape,
    grid_size,
    inflate,
    revolve,
)


def disc_coverage(size: int = 200, radius: int = 60) -> np.ndarray:
    canvas = np.zeros((size, size), np.float32)
    cv2.circle(canvas, (size // 2, size // 2), radius, 1.0, -1)
    return canvas


def inflated(
    coverage: np.ndarray, *, thickness: float = 1.0, flat: bool = False
) -> trimesh.Trimesh:
    """The inflated mesh with y flipped to point up, as in model space."""
    vertices, faces = inflate(coverage, coverage.shape, thickness=thickness, flat=flat)
    return trimesh.Trimesh(vertices * [1, -1, 1] + [0, 1, 0], faces)


def test_disc_becomes_a_closed_ball_like_shape() -> None:
    mesh = inflated(disc_coverage())
    assert mesh.is_watertight
    assert mesh.volume > 0, "faces must wind outwards"
    radius = 60 / 200
    # Front dome about as high as the disc's radius, back the mirror image.
    assert mesh.bounds[1, 2] == pytest.approx(radius, rel=0.12)
    assert mesh.bounds[0, 2] == pytest.approx(-mesh.bounds[1, 2], rel=1e-6)
    width = mesh.bounds[1, 0] - mesh.bounds[0, 0]
    assert width == pytest.approx(2 * radius, rel=0.05)
    # A hemisphere's profile: at half the radius from the centre, height is √0.75 of the top.
    near = np.abs(np.hypot(mesh.vertices[:, 0] - 0.5, mesh.vertices[:, 1] - 0.5) - radius / 2)
    ring = mesh.vertices[(near < 0.01) & (mesh.vertices[:, 2] > 0)]
    assert ring[:, 2].mean() == pytest.approx(np.sqrt(0.75) * radius, rel=0.12)


@pytest.mark.parametrize("thickness", [0.3, 2.0])
def test_thickness_scales_depth(thickness: float) -> None:
    base = inflated(disc_coverage()).bounds[1, 2]
    mesh = inflated(disc_coverage(), thickness=thickness)
    assert mesh.is_watertight
    assert mesh.bounds[1, 2] == pytest.approx(thickness * base, rel=0.1)


def test_thin_parts_stay_thin_beside_thick_ones() -> None:
    coverage = disc_coverage(240, 70)
    cv2.rectangle(coverage, (180, 115), (236, 125), 1.0, -1)  # a narrow bar off the disc
    mesh = inflated(coverage)
    assert mesh.is_watertight
    bar = mesh.vertices[mesh.vertices[:, 0] > 215 / 240]
    # Local thickness: the bar is about as deep as it is wide, not as deep as the disc.
    assert bar[:, 2].max() < 12 / 240
    assert mesh.vertices[:, 2].max() > 60 / 240


def test_slab_is_flat_with_rounded_edges() -> None:
    coverage = np.zeros((150, 200), np.float32)
    coverage[10:140, 10:190] = 1.0
    mesh = inflated(coverage, flat=True)
    assert mesh.is_watertight
    assert mesh.bounds[1, 2] == pytest.approx(SLAB_RADIUS, rel=0.15)


def test_grid_grows_with_the_face_budget() -> None:
    coverage = disc_coverage(256, 100)
    small, large = grid_size(coverage, 20_000), grid_size(coverage, 100_000)
    assert small[0] < large[0] <= 256
    faces = len(inflate(coverage, small, thickness=1.0, flat=False)[1])
    assert 10_000 < faces < 40_000


def vase_coverage() -> np.ndarray:
    """An upright, mirror-symmetric outline, wider at the belly than at the neck."""
    canvas = np.zeros((240, 200), np.float32)
    for y in range(30, 215):
        t = (y - 30) / 185
        half = 25 + 40 * np.sin(np.pi * t)
        canvas[y, int(100 - half) : int(100 + half)] = 1.0
    return canvas


def revolved(coverage: np.ndarray, thickness: float = 1.0) -> trimesh.Trimesh:
    vertices, faces = revolve(coverage, coverage.shape, thickness=thickness)
    return trimesh.Trimesh(vertices * [1, -1, 1] + [0, 1, 0], faces)


def test_a_revolved_outline_is_round_in_every_row() -> None:
    coverage = vase_coverage()
    mesh = revolved(coverage)
    assert mesh.is_watertight and mesh.volume > 0
    for y in (60, 120, 180):  # rows of the outline
        half = (coverage[y] > 0.5).sum() / 2  # the row's half-width, in cells
        ring = mesh.vertices[np.abs((1 - mesh.vertices[:, 1]) * 240 - y) < 1]
        # x is in frame widths (200 cells), z in the longer side (240 cells)
        radii = np.hypot((ring[:, 0] - 0.5) * 200, ring[:, 2] * 240)
        assert np.median(radii) == pytest.approx(half, rel=0.06), y
        assert radii.max() == pytest.approx(half, rel=0.06), y


def test_auto_chooses_by_the_stated_rule() -> None:
    assert choose_shape(vase_coverage()) == "revolve"
    mug = vase_coverage()
    cv2.ellipse(mug, (170, 120), (25, 45), 0, -90, 90, 1.0, 8)  # a handle on one side
    assert choose_shape(mug) == "inflate"
    assert choose_shape(disc_coverage()) == "inflate"  # round, but not upright
    board = np.zeros((200, 300), np.float32)
    board[:, 20:280] = 1.0  # reaches the top, bottom and... only two sides, but fills 87 %
    assert choose_shape(board) == "slab"
    painting = np.zeros((200, 300), np.float32)
    painting[50:150, 80:220] = 1.0  # a rectangle well inside the frame
    assert choose_shape(painting) == "slab"
    poster = np.zeros((300, 200), np.float32)
    poster[30:270, 50:150] = 1.0  # upright and symmetric, but a rectangle: a board, not a can
    assert choose_shape(poster) == "slab"
    bucket = np.zeros((300, 200), np.uint8)
    cv2.fillConvexPoly(bucket, np.array([[40, 40], [160, 40], [135, 260], [65, 260]]), 1)
    assert choose_shape(bucket.astype(np.float32)) == "revolve"  # four corners, but tapered
    banner = np.zeros((200, 300), np.float32)
    banner[:120, :] = 1.0  # three sides, 60 %
    assert choose_shape(banner) == "slab"
