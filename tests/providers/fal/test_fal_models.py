"""Every endpoint of the catalogue through the same fake: the exact body fal receives, with
the common options under each model's own field names, and the model it returns stored."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
import trimesh

from tests.conftest import Stack, image_bytes
from tests.providers.fal.test_fal_batch import run_job
from tests.providers.fal.test_fal_multiview import PLACES
from tests.support.fake_fal import ENDPOINTS, FakeFal, decoded_image

# endpoint: (what the client sends, what fal must receive besides the image)
CASES: dict[str, tuple[dict[str, str], dict[str, object]]] = {
    "tripo3d/tripo/v2.5/image-to-3d": (
        {"face_limit": "5000", "texture": "no", "seed": "7"},
        {"face_limit": 5000, "texture": "no", "seed": 7},
    ),
    "tripo3d/h3.1/image-to-3d": (
        {"face_limit": "8000", "texture": "false", "seed": "7", "geometry_quality": "detailed"},
        {"face_limit": 8000, "texture": False, "model_seed": 7, "geometry_quality": "detailed"},
    ),
    "tripo3d/p1/image-to-3d": ({"seed": "3"}, {"model_seed": 3}),
    "fal-ai/hunyuan3d/v2": (
        {"seed": "3", "num_inference_steps": "20", "texture": "true"},
        {"seed": 3, "num_inference_steps": 20, "textured_mesh": True},
    ),
    "fal-ai/hunyuan3d/v2/turbo": ({"textured_mesh": "true"}, {"textured_mesh": True}),
    "fal-ai/hunyuan3d/v2/mini": ({"octree_resolution": "128"}, {"octree_resolution": 128}),
    "fal-ai/hunyuan3d/v2/mini/turbo": ({"guidance_scale": "5"}, {"guidance_scale": 5.0}),
    "fal-ai/hunyuan3d-v3/image-to-3d": (
        # below fal's 40,000: fal gets its least, our post-processing does the rest
        {"face_limit": "200", "pbr": "true", "generate_type": "LowPoly"},
        {"face_count": 40_000, "enable_pbr": True, "generate_type": "LowPoly"},
    ),
    "fal-ai/hunyuan-3d/v3.1/pro/image-to-3d": ({"face_limit": "60000"}, {"face_count": 60_000}),
    "fal-ai/hunyuan-3d/v3.1/rapid/image-to-3d": (
        {"pbr": "true", "face_limit": "200"},  # no face input here: ours alone
        {"enable_pbr": True},
    ),
    "fal-ai/trellis": (
        {"texture_size": "2048", "mesh_simplify": "0.92", "face_limit": "200"},
        {"texture_size": 2048, "mesh_simplify": 0.92},
    ),
    "fal-ai/trellis-2": (
        {"face_limit": "150000", "resolution": "1536", "texture_size": "4096"},
        {"decimation_target": 150_000, "resolution": 1536, "texture_size": 4096},
    ),
    "fal-ai/triposr": (
        {"output_format": "glb", "mc_resolution": "128"},
        {"output_format": "glb", "mc_resolution": 128},
    ),
    "fal-ai/hyper3d/rodin/v2.5": (
        {"tier": "Gen-2.5-Low", "seed": "9"},
        {"tier": "Gen-2.5-Low", "seed": 9},
    ),
    "fal-ai/meshy/v6/image-to-3d": (
        {"face_limit": "120", "texture": "false", "pbr": "true", "topology": "quad"},
        {"target_polycount": 120, "should_texture": False, "enable_pbr": True, "topology": "quad"},
    ),
}


# what each result carries besides the model and preview (the fake's shapes, fal's fields)
KEPT = {
    "tripo_v25": {"base_model"},
    "tripo": {"model_urls.fbx"},
    "hunyuan3": {"model_urls.usdz"},
    "rodin": {"textures.0"},
    "meshy": {"model_urls.fbx", "texture_urls.0.base_color"},
}


def test_every_catalogue_row_has_a_case() -> None:
    assert set(CASES) | set(PLACES) == set(ENDPOINTS)


def test_each_endpoint_gets_its_own_field_names(
    fal_stack: Callable[..., Stack], fal: FakeFal
) -> None:
    stack = fal_stack()
    stack.start_worker(concurrency=2)
    for model, (fields, sent) in CASES.items():
        done = run_job(stack, [("m.png", image_bytes())], model=model, **fields)
        assert done["events"][-1].event == "task_completed", (model, done["status"]["files"])
        submit = fal.accepted()[-1]
        assert submit.path == f"/q/{model}"
        body = dict(submit.body)
        image_field = ENDPOINTS[model][0]
        assert decoded_image(body, image_field), model
        if image_field == "image_urls":
            assert len(body[image_field]) == 1
        del body[image_field]
        assert body == sent, model
        with stack.client() as client:
            document = client.get(f"/api/v1/models/job/{done['job']['job_id']}").json()
        item = document["items"][0]
        assert item["status"] == "completed" and item["stats"]["faces"] > 0, model
        if "face_limit" in fields:
            assert item["stats"]["faces"] <= int(fields["face_limit"]), model
        kept = KEPT.get(ENDPOINTS[model][1], set())
        with stack.client() as client:
            [listed] = client.get(f"/api/v1/download/{done['job']['job_id']}/all").json()["files"]
            assert {o["name"] for o in listed["outputs"]} == kept, model
            for output in listed["outputs"]:  # each as fal sent it, under a signed link
                got = client.get(output["url"], headers={"Authorization": ""})
                assert got.status_code == 200 and len(got.content) == output["size"] > 0
                assert output["filename"].startswith(item["stem"] + "-")
                if output["name"] == "model_urls.usdz":  # their USDZ is the listing's
                    theirs = client.get(listed["formats"]["usdz"], headers={"Authorization": ""})
                    assert theirs.content == got.content, "served as fal sent it"
        assert {o["name"] for o in item["outputs"]} == kept, model


@pytest.mark.parametrize(
    ("model", "fields", "named"),
    [
        ("fal-ai/hunyuan3d/v2", {"texture": "true", "textured_mesh": "false"}, "textured_mesh"),
        ("fal-ai/meshy/v6/image-to-3d", {"face_limit": "500", "target_polycount": "900"}, ""),
        ("fal-ai/hyper3d/rodin/v2.5", {"geometry_file_format": "usdz"}, "geometry_file_format"),
        ("fal-ai/hunyuan3d-v3/image-to-3d", {"face_count": "100"}, "face_count"),
    ],
)
def test_refusals_name_the_option_and_pay_nothing(
    fal_stack: Callable[..., Stack], fal: FakeFal, model: str, fields: dict, named: str
) -> None:
    stack = fal_stack()
    files = [("files", ("a.png", image_bytes(), "image/png"))]
    with stack.client() as client:
        response = client.post("/api/v1/upload/", files=files, data={"model": model, **fields})
    assert response.status_code == 422, response.text
    assert named in response.text
    assert fal.accepted() == []


def test_an_endpoint_chosen_by_setting_with_other_output_names(
    fal_stack: Callable[..., Stack], fal: FakeFal
) -> None:
    stack = fal_stack(FAL_MODEL_ENDPOINT="acme/glb-maker")
    stack.start_worker(concurrency=1)
    with stack.client() as client:
        listing = client.get("/api/v1/models/providers").json()
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
