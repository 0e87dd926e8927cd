"""The assimp tool: FBX in and out, textures kept, and its failures said in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from image2model.meshes import assimp


@pytest.fixture(scope="module")
def tool() -> assimp.Assimp:
    found = assimp.find(None)
    assert found is not None, "cmeel-assimp is a dependency: its tool is beside Python"
    return found


def _textured_box(path: Path) -> Path:
    box = trimesh.creation.box(extents=(1.0, 2.0, 0.5))
    uv = np.clip(box.vertices[:, :2] + 0.5, 0, 1)
    box.visual = trimesh.visual.TextureVisuals(uv=uv, image=Image.new("RGB", (8, 8), (200, 40, 10)))
    path.write_bytes(box.export(file_type="glb"))
    return path


def test_an_fbx_comes_back_as_the_same_textured_glb(tool: assimp.Assimp, tmp_path: Path) -> None:
    fbx = tool.export(_textured_box(tmp_path / "box.glb"), tmp_path / "box.fbx", "fbx")
    assert fbx.read_bytes().startswith(b"Kaydara FBX Binary")
    glb = tool.to_glb(fbx)
    assert glb == tmp_path / "box.glb" and not list(tmp_path.glob("*.part*"))
    mesh = trimesh.load(glb, force="mesh")
    assert len(mesh.faces) == 12
    assert np.allclose(mesh.extents, (1.0, 2.0, 0.5)), "metres in, metres out"
    image = mesh.visual.material.baseColorTexture
    assert image is not None and image.convert("RGB").getpixel((4, 4)) == (200, 40, 10)


def test_a_broken_file_says_what_assimp_reported(tool: assimp.Assimp, tmp_path: Path) -> None:
    broken = tmp_path / "model.fbx"
    broken.write_bytes(b"Kaydara FBX Binary  \x00\x1a\x00" + bytes(64))
    with pytest.raises(assimp.ConversionFailed, match="FBX-Parser") as caught:
        tool.to_glb(broken)
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "model.glb").exists() and not list(tmp_path.glob("*.part*"))


def test_a_named_command_that_is_not_there_is_missing() -> None:
    assert assimp.find("/nonexistent/assimp") is None
    assert "ASSIMP_COMMAND=/nonexistent/assimp" in assimp.missing_reason("/nonexistent/assimp")
    assert "cmeel-assimp" in assimp.missing_reason(None)
