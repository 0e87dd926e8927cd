"""Upload → worker → SSE → listing → downloads, through the public HTTP API."""

from __future__ import annotations

import io
import time

import trimesh

from tests.conftest import RED, Stack, image_bytes
from tests.support.sse import read_until_terminal


def upload(stack: Stack, images: list[tuple[str, bytes]], **fields: str) -> dict:
    with stack.client() as client:
        files = [("files", (name, data, "image/png")) for name, data in images]
        response = client.post("/api/v1/upload/", files=files, data=fields)
    assert response.status_code == 202, response.text
    return response.json()


def test_three_images_stream_list_and_download(stack: Stack) -> None:
    stack.start_worker(concurrency=2)
    images = [(f"thing{i}.png", image_bytes()) for i in range(3)]
    job = upload(stack, images, delay="0.6", steps="3")
    assert job["status"] == "queued" and job["total_files"] == 3
    assert job["job_id"] == job["batch_id"] == job["task_id"]

    with stack.client(key=None) as browser:  # the signed stream_url needs no header
        events = read_until_terminal(browser, job["stream_url"])

    assert events[0].event == "task_progress" and events[0].data["total_files"] == 3
    terminal = [e for e in events if e.event in {"task_completed", "task_failed", "task_cancelled"}]
    assert [e.event for e in terminal] == ["task_completed"]
    assert terminal[0].data["summary"] == {
        "total_files": 3,
        "successful_files": 3,
        "failed_files": 0,
        "cancelled_files": 0,
    }
    updates = [e for e in events if e.event == "file_update"]
    for file_id in (f["file_id"] for f in job["uploaded_files"]):
        progress = [e.data["progress"] for e in updates if e.data["file_id"] == file_id]
        assert any(0 < p < 100 for p in progress), "per-file progress arrives while running"
        assert progress == sorted(progress)
        assert progress[-1] == 100
    ids = [e.id for e in events]
    assert len(ids) == len(set(ids)) and all(ids)

    with stack.client() as client:
        listing = client.get(f"/api/v1/download/{job['job_id']}/all").json()
        assert listing["status"] == "completed" and len(listing["files"]) == 3
        assert len(listing["download_urls"]) == 3
        assert {f["filename"] for f in listing["files"]} == {
            "thing0.glb",
            "thing1.glb",
            "thing2.glb",
        }
    with stack.client(key=None) as browser:
        for entry, url in zip(listing["files"], listing["download_urls"], strict=True):
            assert url == entry["formats"]["glb"]
            response = browser.get(url)
            assert response.status_code == 200
            mesh = trimesh.load(io.BytesIO(response.content), file_type="glb", force="mesh")
            assert len(mesh.faces) > 0
            assert entry["stats"]["faces"] == len(mesh.faces)
            preview = browser.get(entry["rendered_image"]["url"])
            assert preview.status_code == 200 and preview.content[:4] == b"\x89PNG"
            stl = browser.get(entry["formats"]["stl"])
            assert stl.status_code == 200
            assert len(trimesh.load(io.BytesIO(stl.content), file_type="stl").faces) > 0


def test_polling_reaches_the_same_end(stack: Stack) -> None:
    stack.start_worker(concurrency=2)
    job = upload(stack, [("a.png", image_bytes()), ("b.png", image_bytes())], delay="0.2")
    with stack.client() as client:
        deadline = time.monotonic() + 60
        while True:
            status = client.get(job["status_url"]).json()
            if status["status"] not in ("queued", "processing"):
                break
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert status["status"] == "completed"
        assert status["progress"] == 100 and status["current"] == 2
        assert [f["status"] for f in status["files"]] == ["completed", "completed"]
        progress = client.get(f"/api/v1/status/jobs/{job['job_id']}/progress").json()
        assert progress["summary"]["successful_files"] == 2
        document = client.get(f"/api/v1/models/job/{job['job_id']}").json()
        assert all(i["model_file"].endswith(".glb") for i in document["items"])
        zipped = client.get(f"/api/v1/models/download/{job['job_id']}", params={"format": "ply"})
        assert zipped.status_code == 200 and zipped.content[:2] == b"PK"


def test_all_failed_batch_is_failed(stack: Stack) -> None:
    stack.start_worker(concurrency=2)
    job = upload(stack, [("r1.png", image_bytes(RED)), ("r2.png", image_bytes(RED))], delay="0")
    with stack.client() as client:
        events = read_until_terminal(client, f"/api/v1/status/tasks/{job['job_id']}/stream")
    assert events[-1].event == "task_failed"
    assert events[-1].data["summary"]["failed_files"] == 2
    with stack.client() as client:
        status = client.get(job["status_url"]).json()
    assert status["status"] == "failed"
    assert {f["error"]["code"] for f in status["files"]} == {"TEST_RED_IMAGE"}


