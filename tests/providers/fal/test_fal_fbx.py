"""Models whose file comes as FBX (Tripo's quad mesh, Rodin's geometry_file_format=fbx): the
FBX is kept as it came, and its GLB conversion is the model everything else reads."""

from __future__ import annotations

import io
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import lib3mf
import numpy as np
import pytest
import trimesh
from pxr import Sdf, UsdUtils

from image2model.meshes import assimp
from tests.conftest import Stack, image_bytes
from tests.providers.fal.test_fal_batch import run_job
from tests.support.fake_fal import FBX_COLOUR, FBX_FACES, TRIPO, FakeFal

CASES = [
    (TRIPO, {"quad": "true"}, {"quad": True}),
    ("tripo3d/h3.1/image-to-3d", {"quad": "true"}, {"quad": True}),
    ("fal-ai/hyper3d/rodin/v2.5", {"geometry_file_format": "fbx"}, {"geometry_file_format": "fbx"}),
]


@pytest.mark.parametrize(("model", "fields", "sent"), CASES)
def test_an_fbx_model_is_kept_and_served_as_glb(
    fal_stack: Callable[..., Stack],
    fal: FakeFal,
    model: str,
    fields: dict[str, str],
    sent: dict[str, object],
) -> None:
    stack = fal_stack()
    stack.start_worker(concurrency=1)
    done = run_job(stack, [("chair.png", image_bytes())], model=model, **fields)
    assert done["events"][-1].event == "task_completed", done["status"]["files"]
    [submit] = fal.accepted()
    assert sent.items() <= submit.body.items()

    job_id = done["job"]["job_id"]
    with stack.client() as client:
        [entry] = client.get(f"/api/v1/download/{job_id}/all").json()["files"]
        item = client.get(f"/api/v1/models/job/{job_id}").json()["items"][0]
    assert item["stats"]["faces"] == FBX_FACES
    with stack.client(key=None) as browser:
        glb = browser.get(entry["formats"]["glb"])
        mesh = trimesh.load(io.BytesIO(glb.content), file_type="glb", force="mesh")
        assert len(mesh.faces) == FBX_FACES
        texture = np.asarray(mesh.visual.material.baseColorTexture.convert("RGB"))
        assert tuple(texture[8, 8]) == FBX_COLOUR, "the FBX's embedded texture carried over"
        assert browser.get(entry["formats"]["stl"]).status_code == 200
        [kept] = [o for o in entry["outputs"] if o["name"] == "model_mesh"]
        assert kept["filename"] == "chair-model_mesh.fbx"
        fbx = browser.get(kept["url"])
        assert fbx.status_code == 200 and fbx.content == fal.file_data("model.fbx")
        theirs = browser.get(entry["formats"]["fbx"])
        assert theirs.content == fbx.content, "the listing's FBX is fal's, not a conversion"


def test_a_broken_fbx_fails_the_item_saying_why(
    fal_stack: Callable[..., Stack], fal: FakeFal
) -> None:
    stack = fal_stack()
    stack.start_worker(concurrency=1)
    fal.serve_file("model.fbx", b"Kaydara FBX Binary  \x00\x1a\x00" + bytes(64))
    done = run_job(stack, [("chair.png", image_bytes())], quad="true")
    [item] = done["status"]["files"]
    assert item["status"] == "failed"
    assert item["error"]["code"] == "PROVIDER_BAD_RESULT"
    assert "FBX" in item["error"]["message"] and "FBX-Parser" in item["error"]["message"]
    assert len(fal.accepted()) == 1, "paid once, not retried"


def test_without_assimp_fbx_options_are_refused_before_anything_is_paid(
    fal_stack: Callable[..., Stack], fal: FakeFal
) -> None:
    stack = fal_stack(ASSIMP_COMMAND="/nonexistent/assimp")
    files = [("files", ("a.png", image_bytes(), "image/png"))]
    with stack.client() as client:
        for model, fields, _ in CASES:
            response = client.post("/api/v1/upload/", files=files, data={"model": model, **fields})
            assert response.status_code == 422, response.text
            body = response.json()
            assert body["details"]["field"] == next(iter(fields))
            assert "ASSIMP_COMMAND=/nonexistent/assimp" in body["message"]
        plain = client.post("/api/v1/upload/", files=files, data={"quad": "false"})
        assert plain.status_code == 202, plain.text
    assert fal.queue_entries() == []


def test_every_format_of_a_fal_model_opens_in_its_own_reader(
    fal_stack: Callable[..., Stack], fal: FakeFal, tmp_path: Path
) -> None:
    """A textured model from fal (its FBX, made a GLB) in every format, each read back by a
    reader of that format: trimesh, lib3mf, USD with its ARKit rules, assimp."""
    stack = fal_stack()
    stack.start_worker(concurrency=1)
    done = run_job(stack, [("chair.png", image_bytes())], model=TRIPO, quad="true")
    job_id = done["job"]["job_id"]
    with stack.client() as client:
        [entry] = client.get(f"/api/v1/download/{job_id}/all").json()["files"]
    got: dict[str, bytes] = {}
    with stack.client(key=None) as browser:
        for fmt, url in entry["formats"].items():
            response = browser.get(url)
            assert response.status_code == 200, (fmt, response.text)
            got[fmt] = response.content
    assert set(got) == {"glb", "obj", "stl", "ply", "3mf", "usdz", "fbx"}
    for fmt in ("glb", "stl", "ply"):
        mesh = trimesh.load(io.BytesIO(got[fmt]), file_type=fmt, force="mesh")
        assert len(mesh.faces) == FBX_FACES, fmt
    with zipfile.ZipFile(io.BytesIO(got["obj"])) as archive:
        assert any(name.endswith(".png") for name in archive.namelist()), "OBJ's texture"

    model = lib3mf.get_wrapper().CreateModel()
    model.QueryReader("3mf").ReadFromBuffer(got["3mf"])
    objects = model.GetMeshObjects()
    objects.MoveNext()
    assert objects.GetCurrentMeshObject().GetTriangleCount() == FBX_FACES
    assert model.GetTexture2DGroups().Count() == 1, "3MF's texture"

    usdz = tmp_path / "chair.usdz"
    usdz.write_bytes(got["usdz"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        checker = UsdUtils.ComplianceChecker(arkit=True, skipARKitRootLayerCheck=False)
    checker.CheckCompliance(str(usdz))
    assert checker.GetErrors() == checker.GetFailedChecks() == []
    assert "texture.png" in Sdf.ZipFile.Open(str(usdz)).GetFileNames(), "USDZ's texture"

    assert got["fbx"] == fal.file_data("model.fbx"), "fal's own FBX, as it came"
    tool = assimp.find(None)
    assert tool is not None
    fbx = tmp_path / "chair.fbx"
    fbx.write_bytes(got["fbx"])
    assert len(trimesh.load(tool.to_glb(fbx), force="mesh").faces) == FBX_FACES
