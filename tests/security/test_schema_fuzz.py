"""Schemathesis against the running service's own OpenAPI document.

Real API, Redis and worker; every operation; as admin, as a user and without a key; the
stateful phase follows the document's links from an upload to the job's status, listing,
files, ZIP, cancel and delete, so it works on real job ids. Each run has a time budget
(`SCHEMA_FUZZ_SECONDS` scales them all) and a fixed seed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ADMIN_KEY, ROOT, USER_KEY, Stack, image_bytes
from tests.support.ops import upload_job, wait_finished

SCALE = float(os.environ.get("SCHEMA_FUZZ_SECONDS", "1"))
CHECKS = (
    "not_a_server_error",
    "response_schema_conformance",
    "status_code_conformance",
    "content_type_conformance",
)
RUNS = {
    # who: (key, phases, seconds)
    "admin": (ADMIN_KEY, "examples,coverage,fuzzing,stateful", 30),
    "user": (USER_KEY, "examples,coverage,fuzzing,stateful", 20),
    "anonymous": (None, "examples,coverage,fuzzing", 10),
}


def schemathesis(base_url: str, key: str | None, phases: str, seconds: float, out: Path) -> int:
    executable = Path(sys.executable).parent / "schemathesis"
    auth = ["--header", f"Authorization: Bearer {key}"] if key else []
    command = [
        str(executable),
        "run",
        f"{base_url}/openapi.json",
        *auth,
        "--checks",
        ",".join(CHECKS),
        "--phases",
        phases,
        "--mode",
        "all",
        "--max-time",
        str(max(5, round(seconds * SCALE))),
        "--seed",
        "20261207",
        "--generation-database",
        "none",
        "--request-timeout",
        "30",
        "--workers",
        "1",
        "--no-color",
        # an event stream stays open until its job ends: not a request/response operation
        "--exclude-path-regex",
        "/stream$",
    ]
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.security.schema_hooks",
        "PYTHONPATH": str(ROOT),
    }
    with (out / "schemathesis.out").open("w") as log:
        result = subprocess.run(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=600, cwd=out
        )
    return result.returncode


def finished_job(stack: Stack) -> tuple[str, str]:
    """A completed job of the user's (the admin sees it too) and its model's file name."""
    body, _ = upload_job(stack, [("seed.png", image_bytes())], key=USER_KEY, provider="local")
    assert wait_finished(stack, body["job_id"])["status"] == "completed"
    with stack.client(key=USER_KEY) as client:
        listing = client.get(f"/api/v1/download/{body['job_id']}/all").json()
    return body["job_id"], listing["files"][0]["filename"]


def config(job_id: str, filename: str) -> str:
    """schemathesis.toml: the file routes work on a finished job, as links cannot wait for one
    (a job is still running when the stateful phase lists it right after the upload)."""
    return (
        "[[operations]]\n"
        'include-path-regex = "^/api/v1/(download|models/download)/"\n'
        f'parameters = {{ job_id = "{job_id}", filename = "{filename}" }}\n'
    )


@pytest.mark.timeout(900)
@pytest.mark.parametrize("who", RUNS)
def test_openapi_fuzzing_finds_nothing(make_stack, tmp_path: Path, who: str) -> None:  # type: ignore[no-untyped-def]
    stack = make_stack(
        MAX_ACTIVE_JOBS_PER_KEY="0",
        MAX_UPLOAD_SIZE="200000",
        RATE_LIMIT_PER_MINUTE="0",
        RATE_LIMIT_PER_HOUR="0",
    )
    stack.start_worker(concurrency=1)
    key, phases, seconds = RUNS[who]
    (tmp_path / "schemathesis.toml").write_text(config(*finished_job(stack)))
    code = schemathesis(stack.base_url, key, phases, seconds, tmp_path)
    output = (tmp_path / "schemathesis.out").read_text()
    assert code == 0, output[-20000:]
    print(output[-3000:])
