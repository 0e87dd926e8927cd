"""Hunyuan, TRELLIS, TripoSR and an endpoint of the operator's choice, through the same fake."""

from __future__ import annotations

import io
from collections.abc import Callable

import trimesh

from tests.conftest import Stack, image_bytes
from tests.providers.fal.test_fal_batch import run_job
from tests.support.fake_fal import FakeFal, decoded_image

CASES = {
    "fal-ai/hunyuan3d/v2": (
        "input_image_url",
        {"seed": "3", "num_inference_steps": "20", "textured_mesh": "true"},
        {"seed": 3, "num_inference_steps": 20, "textured_mesh": True},
    ),
    "fal-ai/trellis": (
        "image_url",
        {"texture_size": "2048", "mesh_simplify": "0.92", "face_limit": "200"},
        {"texture_size": 2048, "mesh_simplify": 0.92},
    ),
    "fal-ai/triposr": (
        "image_url",
        {"output_format": "glb", "mc_resolution": "128"},
        {"output_format": "glb", "mc_resolution": 128},
    ),
}


def test_field_names_are_normalised_per_model(
    fal_stack: Callable[..., Stack], fal: FakeFal
) -> None:
    stack = fal_stack()
    stack.start_worker(concurrency=2)
    for model, (image_field, fields, sent) in CASES.items():
        done = run_job(stack, [("m.png", image_bytes())], model=model, **fields)
        assert done["events"][-1].event == "task_completed", (model, done["status"]["files"])
        submit = fal.accepted()[-1]
        assert submit.path == f"/q/{model}"
        body = dict(submit.body)
        assert decoded_image(body, image_field)
        del body[image_field]
        assert body == sent, model
        if "face_limit" in fields:  # not a TRELLIS input: applied by our post-processing
            with stack.client() as client:
                document = client.get(f"/api/v1/models/job/{done['job']['job_id']}").json()
            assert document["items"][0]["stats"]["faces"] <= 200


def test_an_endpoint_chosen_by_setting_with_other_output_names(
    fal_stack: Callable[..., Stack], fal: FakeFal
) -> None:
    stack = fal_stack(FAL_MODEL_ENDPOINT="acme/glb-maker")
    stack.start_worker(concurrency=1)
    with stack.client() as client:
        listing = client.get("/api/v1/models/available").json()
    fal_entry = next(p for p in listing["providers"] if p["name"] == "fal")
    assert fal_entry["default_model"] == "acme/glb-maker"
    done = run_job(stack, [("g.png", image_bytes())], seed="5", face_limit="100")
    assert done["events"][-1].event == "task_completed", done["status"]["files"]
    body = dict(fal.accepted()[0].body)
    assert fal.accepted()[0].path == "/q/acme/glb-maker"
    assert set(body) == {"image_url", "seed"} and body["seed"] == 5
    job_id = done["job"]["job_id"]
    with stack.client() as client:
        listing = client.get(f"/api/v1/download/{job_id}/all").json()
        glb = client.get(listing["files"][0]["formats"]["glb"])
    mesh = trimesh.load(io.BytesIO(glb.content), file_type="glb", force="mesh")
    assert len(mesh.faces) <= 100, "face_limit applied by our post-processing (model_glb: 320)"
    assert {e.path.rsplit("/", 1)[-1] for e in fal.entries("file", 200)} == {
        "model_glb.glb",
        "preview.png",
    }
