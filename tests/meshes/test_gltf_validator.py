"""Our GLBs pass the Khronos glTF validator (npm `gltf-validator`) with no errors."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from image2model.meshes import finalize_model
from image2model.providers.base import GenerationRequest
from image2model.providers.local import LocalProvider
from tests.support.contexts import RecordingContext

GLTF_DIR = Path(__file__).resolve().parents[1] / "gltf"


def validate(*paths: Path) -> list[dict[str, object]]:
    """The validator's report per file; fails (never skips) when it is not installed."""
    if not (GLTF_DIR / "node_modules" / "gltf-validator").is_dir():
        pytest.fail("glTF validator missing: run `npm ci --prefix tests/gltf`")
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: install Node.js, then `npm ci --prefix tests/gltf`")
    completed = subprocess.run(
        [node, str(GLTF_DIR / "validate.mjs"), *map(str, paths)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    reports: list[dict[str, object]] = json.loads(completed.stdout)
    return reports


def local_glb(tmp_path: Path, image: Path, **options: object) -> Path:
    request = GenerationRequest(
        image, tmp_path / image.stem, face_limit=3000, options=dict(options)
    )
    return LocalProvider().generate(request, RecordingContext()).model_path


def test_local_and_finalized_models_have_no_errors(
    coffee_glb: Path, sphere_glb: Path, tmp_path: Path
) -> None:
    cutout = tmp_path / "cutout.png"
    image = Image.new("RGBA", (200, 160), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse((30, 20, 170, 140), fill=(240, 180, 20, 255))
    image.save(cutout)
    blurred_back = local_glb(tmp_path, cutout, back="blur", thickness=0.5)
    final = finalize_model(
        sphere_glb,
        tmp_path / "final",
        "sphere",
        face_limit=600,
        face_limit_applied=False,
        preview=None,
    )
    decimated = final.glb_path
    reports = validate(coffee_glb, blurred_back, decimated)
    assert [r["path"] for r in reports] == [str(coffee_glb), str(blurred_back), str(decimated)]
    for report in reports:
        assert report["errors"] == 0, report["messages"]
