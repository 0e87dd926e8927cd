"""Inflation: a disc becomes a round dome front and back, closed, with adjustable thickness."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import trimesh

from image2model.providers.local.shape import SLAB_RADIUS, grid_size, inflate


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
