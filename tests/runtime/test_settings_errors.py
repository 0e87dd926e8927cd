"""A bad setting stops a command with one line naming it and what is allowed; exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import image_bytes
from tests.runtime.test_serve import service_env

SECRET = "short-secret"
CASES = {
    "size not a number": ("serve", {"MAX_UPLOAD_SIZE": "abc"}, "MAX_UPLOAD_SIZE"),
    "port not a number": ("serve", {"PORT": "abc"}, "PORT"),
    "no worker processes": ("serve", {"WORKER_CONCURRENCY": "0"}, "WORKER_CONCURRENCY"),
    "negative lease": ("worker", {"LEASE_SECONDS": "-5"}, "LEASE_SECONDS"),
    "short key": ("serve", {"API_KEY": SECRET}, "API_KEY"),
    "short key in a list": ("serve", {"API_KEYS": f"ci:{SECRET}"}, "API_KEYS"),
    "unknown log level": ("serve", {"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
    "unreadable rate": ("serve", {"FAL_SUBMIT_RATE_LIMIT": "lots"}, "FAL_SUBMIT_RATE_LIMIT"),
    "http redis url": ("serve", {"REDIS_URL": "http://example.com:6379"}, "REDIS_URL"),
    "redis url without scheme": ("worker", {"REDIS_URL": "redis//host"}, "REDIS_URL"),
    "public url without scheme": (
        "serve",
        {"PUBLIC_BASE_URL": "models.example.com"},
        "PUBLIC_BASE_URL",
    ),
    "data dir is a file": ("serve", {"DATA_DIR": "{file}"}, "DATA_DIR"),
    "data dir cannot be made": ("serve", {"DATA_DIR": "/proc/image2model-data"}, "DATA_DIR"),
    "worker without redis": ("worker", {}, "REDIS_URL"),
    "beat without redis": ("beat", {}, "REDIS_URL"),
    "soft limit above hard": (
        "worker",
        {"TASK_SOFT_TIME_LIMIT": "9", "TASK_TIME_LIMIT": "5"},
        "TASK_SOFT_TIME_LIMIT",
    ),
}


def refused(
    command: str, env: dict[str, str], cwd: Path
) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run `image2model <command>`, which must stop with exit code 2 and one stderr line."""
    result = subprocess.run(
        [sys.executable, "-m", "image2model", command],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    return result, lines[0]


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_a_bad_setting_is_one_line_and_exit_code_2(tmp_path: Path, case: str) -> None:
    command, settings, name = CASES[case]
    afile = tmp_path / "a-file"
    afile.write_text("not a directory")
    env = service_env(tmp_path / "data")
    env.update({k: v.format(file=afile) for k, v in settings.items()})
    if command == "serve":
        env.setdefault("REDIS_URL", "redis://127.0.0.1:1/0")  # never reached
    result, line = refused(command, env, tmp_path)
    assert line.startswith("image2model: ") and name in line, line
    assert "Traceback" not in result.stderr and SECRET not in result.stderr + result.stdout


def test_a_worker_that_sees_other_storage_than_the_api_refuses_to_start(
    make_stack,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    stack = make_stack()  # the API has published its storage's identity
    env = {**stack.env, "DATA_DIR": str(tmp_path / "elsewhere")}
    _, line = refused("worker", env, tmp_path)
    assert line.startswith("image2model: DATA_DIR=") and "same shared volume" in line
    assert stack.start_worker(concurrency=1).poll() is None  # the API's own DATA_DIR is fine


def test_a_missing_upload_fails_without_showing_server_paths(stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.jobs.test_batch_e2e import upload
    from tests.support.sse import read_until_terminal

    job = upload(stack, [("gone.png", image_bytes())], provider="local")
    for path in (stack.settings.upload_dir / job["job_id"]).iterdir():
        path.unlink()
    stack.start_worker(concurrency=1)
    with stack.client() as client:
        read_until_terminal(client, f"/api/v1/status/tasks/{job['job_id']}/stream")
        (item,) = client.get(f"/api/v1/models/job/{job['job_id']}").json()["items"]
    assert item["status"] == "failed" and item["error"]["code"] == "INVALID_IMAGE"
    assert str(stack.settings.data_dir) not in item["error"]["message"], item["error"]
    assert "/" not in item["error"]["message"], item["error"]
