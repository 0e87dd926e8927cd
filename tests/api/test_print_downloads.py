"""Print-ready downloads through the API: 3MF, the printability report and its warnings."""

from __future__ import annotations

import lib3mf
import numpy as np

from tests.conftest import Stack, image_bytes
from tests.jobs.test_batch_e2e import upload
from tests.support.sse import read_until_terminal


def listed_file(stack: Stack, **fields: str) -> dict:
    job = upload(stack, [("ball.png", image_bytes())], delay="0", **fields)
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


def test_an_open_model_warns_before_its_stl_or_3mf_is_printed(stack: Stack) -> None:
    stack.start_worker(concurrency=1)
    entry = listed_file(stack, open="true")
    report = entry["stats"]["printability"]
    assert not report["watertight"] and report["volume_mm3"] is None
    assert set(entry["format_warnings"]) == {"stl", "3mf"}
    assert "not closed" in entry["format_warnings"]["3mf"]
    with stack.client(key=None) as browser:
        assert browser.get(entry["formats"]["3mf"]).status_code == 200, "warned, not refused"
