"""Downloads in the formats people open: 3MF with the printability report and its
warnings, USDZ for AR Quick Look."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import lib3mf
import numpy as np
from PIL import Image
from pxr import Usd, UsdGeom, UsdUtils

from tests.conftest import Stack, image_bytes
from tests.jobs.test_batch_e2e import upload
from tests.support.sse import read_until_terminal


def listed_file(stack: Stack, **fields: str) -> dict:
    fields = {"delay": "0", **fields} if "provider" not in fields else fields
    job = upload(stack, [("ball.png", image_bytes())], **fields)
    with stack.client() as client:
        events = read_until_terminal(client, job["stream_url"])
        assert events[-1].event == "task_completed", events[-1].data
        listing = client.get(f"/api/v1/download/{job['job_id']}/all").json()
    [entry] = listing["files"]
    return entry


def test_a_model_downloads_as_3mf_in_millimetres_with_its_print_report(stack: Stack) -> None:
    stack.start_worker(concurrency=1)
    entry = listed_file(stack)
    report = entry["stats"]["printability"]
    assert report["watertight"] and report["winding_consistent"] and report["bodies"] == 1
    assert report["size_mm"] == [2000.0, 2000.0, 2000.0], "an icosphere 2 units across"
    assert 3.5e9 < report["volume_mm3"] < 4.19e9 and report["area_mm2"] > 1.2e7
    assert entry["format_warnings"] == {}

    with stack.client(key=None) as browser:
        response = browser.get(entry["formats"]["3mf"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "model/3mf"
    assert 'filename="ball.3mf"' in response.headers["content-disposition"]
    model = lib3mf.get_wrapper().CreateModel()
    model.QueryReader("3mf").ReadFromBuffer(response.content)
    assert model.GetUnit() == lib3mf.ModelUnit.MilliMeter
    objects = model.GetMeshObjects()
    objects.MoveNext()
    body = objects.GetCurrentMeshObject()
    assert body.GetTriangleCount() == entry["stats"]["faces"] and body.IsManifoldAndOriented()
    corners = np.array([list(v.Coordinates) for v in body.GetVertices()])
    assert np.allclose(np.ptp(corners, axis=0), report["size_mm"], atol=0.01)

    # sized for the printer: the longest side as asked, each size made once and kept
    with stack.client(key=None) as browser:
        small = browser.get(entry["formats"]["3mf"] + "&size_mm=80")
        again = browser.get(entry["formats"]["3mf"] + "&size_mm=80")
        not_a_print = browser.get(entry["formats"]["glb"] + "&size_mm=80")
        nonsense = browser.get(entry["formats"]["3mf"] + "&size_mm=0")
    assert small.status_code == 200 and small.content == again.content
    assert 'filename="ball.3mf"' in small.headers["content-disposition"]
    sized = lib3mf.get_wrapper().CreateModel()
    sized.QueryReader("3mf").ReadFromBuffer(small.content)
    objects = sized.GetMeshObjects()
    objects.MoveNext()
    points = np.array([list(v.Coordinates) for v in objects.GetCurrentMeshObject().GetVertices()])
    assert np.isclose(np.ptp(points, axis=0).max(), 80.0)
    assert not_a_print.status_code == 422 and "3mf" in not_a_print.json()["message"]
    assert nonsense.status_code == 422


def test_an_open_model_warns_before_its_stl_or_3mf_is_printed(stack: Stack) -> None:
    stack.start_worker(concurrency=1)
    entry = listed_file(stack, open="true")
    report = entry["stats"]["printability"]
    assert not report["watertight"] and report["volume_mm3"] is None
    assert set(entry["format_warnings"]) == {"stl", "3mf"}
    assert "not closed" in entry["format_warnings"]["3mf"]
    with stack.client(key=None) as browser:
        assert browser.get(entry["formats"]["3mf"]).status_code == 200, "warned, not refused"


def test_a_model_downloads_as_usdz_that_passes_the_arkit_rules(
    stack: Stack, tmp_path: Path
) -> None:
    stack.start_worker(concurrency=1)
    entry = listed_file(stack)
    with stack.client(key=None) as browser:
        response = browser.get(entry["formats"]["usdz"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "model/vnd.usdz+zip"
    assert 'filename="ball.usdz"' in response.headers["content-disposition"]
    path = tmp_path / "ball.usdz"
    path.write_bytes(response.content)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        checker = UsdUtils.ComplianceChecker(arkit=True, skipARKitRootLayerCheck=False)
    checker.CheckCompliance(str(path))
    assert checker.GetErrors() == checker.GetFailedChecks() == checker.GetWarnings() == []
    stage = Usd.Stage.Open(str(path))
    points = UsdGeom.Mesh(stage.GetPrimAtPath("/Model/Mesh")).GetPointsAttr().Get()
    assert np.allclose(np.ptp(np.array(points), axis=0), 2.0), "the 2 m icosphere, in metres"


def test_a_model_downloads_as_fbx(stack: Stack) -> None:
    stack.start_worker(concurrency=1)
    entry = listed_file(stack)
    assert entry["unavailable_formats"] == {}
    with stack.client(key=None) as browser:
        response = browser.get(entry["formats"]["fbx"])
    assert response.status_code == 200
    assert response.content.startswith(b"Kaydara FBX Binary")
    assert 'filename="ball.fbx"' in response.headers["content-disposition"]


def test_without_its_converter_fbx_is_listed_unavailable_with_the_reason(make_stack) -> None:  # type: ignore[no-untyped-def]
    stack: Stack = make_stack(ASSIMP_COMMAND="/nonexistent/assimp")
    stack.start_worker(concurrency=1)
    entry = listed_file(stack)
    assert "fbx" not in entry["formats"] and "glb" in entry["formats"]
    reason = entry["unavailable_formats"]["fbx"]
    assert "ASSIMP_COMMAND=/nonexistent/assimp" in reason
    job_id = entry["formats"]["glb"].split("/download/")[1].split("/")[0]
    with stack.client() as client:
        asked = client.get(f"/api/v1/download/{job_id}/{entry['filename']}?format=fbx")
        bundled = client.get(f"/api/v1/models/download/{job_id}?format=fbx")
        available = client.get("/api/v1/models/available").json()
    for refused in (asked, bundled):
        assert refused.status_code == 422, refused.text
        assert "ASSIMP_COMMAND" in refused.json()["message"]
    assert all("fbx" not in model["supported_formats"] for model in available)


def test_the_turntable_turns_the_model_once_as_webp_and_gif(stack: Stack) -> None:
    stack.start_worker(concurrency=1)
    # a thin plate with a blue disc on its face, from the offline generator
    entry = listed_file(stack, provider="local", face_limit="2000", shape="slab")
    turntable = entry["rendered_turntable"]
    assert turntable["content_type"] == "image/webp"
    with stack.client(key=None) as browser:
        webp = browser.get(turntable["url"])
        gif = browser.get(turntable["gif_url"])
        again = browser.get(turntable["url"])
        refused = browser.get(turntable["url"] + "&format=stl")
    assert webp.headers["content-type"] == "image/webp" and again.content == webp.content
    assert gif.headers["content-type"] == "image/gif"
    assert refused.status_code == 404, "a turntable converts to nothing"
    frames = []
    for data in (webp.content, gif.content):
        with Image.open(io.BytesIO(data)) as animation:
            assert animation.is_animated and animation.n_frames == 24
            assert animation.size == (256, 256)
            animation.seek(0)
            first = np.asarray(animation.convert("RGB"), dtype=np.int16)
            animation.seek(8)  # a third of a turn on: from 35° left of the front to 85° right
            frames.append((first, np.asarray(animation.convert("RGB"), dtype=np.int16)))
    for first, later in frames:
        facing, edge_on = ((image[..., 2] - image[..., 0] > 60).sum() for image in (first, later))
        assert facing > 3 * edge_on, "the plate turns edge on"


def test_a_converter_that_fails_says_so_for_that_format(make_stack) -> None:  # type: ignore[no-untyped-def]
    stack: Stack = make_stack(ASSIMP_COMMAND="false")  # found, and fails whatever it is given
    stack.start_worker(concurrency=1)
    entry = listed_file(stack)
    with stack.client(key=None) as browser:
        failed = browser.get(entry["formats"]["fbx"])
        still = browser.get(entry["formats"]["3mf"])
    assert failed.status_code == 422, failed.text
    body = failed.json()
    assert body["error_code"] == "CONVERSION_FAILED" and "as fbx" in body["message"]
    assert still.status_code == 200, "other formats are not affected"
