"""A batch through the fake fal: options reach the submit body, files land on our disk."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import trimesh
from PIL import Image

from tests.conftest import Stack, image_bytes
from tests.jobs.test_batch_e2e import upload
from tests.providers.fal.conftest import FAL_TEST_KEY
from tests.support.fake_fal import ENDPOINTS, TRIPO, FakeFal, decoded_image
from tests.support.sse import read_until_terminal

TRIPO_OPTIONS = {
    "face_limit": "5000",
    "texture": "HD",
    "pbr": "true",
    "seed": "7",
    "texture_seed": "9",
    "auto_size": "true",
    "quad": "false",
    "texture_alignment": "geometry",
    "orientation": "align_image",
}
SENT = {
    "face_limit": 5000,
    "texture": "HD",
    "pbr": True,
    "seed": 7,
    "texture_seed": 9,
    "auto_size": True,
    "quad": False,
    "texture_alignment": "geometry",
    "orientation": "align_image",
}


def run_job(stack: Stack, images: list[tuple[str, bytes]], **fields: str) -> dict:
    job = upload(stack, images, **fields)
    with stack.client() as client:
        events = read_until_terminal(client, f"/api/v1/status/tasks/{job['job_id']}/stream")
        status = client.get(job["status_url"]).json()
    return {"job": job, "events": events, "status": status}


def test_batch_sends_every_option_and_serves_the_files(
    fal_stack: Callable[..., Stack], fal: FakeFal
) -> None:
    stack = fal_stack(FAL_MAX_CONCURRENCY="2")
    stack.start_worker(concurrency=3)
    colours = [(40, 90, 200), (30, 160, 60), (150, 60, 170)]
    images = [(f"toy{i}.png", image_bytes(c)) for i, c in enumerate(colours)]
    done = run_job(stack, images, **TRIPO_OPTIONS)
    job_id = done["job"]["job_id"]
    assert done["events"][-1].event == "task_completed", [
        f.get("error") for f in done["status"]["files"]
    ]
    assert {f["status"] for f in done["status"]["files"]} == {"completed"}

    accepted = fal.accepted()
    assert len(accepted) == 3, "one paid submit per image"
    assert {e.path for e in accepted} == {f"/q/{TRIPO}"}
    sent_images = set()
    for entry in accepted:
        body = dict(entry.body)
        sent_images.add(decoded_image(body))
        del body["image_url"]
        assert body == SENT
    stored = {p.read_bytes() for p in (stack.settings.upload_dir / job_id).iterdir()}
    assert sent_images == stored, "each stored upload sent byte for byte"
    assert fal.max_in_flight() <= 2
    assert fal.entries("status") == [], "completion comes on the status stream: no polling"
    streams = Counter(e.request_id for e in fal.entries("stream"))
    assert set(streams) == {e.request_id for e in accepted} and max(streams.values()) == 1

    results = stack.settings.results_dir / job_id
    with stack.client() as client:
        listing = client.get(f"/api/v1/download/{job_id}/all").json()
    assert sorted(f["filename"] for f in listing["files"]) == ["toy0.glb", "toy1.glb", "toy2.glb"]
    with stack.client(key=None) as browser:
        for entry in listing["files"]:
            assert (results / entry["filename"]).is_file(), "copied to RESULTS_DIR"
            glb = browser.get(entry["formats"]["glb"])
            mesh = trimesh.load(io.BytesIO(glb.content), file_type="glb", force="mesh")
            assert len(mesh.faces) == 1280, "pbr=true picks Tripo's pbr_model"
            preview = browser.get(entry["rendered_image"]["url"])
            assert preview.content[:4] == b"\x89PNG"
            assert Image.open(io.BytesIO(preview.content)).size == (64, 48), "fal's preview"
            assert browser.get(entry["formats"]["obj"]).status_code == 200
            # Tripo's textured and untextured meshes are kept too, as they came
            kept = {o["name"]: o for o in entry["outputs"]}
            assert set(kept) == {"model_mesh", "base_model"}
            base = browser.get(kept["base_model"]["url"])
            assert base.status_code == 200 and base.headers["content-type"] == "model/gltf-binary"
    files_fetched = Counter(e.path.rsplit("/", 1)[-1] for e in fal.entries("file", 200))
    assert files_fetched == {
        name: 3 for name in ("pbr_model.glb", "model_mesh.glb", "base_model.glb", "preview.webp")
    }
    log_text = "".join(p.read_text() for p in Path(stack.env["DATA_DIR"]).glob("worker-*.log"))
    assert FAL_TEST_KEY not in log_text


def test_paid_submits_keep_to_the_rate_limit(fal_stack: Callable[..., Stack], fal: FakeFal) -> None:
    stack = fal_stack(FAL_MAX_CONCURRENCY="6", FAL_SUBMIT_RATE_LIMIT="2/second")
    stack.start_worker(concurrency=6)
    images = [(f"r{i}.png", image_bytes((40 * i, 90, 200))) for i in range(6)]
    done = run_job(stack, images)
    assert {f["status"] for f in done["status"]["files"]} == {"completed"}

    submitted = sorted(e.received for e in fal.accepted())
    assert len(submitted) == 6
    # a moving window of one second: never a third submit within a second of a first
    for first, third in zip(submitted, submitted[2:], strict=False):
        assert third - first >= 0.95, submitted
    messages = [e.data.get("message") for e in done["events"] if e.event == "file_update"]
    assert "Waiting for FAL_SUBMIT_RATE_LIMIT" in messages


def test_invalid_options_are_refused_before_anything_is_paid(
    fal_stack: Callable[..., Stack], fal: FakeFal
) -> None:
    stack = fal_stack()
    files = [("files", ("a.png", image_bytes(), "image/png"))]
    cases = {
        "texture": "ultra",
        "face_limit": "lots",
        "orientation": "sideways",
        "pbr": "maybe",
        "quad": "sometimes",
        "not_an_option": "1",
    }
    with stack.client() as client:
        for name, value in cases.items():
            response = client.post("/api/v1/upload/", files=files, data={name: value})
            assert response.status_code == 422, (name, response.text)
            assert response.json()["details"].get("field", name) == name or name == "not_an_option"
        unknown = client.post("/api/v1/upload/", files=files, data={"model": "fal-ai/nope"})
        assert unknown.status_code == 422
    assert fal.queue_entries() == []


def test_models_available_lists_fal_models_and_options(
    fal_stack: Callable[..., Stack],
) -> None:
    stack = fal_stack()
    with stack.client() as client:
        listing = client.get("/api/v1/models/providers").json()
    assert listing["default_provider"] == "fal"
    fal_entry = next(p for p in listing["providers"] if p["name"] == "fal")
    assert fal_entry["default_model"] == TRIPO
    models = {m["id"]: m for m in fal_entry["models"]}
    assert set(models) == set(ENDPOINTS)  # the fake knows every catalogue row's fields
    tripo = {o["name"]: o for o in models[TRIPO]["options"]}
    assert set(tripo) == set(SENT)
    assert tripo["texture"]["choices"] == ["no", "standard", "HD"]
    assert tripo["texture"]["default"] == "standard"
    assert tripo["orientation"]["choices"] == ["default", "align_image"]
    assert tripo["face_limit"]["minimum"] == 100
    trellis = {o["name"]: o for o in models["fal-ai/trellis"]["options"]}
    assert trellis["texture_size"]["choices"] == ["512", "1024", "2048"]
    hunyuan = {o["name"]: o for o in models["fal-ai/hunyuan3d-v3/image-to-3d"]["options"]}
    assert hunyuan["face_limit"]["sent_as"] == "face_count"
    assert (hunyuan["face_count"]["minimum"], hunyuan["face_count"]["maximum"]) == (
        40_000,
        1_500_000,
    )
    assert hunyuan["pbr"]["sent_as"] == "enable_pbr"


def test_without_a_status_stream_items_poll(fal_stack: Callable[..., Stack], fal: FakeFal) -> None:
    fal.streams = False  # a proxy in front of fal that does not pass the stream through
    stack = fal_stack()
    stack.start_worker(concurrency=2)
    done = run_job(stack, [(f"p{i}.png", image_bytes((90 * i, 90, 200))) for i in range(2)])
    assert {f["status"] for f in done["status"]["files"]} == {"completed"}
    assert len(fal.accepted()) == 2
    assert {e.status for e in fal.entries("stream")} == {404}
    assert {e.request_id for e in fal.entries("status")} == {e.request_id for e in fal.accepted()}


def test_a_broken_status_stream_is_opened_again(
    fal_stack: Callable[..., Stack], fal: FakeFal
) -> None:
    fal.run_seconds = 2.0
    fal.stream_cut_after = 0.3  # every stream is cut 0.3 s after it opens
    stack = fal_stack()
    stack.start_worker(concurrency=1)
    done = run_job(stack, [("cut.png", image_bytes())])
    assert {f["status"] for f in done["status"]["files"]} == {"completed"}
    assert len(fal.accepted()) == 1
    assert len(fal.entries("stream")) >= 3, "reopened after each cut"
