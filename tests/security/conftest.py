"""API processes started the way a deployment starts them (`image2model serve` with REDIS_URL)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.conftest import free_port, make_env, redis_url


class ApiProcess:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "image2model", "serve", "--port", str(self.port)],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while True:
            assert self.process.poll() is None, log.read_text()
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/api/v1/health/", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, "API did not start"
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()


@pytest.fixture
def api_process(tmp_path: Path) -> Iterator[Callable[..., ApiProcess]]:
    started: list[ApiProcess] = []
    redis.Redis.from_url(redis_url()).flushdb()

    def start(data_dir: Path | None = None, **overrides: str) -> ApiProcess:
        env = make_env(data_dir or tmp_path / "data", **overrides)
        api = ApiProcess(env, tmp_path / f"api-{len(started)}.log")
        started.append(api)
        return api

    yield start
    for api in started:
        api.stop()
