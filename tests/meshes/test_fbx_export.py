"""FBX made by assimp from the stored GLB, read back by assimp; unavailable without it."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import trimesh

from image2model.meshes import FormatUnavailable, Tools, convert, converted_path


@pytest.fixture(scope="module")
def tools() -> Tools:
    found = Tools.find(None)
    assert found.assimp is not None, "cmeel-assimp is a dependency: its tool is beside Python"
    return found


def test_a_generated_model_becomes_an_fbx_with_its_texture(
    coffee_glb: Path, tools: Tools, tmp_path: Path
) -> None:
    fbx = convert(coffee_glb, "fbx", tools)
    assert fbx == converted_path(coffee_glb, "fbx")
    assert fbx.read_bytes().startswith(b"Kaydara FBX Binary")
    assert not [p for p in fbx.parent.iterdir() if p.name.startswith(".fbx-")]
    assert tools.assimp is not None
    back = tools.assimp.to_glb(shutil.copy(fbx, tmp_path / "back.fbx"))
    original = trimesh.load(coffee_glb, force="mesh")
    mesh = trimesh.load(back, force="mesh")
    assert len(mesh.faces) == len(original.faces)
    assert np.allclose(mesh.extents, original.extents, rtol=1e-4), "metres and +Y up kept"
    assert mesh.visual.material.baseColorTexture is not None


def test_without_assimp_fbx_is_unavailable_and_says_how_to_fix_it(sphere_glb: Path) -> None:
    missing = Tools.find("/nonexistent/assimp")
    assert missing.assimp is None
    reason = missing.unavailable()["fbx"]
    assert "ASSIMP_COMMAND=/nonexistent/assimp" in reason
    with pytest.raises(FormatUnavailable, match="ASSIMP_COMMAND"):
        convert(sphere_glb, "fbx", missing)
    assert not converted_path(sphere_glb, "fbx").exists()
    assert Tools.find(None).unavailable() == {}
