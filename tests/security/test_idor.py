"""Every route that takes a job id, from the app's own OpenAPI table, against five callers."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from image2model.api.app import create_app
from image2model.config import Settings
from tests.conftest import (
    ADMIN_KEY,
    OTHER_KEY,
    USER_KEY,
    Stack,
    image_bytes,
    start_stack,
    stop_stack,
)
from tests.jobs.test_batch_e2e import upload
from tests.support.sse import read_until_terminal

RANDOM_ID = "7d1e4a52-93c1-4e0b-a1f4-0c2f7f6b9a11"
ID_PARAMS = {"job_id", "task_id"}
ADMIN_PREFIXES = ("/api/v1/admin", "/api/v1/logs")
DESTRUCTIVE = ("delete",)


def id_routes() -> list[tuple[str, str]]:
    """(method, path) of every route with a job/task id, destructive ones last."""
    schema = create_app(Settings(_env_file=None)).openapi()
    found = []
    for path, operations in schema["paths"].items():
        params = set(re.findall(r"{([^}:]+)", path))
        if ID_PARAMS & params:
            found.extend((method.upper(), path) for method in operations)
    assert len(found) >= 8, found
    return sorted(set(found), key=lambda r: (any(d in r[1] for d in DESTRUCTIVE), r))


ROUTES = id_routes()


def fill(path: str, job_id: str, filename: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[0]
        if name in ID_PARAMS:
            return job_id
        if name == "filename":
            return filename
        raise AssertionError(f"no test value for path parameter {name!r} in {path}: add one")

    return re.sub(r"{([^}]+)}", value, path)


@pytest.fixture(scope="module")
def finished() -> Iterator[tuple[Stack, dict, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        stack, server = start_stack(Path(tmp) / "data")
        stack.start_worker(concurrency=1)
        job = upload(stack, [("mine.png", image_bytes())], delay="0")
        with stack.client() as client:
            read_until_terminal(client, f"/api/v1/status/tasks/{job['job_id']}/stream")
            listing = client.get(f"/api/v1/download/{job['job_id']}/all").json()
        try:
            yield stack, job, listing["files"][0]["filename"]
        finally:
            stop_stack(stack, server)


def call(stack: Stack, key: str | None, method: str, path: str) -> httpx.Response:
    with stack.client(key=key) as client:
        return client.request(method, path)


@pytest.mark.parametrize(("method", "route"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_route_matrix(finished: tuple[Stack, dict, str], method: str, route: str) -> None:
    stack, job, filename = finished
    mine = fill(route, job["job_id"], filename)
    unknown = fill(route, RANDOM_ID, filename)
    admin_only = route.startswith(ADMIN_PREFIXES)

    nobody = call(stack, None, method, mine)
    assert nobody.status_code == 401 and nobody.headers["www-authenticate"] == "Bearer"

    if admin_only:
        assert call(stack, USER_KEY, method, mine).status_code == 403
        assert call(stack, OTHER_KEY, method, mine).status_code == 403
        assert call(stack, ADMIN_KEY, method, unknown).status_code == 404
        assert call(stack, ADMIN_KEY, method, mine).status_code < 400
        return

    foreign = call(stack, OTHER_KEY, method, mine)
    random = call(stack, OTHER_KEY, method, unknown)
    assert foreign.status_code == random.status_code == 404
    assert foreign.content == random.content, "a foreign id reveals nothing an unknown one doesn't"
    assert call(stack, USER_KEY, method, unknown).status_code == 404
    owner = call(stack, USER_KEY, method, mine)
    assert owner.status_code < 400, owner.text
    assert call(stack, ADMIN_KEY, method, mine).status_code < 400