def test_mixed_batch_is_partial_with_reasons(stack: Stack) -> None:
    stack.start_worker(concurrency=2)
    images = [("ok.png", image_bytes()), ("bad.png", image_bytes(RED))]
    job = upload(stack, images, delay="0")
    with stack.client() as client:
        events = read_until_terminal(client, f"/api/v1/status/tasks/{job['job_id']}/stream")
        assert events[-1].event == "task_completed"
        assert events[-1].data["status"] == "partial"
        assert events[-1].data["summary"]["failed_files"] == 1
        status = client.get(job["status_url"]).json()
        failed = [f for f in status["files"] if f["status"] == "failed"]
        assert failed[0]["filename"] == "bad.png"
        assert "Red images" in failed[0]["error"]["message"]
        listing = client.get(f"/api/v1/download/{job['job_id']}/all").json()
        assert [f["filename"] for f in listing["files"]] == ["ok.glb"]


def test_cancel_mid_batch(stack: Stack) -> None:
    stack.start_worker(concurrency=1)
    images = [(f"c{i}.png", image_bytes()) for i in range(3)]
    job = upload(stack, images, delay="3", steps="30")
    with stack.client() as client:
        deadline = time.monotonic() + 30
        while client.get(job["status_url"]).json()["status"] == "queued":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        response = client.post(f"/api/v1/models/job/{job['job_id']}/cancel")
        assert response.status_code == 200
        events = read_until_terminal(client, f"/api/v1/status/tasks/{job['job_id']}/stream")
        assert events[-1].event == "task_cancelled"
        status = client.get(job["status_url"]).json()
        assert status["status"] == "cancelled"
        assert {f["status"] for f in status["files"]} == {"cancelled"}


def test_an_unexpected_provider_error_fails_the_item_visibly(stack: Stack) -> None:
    stack.start_worker(concurrency=1)
    job = upload(stack, [("bug.png", image_bytes())], delay="0", crash="true")
    with stack.client() as client:
        events = read_until_terminal(client, f"/api/v1/status/tasks/{job['job_id']}/stream")
        status = client.get(job["status_url"]).json()
    assert events[-1].event == "task_failed"
    error = status["files"][0]["error"]
    assert error["code"] == "INTERNAL_ERROR" and "RuntimeError" in error["message"]


def test_the_thinnest_documented_shape_of_a_flat_image_is_a_model(stack: Stack) -> None:
    """thickness=0.1 (the schema's minimum) on a flat grey and a thin-bar image."""
    from PIL import Image, ImageDraw

    bar = Image.new("RGB", (200, 120), (255, 255, 255))
    ImageDraw.Draw(bar).rectangle((10, 55, 189, 64), fill=(20, 20, 20))
    images = []
    for name, image in (
        ("grey.png", Image.new("RGB", (64, 64), (128, 128, 128))),
        ("bar.png", bar),
    ):
        out = io.BytesIO()
        image.save(out, "PNG")
        images.append((name, out.getvalue()))
    stack.start_worker(concurrency=1)
    job = upload(stack, images, provider="local", thickness="0.1")
    with stack.client() as client:
        events = read_until_terminal(client, job["stream_url"])
        assert events[-1].event == "task_completed", events[-1].data
        listing = client.get(f"/api/v1/download/{job['job_id']}/all").json()
        for listed in listing["files"]:
            glb = client.get(listed["formats"]["glb"])
            mesh = trimesh.load(io.BytesIO(glb.content), file_type="glb", force="mesh")
            assert mesh.is_watertight and len(mesh.faces) > 0
    assert len(listing["files"]) == 2


def test_the_offline_shape_is_chosen_by_the_client_and_reported(stack: Stack) -> None:
    with stack.client() as client:
        files = [("files", ("vase.png", image_bytes(), "image/png"))]
        refused = client.post(
            "/api/v1/upload/", files=files, data={"provider": "local", "shape": "round"}
        )
    assert refused.status_code == 422
    assert refused.json()["details"]["field"] == "shape"
    stack.start_worker(concurrency=1)
    images = [("plate.png", image_bytes()), ("auto.png", image_bytes())]
    job = upload(stack, images[:1], provider="local", shape="slab")
    auto = upload(stack, images[1:], provider="local")
    with stack.client() as client:
        for queued, shape in ((job, "slab"), (auto, "inflate")):
            events = read_until_terminal(client, queued["stream_url"])
            assert events[-1].event == "task_completed", events[-1].data
            document = client.get(f"/api/v1/models/job/{queued['job_id']}").json()
            assert document["items"][0]["stats"]["shape"] == shape
