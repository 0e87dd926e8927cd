"""Keys and ownership: 401 without a key, 403 for admin routes, one 404 for foreign and unknown."""

from __future__ import annotations

import pytest

from tests.conftest import ADMIN_KEY, OTHER_KEY, Stack, image_bytes
from tests.jobs.test_batch_e2e import upload

UNKNOWN = "00000000-0000-4000-8000-000000000000"
JOB_ROUTES = [
    ("GET", "/api/v1/status/tasks/{id}/status"),
    ("GET", "/api/v1/status/tasks/{id}/stream"),
    ("GET", "/api/v1/status/jobs/{id}/progress"),
    ("GET", "/api/v1/models/job/{id}"),
    ("POST", "/api/v1/models/job/{id}/cancel"),
    ("GET", "/api/v1/models/download/{id}"),
    ("GET", "/api/v1/download/{id}/all"),
    ("GET", "/api/v1/download/{id}/model.glb"),
]


@pytest.fixture
def job(stack: Stack) -> dict:
    return upload(stack, [("mine.png", image_bytes())], delay="0")


@pytest.mark.parametrize(("method", "route"), JOB_ROUTES)
def test_foreign_job_is_the_same_404_as_unknown(
    stack: Stack, job: dict, method: str, route: str
) -> None:
    with stack.client(key=OTHER_KEY) as other:
        foreign = other.request(method, route.format(id=job["job_id"]))
        unknown = other.request(method, route.format(id=UNKNOWN))
        malformed = other.request(method, route.format(id="../../etc"))
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.content == unknown.content
    assert malformed.status_code == 404
    assert foreign.json()["error"] is True and foreign.json()["status_code"] == 404


@pytest.mark.parametrize(("method", "route"), JOB_ROUTES)
def test_missing_or_wrong_key_is_401(stack: Stack, job: dict, method: str, route: str) -> None:
    with stack.client(key=None) as anonymous:
        response = anonymous.request(method, route.format(id=job["job_id"]))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error_code"] == "UNAUTHORIZED"
    with stack.client(key="not-a-valid-key-at-all") as wrong:
        assert wrong.request(method, route.format(id=job["job_id"])).status_code == 401


def test_owner_and_admin_see_the_job(stack: Stack, job: dict) -> None:
    for key in (None, ADMIN_KEY):
        client = stack.client() if key is None else stack.client(key=key)
        with client:
            assert client.get(f"/api/v1/models/job/{job['job_id']}").status_code == 200


def test_admin_route_needs_admin_key(stack: Stack) -> None:
    with stack.client() as user:
        response = user.get("/api/v1/health/detailed")
    assert response.status_code == 403 and response.json()["error_code"] == "FORBIDDEN"
    with stack.client(key=ADMIN_KEY) as admin:
        detailed = admin.get("/api/v1/health/detailed")
    assert detailed.status_code == 200
    assert detailed.json()["checks"]["redis"]["healthy"] is True


def test_upload_needs_a_key(stack: Stack) -> None:
    with stack.client(key=None) as anonymous:
        response = anonymous.post("/api/v1/upload/", files=[("files", ("a.png", image_bytes()))])
    assert response.status_code == 401
