"""finalize_model: validation, face budget, atomic GLB + PNG, stats."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from image2model.meshes import FinalModel, InvalidModel, finalize_model

from .conftest import textured_sphere


def finalize(source: Path, out: Path, **kwargs: object) -> FinalModel:
    options: dict[str, object] = {"face_limit": None, "face_limit_applied": False, "preview": None}
    options.update(kwargs)
    return finalize_model(source, out, "model", **options)  # type: ignore[arg-type]


def glb_json(path: Path) -> dict[str, object]:
    blob = path.read_bytes()
    length = struct.unpack_from("<I", blob, 12)[0]
    return json.loads(blob[20 : 20 + length])


def test_within_budget_the_glb_is_kept_byte_for_byte(sphere_glb: Path, tmp_path: Path) -> None:
    final = finalize(sphere_glb, tmp_path / "out", face_limit=100_000)
    assert final.glb_path == tmp_path / "out" / "model.glb"
    assert final.glb_path.read_bytes() == sphere_glb.read_bytes()
    assert final.stats.faces == 5120
    assert final.stats.watertight


def test_over_budget_is_decimated_closed_and_still_textured(
    sphere_glb: Path, tmp_path: Path
) -> None:
    final = finalize(sphere_glb, tmp_path, face_limit=800, face_limit_applied=True)
    assert final.stats.faces <= 800
    assert final.stats.watertight
    loaded = trimesh.load(final.glb_path, force="mesh")
    assert len(loaded.faces) <= 800
    assert isinstance(loaded.visual, trimesh.visual.TextureVisuals)
    # The red upper half keeps red UVs after the UVs are carried over.
    top = loaded.vertices[:, 1] > 0.5
    assert (loaded.visual.uv[top, 1] > 0.5).all()
    assert "TEXCOORD_0" in glb_json(final.glb_path)["meshes"][0]["primitives"][0]["attributes"]


def test_real_output_stats_and_bounds(coffee_glb: Path, tmp_path: Path) -> None:
    final = finalize(coffee_glb, tmp_path, face_limit=4000, face_limit_applied=True)
    assert final.stats.watertight
    assert 1000 < final.stats.faces <= 4000
    low, high = np.array(final.stats.bounds)
    # The frame's longer side is one unit; the object is part of it, centred on the origin.
    assert 0.3 < (high - low).max() <= 1.0
    assert np.abs((low + high) / 2).max() < 1e-6
    assert final.preview_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("suffix", [".obj", ".ply", ".stl"])
def test_other_formats_become_glb(suffix: str, tmp_path: Path) -> None:
    source = tmp_path / f"sphere{suffix}"
    textured_sphere(3).export(source)
    final = finalize(source, tmp_path / "out")
    assert final.stats.faces == 1280
    assert len(trimesh.load(final.glb_path, force="mesh").faces) == 1280


def test_given_preview_is_converted_to_png(sphere_glb: Path, tmp_path: Path) -> None:
    given = tmp_path / "preview.jpg"
    Image.new("RGB", (40, 30), (10, 200, 10)).save(given)
    final = finalize(sphere_glb, tmp_path / "out", preview=given)
    with Image.open(final.preview_path) as png:
        assert (png.format, png.size) == ("PNG", (40, 30))


def test_unreadable_preview_is_replaced_by_a_render(sphere_glb: Path, tmp_path: Path) -> None:
    broken = tmp_path / "preview.png"
    broken.write_bytes(b"not an image")
    final = finalize(sphere_glb, tmp_path / "out", preview=broken)
    with Image.open(final.preview_path) as png:
        assert png.size == (512, 512)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("garbage.glb", b"glTF but not really"),
        ("empty.obj", b"# nothing here\n"),
        ("nan.obj", b"v nan 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n"),
    ],
)
def test_broken_models_are_refused(name: str, content: bytes, tmp_path: Path) -> None:
    source = tmp_path / name
    source.write_bytes(content)
    with pytest.raises(InvalidModel) as caught:
        finalize(source, tmp_path / "out")
    assert caught.value.code == "INVALID_MODEL"
    assert not (tmp_path / "out" / "model.glb").exists()


def test_no_temporary_files_are_left_behind(sphere_glb: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    finalize(sphere_glb, out, face_limit=500)
    assert sorted(p.name for p in out.iterdir()) == ["model.glb", "model.png"]
