"""Objects photographed from several sides: one item and one model per object, each view in
the field (or the place in the list) the model gives it, refusals before anything is paid,
and one paid submit per object across a worker kill."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image

from tests.conftest import Stack, image_bytes
from tests.providers.fal.conftest import kill_once_stored
from tests.providers.fal.test_fal_recovery import assert_one_submit_each
from tests.support.fake_fal import FakeFal
from tests.support.sse import read_until_terminal

COLOURS = {
    "front": (40, 90, 200),
    "back": (20, 160, 60),
    "left": (200, 160, 20),
    "right": (120, 40, 160),
    "top": (200, 60, 120),
    "left_front": (60, 200, 200),
}

# endpoint: the sides sent, and where fal must find each (a field, or a place in image_urls)
PLACES: dict[str, dict[str, str | int]] = {
    "tripo3d/tripo/v2.5/multiview-to-3d": {
        "front": "front_image_url",
        "back": "back_image_url",
        "left": "left_image_url",
        "right": "right_image_url",
    },
    "tripo3d/h3.1/multiview-to-3d": {"front": 0, "left": 1, "back": 2, "right": 3},
    "fal-ai/hunyuan3d/v2/multi-view": {
        "front": "front_image_url",
        "back": "back_image_url",
        "left": "left_image_url",
    },
    "fal-ai/hunyuan3d/v2/multi-view/turbo": {
        "front": "front_image_url",
        "back": "back_image_url",
        "left": "left_image_url",
    },
    "fal-ai/hunyuan3d-v3/image-to-3d": {
        "front": "input_image_url",
        "back": "back_image_url",
        "right": "right_image_url",
    },
    "fal-ai/hunyuan-3d/v3.1/pro/image-to-3d": {
        "front": "input_image_url",
        "top": "top_image_url",
        "left_front": "left_front_image_url",
    },
    "fal-ai/trellis/multi": {"front": 0, "back": 1, "left": 2},
    "fal-ai/hyper3d/rodin/v2.5": {"front": 0, "back": 1, "left": 2, "top": 3},
    "fal-ai/meshy/v6/multi-image-to-3d": {"front": 0, "back": 1, "left": 2, "right": 3},
}


def object_upload(stack: Stack, sides: list[str], *, extra: list[str] = (), **fields: str) -> Any:
    """Upload one object `chair` with a file per side (and plain files `extra`)."""
    files = [
        ("files", (f"chair-{side}.png", image_bytes(COLOURS[side]), "image/png")) for side in sides
    ]
    files += [("files", (name, image_bytes(), "image/png")) for name in extra]
    objects = {"chair": {side: f"chair-{side}.png" for side in sides}}
    with stack.client() as client:
        return client.post(
            "/api/v1/upload/", files=files, data={"objects": json.dumps(objects), **fields}
        )


def centre(data_uri: str) -> tuple[int, int, int]:
    raw = base64.b64decode(data_uri.split(",", 1)[1])
    with Image.open(io.BytesIO(raw)) as image:
        rgb = image.convert("RGB")
        return rgb.getpixel((rgb.width // 2, rgb.height // 2))  # type: ignore[return-value]


def near(colour: tuple[int, int, int], expected: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 40 for a, b in zip(colour, expected, strict=True))


def test_each_view_goes_where_its_model_wants_it(
    fal_stack: Callable[..., Stack], fal: FakeFal
) -> None:
    stack = fal_stack()
    stack.start_worker(concurrency=2)
    for model, places in PLACES.items():
        response = object_upload(stack, list(places), model=model)
        assert response.status_code == 202, (model, response.text)
        job = response.json()
        assert job["total_files"] == 1
        with stack.client() as client:
            events = read_until_terminal(client, f"/api/v1/status/tasks/{job['job_id']}/stream")
            document = client.get(f"/api/v1/models/job/{job['job_id']}").json()
        assert events[-1].event == "task_completed", (model, document["items"])
        [item] = document["items"]
        assert item["stem"] == "chair" and item["filename"] == "chair-front.png"
        views = [{"role": s, "filename": f"chair-{s}.png"} for s in places if s != "front"]
        assert sorted(item["views"], key=lambda v: v["role"]) == sorted(
            views, key=lambda v: v["role"]
        )
        body = fal.accepted()[-1].body
        assert fal.accepted()[-1].path == f"/q/{model}"
        for side, place in places.items():
            value = body["image_urls"][place] if isinstance(place, int) else body[place]
            assert near(centre(value), COLOURS[side]), (model, side)
        if any(isinstance(p, int) for p in places.values()):
            assert len(body["image_urls"]) == len(places)
        else:
            sent = {k for k in body if k.endswith("_image_url")}
            assert sent == set(places.values()), model


def test_objects_and_plain_images_in_one_upload(
    fal_stack: Callable[..., Stack], fal: FakeFal
) -> None:
    stack = fal_stack()
    stack.start_worker(concurrency=2)
    model = "tripo3d/tripo/v2.5/multiview-to-3d"
    response = object_upload(stack, ["front", "back"], extra=["solo.png"], model=model)
    assert response.status_code == 202, response.text
    job = response.json()
    assert [f["filename"] for f in job["uploaded_files"]] == ["chair-front.png", "solo.png"]
    with stack.client() as client:
        events = read_until_terminal(client, f"/api/v1/status/tasks/{job['job_id']}/stream")
        listing = client.get(f"/api/v1/download/{job['job_id']}/all").json()
    assert events[-1].event == "task_completed"
    assert len(listing["files"]) == 2
    bodies = sorted(fal.accepted(), key=lambda e: "back_image_url" in e.body)
    assert "back_image_url" not in bodies[0].body and "back_image_url" in bodies[1].body


@pytest.mark.parametrize(
    ("model", "sides", "extra", "says"),
    [
        # an object of several views, to a model of one image per object
        ("tripo3d/tripo/v2.5/image-to-3d", ["front", "back"], [], "takes one image per object"),
        # a view the model does not take: the answer names the views it does
        (
            "tripo3d/tripo/v2.5/multiview-to-3d",
            ["front", "top"],
            [],
            "takes the views front, back, left, right",
        ),
        # a view the model needs is missing
        ("fal-ai/hunyuan3d/v2/multi-view", ["front", "back"], [], "has no left"),
        # Tripo reads its list by position: all four, or a back could be taken for a left
        ("tripo3d/h3.1/multiview-to-3d", ["front", "back"], [], "has no left, right"),
        # a plain image where the model needs views
        (
            "fal-ai/hunyuan3d/v2/multi-view",
            ["front", "back", "left"],
            ["solo.png"],
            "name them in the objects field",
        ),
    ],
)
def test_views_a_model_cannot_take_are_refused_before_paying(
    fal_stack: Callable[..., Stack],
    fal: FakeFal,
    model: str,
    sides: list[str],
    extra: list[str],
    says: str,
) -> None:
    stack = fal_stack()
    response = object_upload(stack, sides, extra=extra, model=model)
    assert response.status_code == 422, response.text
    error = response.json()
    assert says in error["message"]
    assert error["details"]["field"] == "objects"
    assert "front" in error["details"]["allowed"]
    assert fal.accepted() == []


@pytest.mark.parametrize(
    ("objects", "says"),
    [
        ("not json", "must be a JSON object"),
        ("[]", "must be a JSON object"),
        ('{"chair": {"back": "a.png"}}', "needs a front view"),
        ('{"chair": {"front": "missing.png"}}', "was not uploaded"),
        ('{"chair": {"front": "a.png", "side": "b.png"}}', "unknown sides"),
        ('{"a": {"front": "a.png"}, "b": {"front": "a.png"}}', "is in both"),
        ('{"chair": ["a.png"]}', "must map sides to file names"),
        ('{"": {"front": "a.png"}}', "Object names"),
    ],
)
def test_a_malformed_objects_field_is_a_422(
    fal_stack: Callable[..., Stack], fal: FakeFal, objects: str, says: str
) -> None:
    stack = fal_stack()
    files = [("files", (n, image_bytes(), "image/png")) for n in ("a.png", "b.png")]
    with stack.client() as client:
        response = client.post(
            "/api/v1/upload/",
            files=files,
            data={"objects": objects, "model": "tripo3d/tripo/v2.5/multiview-to-3d"},
        )
    assert response.status_code == 422, response.text
    assert says in response.json()["message"]
    assert fal.accepted() == []


def test_the_offline_generator_takes_one_image_per_object(
    fal_stack: Callable[..., Stack],
) -> None:
    stack = fal_stack()
    response = object_upload(stack, ["front", "back"], provider="local")
    assert response.status_code == 422, response.text
    assert "takes one image per object" in response.json()["message"]


def test_a_killed_worker_resumes_a_multiview_request_once(
    fal_stack: Callable[..., Stack], fal: FakeFal
) -> None:
    fal.run_seconds = 5.0
    stack = fal_stack()
    stack.start_worker(concurrency=2)
    response = object_upload(
        stack, ["front", "back", "left"], model="fal-ai/hunyuan3d/v2/multi-view"
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    killed_at = kill_once_stored(stack, fal, job_id, 1)
    stack.start_worker(concurrency=2)
    with stack.client() as client:
        events = read_until_terminal(client, f"/api/v1/status/tasks/{job_id}/stream")
    assert events[-1].event == "task_completed"
    assert_one_submit_each(fal, 1)
    resumed = {e.request_id for e in fal.entries("stream") if e.received > killed_at}
    assert fal.accepted()[0].request_id in resumed


def test_generating_again_keeps_the_views_and_checks_them(
    fal_stack: Callable[..., Stack], fal: FakeFal
) -> None:
    stack = fal_stack()
    multiview = "tripo3d/tripo/v2.5/multiview-to-3d"
    first = object_upload(stack, ["front", "back"], model=multiview).json()
    file_ids = [first["uploaded_files"][0]["file_id"]]
    with stack.client() as client:
        refused = client.post(
            "/api/v1/models/generate",
            json={"file_ids": file_ids, "model": "tripo3d/tripo/v2.5/image-to-3d"},
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["details"]["field"] == "objects"
        again = client.post(
            "/api/v1/models/generate", json={"file_ids": file_ids, "model": multiview}
        )
        assert again.status_code == 202, again.text
    stack.start_worker(concurrency=2)
    with stack.client() as client:
        events = read_until_terminal(
            client, f"/api/v1/status/tasks/{again.json()['job_id']}/stream"
        )
    assert events[-1].event == "task_completed"
    submits = [e for e in fal.accepted() if e.body.get("back_image_url")]
    assert submits and all(near(centre(e.body["back_image_url"]), COLOURS["back"]) for e in submits)
