"""render_preview: a headless, lit three-quarter view in the model's own colours."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from image2model.meshes import InvalidModel, render_preview
from image2model.meshes.preview import BACKGROUND


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB")).astype(int)


def test_textured_sphere_shows_its_texture_on_a_plain_background(
    sphere_glb: Path, tmp_path: Path
) -> None:
    out = tmp_path / "preview.png"
    render_preview(sphere_glb, out)
    image = pixels(out)
    assert image.shape == (512, 512, 3)
    assert (np.abs(image[0, 0] - BACKGROUND) <= 1).all()
    # Upper half red, lower half blue, as the texture says (lit, so not exact values).
    upper, lower = image[160, 256], image[352, 256]
    assert upper[0] > 2 * upper[2]
    assert lower[2] > 2 * lower[0]
    object_share = (np.abs(image - BACKGROUND).sum(axis=2) > 12).mean()
    assert 0.4 < object_share < 0.8


def test_lighting_varies_across_the_surface(tmp_path: Path) -> None:
    source = tmp_path / "plain.stl"
    trimesh.creation.icosphere(subdivisions=3).export(source)
    render_preview(source, tmp_path / "plain.png", size=128)
    image = pixels(tmp_path / "plain.png")
    covered = np.abs(image - BACKGROUND).sum(axis=2) > 12
    brightness = image.sum(axis=2)[covered]
    assert brightness.max() - brightness.min() > 150


def test_vertex_colours_are_rendered(tmp_path: Path) -> None:
    box = trimesh.creation.box()
    box.visual.vertex_colors = np.tile([20, 200, 20, 255], (len(box.vertices), 1))
    box.export(tmp_path / "box.ply")
    render_preview(tmp_path / "box.ply", tmp_path / "box.png", size=96)
    centre = pixels(tmp_path / "box.png")[48, 48]
    assert centre[1] > 2 * max(centre[0], centre[2])


def test_real_model_preview(coffee_glb: Path, tmp_path: Path) -> None:
    render_preview(coffee_glb, tmp_path / "coffee.png", size=256)
    image = pixels(tmp_path / "coffee.png")
    assert image.shape == (256, 256, 3)
    assert (np.abs(image - BACKGROUND).sum(axis=2) > 12).mean() > 0.2


def test_unreadable_model_is_invalid(tmp_path: Path) -> None:
    (tmp_path / "broken.glb").write_bytes(b"nope")
    with pytest.raises(InvalidModel):
        render_preview(tmp_path / "broken.glb", tmp_path / "out.png")
    assert not (tmp_path / "out.png").exists()
