"""Redis refusing writes for a moment (maxmemory reached): workers carry on, nothing is lost."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from image2model.redis_clients import is_brief_refusal, is_transient
from image2model.runtime.redis_server import PrivateRedis, private_redis
from tests.conftest import Stack, image_bytes
from tests.jobs.test_batch_e2e import upload
from tests.jobs.test_recovery import completed_transitions, wait_for_processing
from tests.support.ops import wait_finished


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A Redis of this test's own: it is made to refuse writes, which the others must not see."""
    with private_redis(tmp_path / "redis") as server:
        yield server


def refuse_writes_now_and_then(url: str, seconds: float) -> int:
    """Blips of 60 ms in which every write answers -OOM, 150 ms apart; how many there were."""
    admin = redis.Redis.from_url(url)
    blips = 0
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            admin.config_set("maxmemory", "1")  # noeviction: writes refused, reads answered
            time.sleep(0.06)
            admin.config_set("maxmemory", "0")
            blips += 1
            time.sleep(0.15)
    finally:
        admin.config_set("maxmemory", "0")
        admin.close()
    return blips


def test_workers_ride_out_refused_writes(own_redis: PrivateRedis, make_stack: callable) -> None:  # type: ignore[valid-type]
    stack: Stack = make_stack(REDIS_URL=own_redis.url)
    worker = stack.start_worker(concurrency=2)
    images = [(f"blip{i}.png", image_bytes()) for i in range(6)]
    job_id = upload(stack, images, delay="0.6", steps="6")["job_id"]
    wait_for_processing(stack, job_id, 1)

    assert refuse_writes_now_and_then(own_redis.url, seconds=5) >= 20

    final = wait_finished(stack, job_id, timeout=120)
    assert final["status"] == "completed", final
    assert worker.poll() is None, "the worker stopped"
    assert set(completed_transitions(stack, job_id).values()) == {1}
    output = (Path(stack.env["DATA_DIR"]) / "worker-0.log").read_text()
    assert "Unrecoverable error" not in output


OOM = "command not allowed when used memory > 'maxmemory'."
SCRIPT = "Error running script (call to f_ee73): @user_script:33: @user_script: 33: "


@pytest.mark.parametrize(
    ("error", "worker_retries", "api_retries"),
    [
        (redis.exceptions.OutOfMemoryError(OOM), True, True),
        (redis.exceptions.ResponseError(f"{SCRIPT}-OOM {OOM}"), True, True),
        (
            redis.exceptions.ReadOnlyError("You can't write against a read only replica."),
            True,
            True,
        ),
        (redis.exceptions.ResponseError("MISCONF Errors writing to the AOF file"), True, False),
        (redis.exceptions.ConnectionError("Connection reset by peer"), True, False),
        (redis.exceptions.ResponseError("WRONGTYPE Operation against a key"), False, False),
        (redis.exceptions.NoScriptError("No matching script"), False, False),
    ],
)
def test_only_refusals_and_lost_connections_are_retried(
    error: Exception, worker_retries: bool, api_retries: bool
) -> None:
    assert is_transient(error) is worker_retries
    assert is_brief_refusal(error) is api_retries
