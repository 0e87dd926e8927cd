"""Models to post-process: a textured sphere made directly, and real local-provider output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image
from skimage import data
from trimesh.visual import TextureVisuals
from trimesh.visual.material import PBRMaterial

from image2model.providers.base import GenerationRequest
from image2model.providers.local import LocalProvider
from tests.support.contexts import RecordingContext


def textured_sphere(subdivisions: int = 4) -> trimesh.Trimesh:
    """A closed sphere whose texture is red on the upper half and blue on the lower half."""
    sphere = trimesh.creation.icosphere(subdivisions=subdivisions)
    uv = np.column_stack([0.5 + 0.5 * sphere.vertices[:, 0], 0.5 + 0.5 * sphere.vertices[:, 1]])
    pixels = np.zeros((64, 64, 3), np.uint8)
    pixels[:32] = (220, 30, 30)
    pixels[32:] = (30, 30, 220)
    material = PBRMaterial(baseColorTexture=Image.fromarray(pixels))
    return trimesh.Trimesh(
        sphere.vertices, sphere.faces, visual=TextureVisuals(uv=uv, material=material)
    )


@pytest.fixture
def sphere_glb(tmp_path: Path) -> Path:
    path = tmp_path / "source" / "sphere.glb"
    path.parent.mkdir()
    textured_sphere().export(path)
    return path


@pytest.fixture(scope="session")
def coffee_glb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The local provider's model of scikit-image's coffee cup photo (256 px, 4000 faces)."""
    root = tmp_path_factory.mktemp("coffee")
    photo = Image.fromarray(data.coffee()).resize((256, 171))
    photo.save(root / "coffee.jpg", quality=92)
    request = GenerationRequest(root / "coffee.jpg", root / "work", face_limit=4000)
    return LocalProvider().generate(request, RecordingContext()).model_path
