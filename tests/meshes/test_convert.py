"""convert / converted_path: every format loads back, OBJ carries its texture, results cache."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest
import trimesh

from image2model.meshes import FORMATS, convert, converted_path


def test_paths_sit_next_to_the_glb(tmp_path: Path) -> None:
    glb = tmp_path / "chair.glb"
    assert [converted_path(glb, f).name for f in FORMATS] == [
        "chair.glb",
        "chair.obj.zip",
        "chair.stl",
        "chair.ply",
        "chair.3mf",
        "chair.usdz",
        "chair.fbx",
    ]
    with pytest.raises(ValueError, match="dae"):
        converted_path(glb, "dae")


@pytest.mark.parametrize("fmt", ["stl", "ply"])
def test_formats_load_back_closed(coffee_glb: Path, fmt: str) -> None:
    path = convert(coffee_glb, fmt)
    assert path == converted_path(coffee_glb, fmt)
    mesh = trimesh.load(path, force="mesh")
    original = trimesh.load(coffee_glb, force="mesh")
    assert len(mesh.faces) == len(original.faces)
    assert mesh.is_watertight


def test_ply_carries_the_texture_as_vertex_colours(coffee_glb: Path) -> None:
    mesh = trimesh.load(convert(coffee_glb, "ply"), force="mesh")
    colours = mesh.visual.vertex_colors[:, :3]
    # A photo, not a flat default: many distinct colours.
    assert len({tuple(c) for c in colours}) > 100


def test_obj_zip_holds_obj_mtl_and_texture(coffee_glb: Path, tmp_path: Path) -> None:
    archive = convert(coffee_glb, "obj")
    with zipfile.ZipFile(archive) as bundle:
        names = bundle.namelist()
        bundle.extractall(tmp_path / "unzipped")
    assert "model.obj" in names
    assert "model.mtl" in names
    assert any(n.endswith((".png", ".jpg", ".jpeg")) for n in names)
    mesh = trimesh.load(tmp_path / "unzipped" / "model.obj", force="mesh")
    assert isinstance(mesh.visual, trimesh.visual.TextureVisuals)
    assert mesh.visual.material.image is not None
    assert len(mesh.visual.uv) == len(mesh.vertices)
    assert trimesh.Trimesh(mesh.vertices, mesh.faces).is_watertight


def test_glb_is_its_own_conversion(coffee_glb: Path) -> None:
    assert convert(coffee_glb, "glb") == coffee_glb


def test_conversions_are_cached_until_the_glb_changes(sphere_glb: Path) -> None:
    first = convert(sphere_glb, "stl")
    stamp = first.stat().st_mtime_ns
    assert convert(sphere_glb, "stl").stat().st_mtime_ns == stamp
    # A newer GLB (e.g. regenerated) makes the cached copy stale.
    os.utime(sphere_glb, ns=(stamp + 10**9, stamp + 10**9))
    assert convert(sphere_glb, "stl").stat().st_mtime_ns > stamp
    leftovers = [p.name for p in sphere_glb.parent.iterdir() if p.name.startswith(".tmp")]
    assert leftovers == []
