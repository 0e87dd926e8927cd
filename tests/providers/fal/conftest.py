"""A fake fal server per test, and stacks whose API and workers talk to it over HTTPS."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from image2model import keys
from tests.conftest import Stack
from tests.support.fake_fal import FakeFal
from tests.support.waiting import wait_until as wait_until  # re-exported for the fal tests

FAL_TEST_KEY = "fal-test-key-7f3a9c1e5b2d"


@pytest.fixture
def fal(tmp_path: Path) -> Iterator[FakeFal]:
    fake = FakeFal(tmp_path, key=FAL_TEST_KEY).start()
    yield fake
    fake.stop()


@pytest.fixture
def fal_stack(
    make_stack: Callable[..., Stack], fal: FakeFal, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Stack]:
    """`fal_stack(**settings)`: a stack whose default provider is fal, pointed at the fake."""
    # the API runs in this process and reads fal's prices with this process's trust store
    monkeypatch.setenv("SSL_CERT_FILE", str(fal.ca_file))

    def build(**overrides: str) -> Stack:
        settings = {
            "FAL_KEY": FAL_TEST_KEY,
            "FAL_QUEUE_HOST": fal.host,
            "FAL_API_HOST": f"127.0.0.1:{fal.port}",
            "SSL_CERT_FILE": str(fal.ca_file),
            "DEFAULT_PROVIDER": "fal",
            "FAL_POLL_INTERVAL": "0.5",
            "FAL_REQUEST_TIMEOUT": "5",
            **overrides,
        }
        stack = make_stack(**settings)
        stack.redis.delete(keys.FAL_SLOTS)
        return stack

    return build


def items(stack: Stack, job_id: str) -> list[dict[str, Any]]:
    return [json.loads(v) for v in stack.redis.hvals(keys.items_key(job_id))]


def kill_once_stored(stack: Stack, fal: FakeFal, job_id: str, submits: int) -> float:
    """SIGKILL the workers once fal accepted `submits` requests and every item of the job
    stored its request id; when that was (for the fake's log)."""
    wait_until(lambda: len(fal.accepted()) == submits, what=f"{submits} submits")
    wait_until(
        lambda: all("request_id" in i["provider_state"] for i in items(stack, job_id)),
        what="request ids stored on the items",
    )
    killed_at = time.time()
    stack.kill_workers(signal.SIGKILL)
    return killed_at
