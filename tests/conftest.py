"""Shared fixtures: a real Redis, real Celery worker processes and a real HTTP server."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis
import uvicorn
from PIL import Image

from image2model.api.app import create_app
from image2model.config import Settings
from image2model.keys import WORKERS
from image2model.runtime.redis_server import private_redis

ROOT = Path(__file__).resolve().parents[1]
_redis_url: str | None = None  # the session's private Redis, while `session_redis()` runs
_SESSION_REDIS = pytest.StashKey[contextlib.ExitStack]()
USER_KEY = "user-key-0123456789abcdef"
OTHER_KEY = "other-key-0123456789abcdef"
ADMIN_KEY = "admin-key-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def image_bytes(
    color: tuple[int, int, int] = (40, 90, 200), size: int = 64, fmt: str = "PNG"
) -> bytes:
    """A small image: a coloured disc on white."""
    image = Image.new("RGB", (size, size), (255, 255, 255))
    for x in range(size):
        for y in range(size):
            if (x - size / 2) ** 2 + (y - size / 2) ** 2 < (size / 3) ** 2:
                image.putpixel((x, y), color)
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


RED = (230, 20, 20)


@contextlib.contextmanager
def session_redis() -> Iterator[str]:
    """The tests' Redis: TEST_REDIS_URL if set, else a private one run while this is entered.

    The private one is embedded mode's (`private_redis`: redis-server on a unix socket in a
    temporary directory), so the suite needs no Redis of its own on the machine.
    """
    global _redis_url
    shared = os.environ.get("TEST_REDIS_URL")
    if shared:
        yield shared
        return
    directory = Path(tempfile.mkdtemp(prefix="i2m-test-redis-"))
    try:
        with private_redis(directory / "redis") as server:
            _redis_url = server.url
            try:
                yield server.url
            finally:
                _redis_url = None
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def redis_url() -> str:
    """The URL of the tests' Redis (read it when needed: it is known once the session starts)."""
    url = _redis_url or os.environ.get("TEST_REDIS_URL")
    if not url:
        raise RuntimeError(
            "no test Redis: run under pytest, inside `with session_redis():`, or set TEST_REDIS_URL"
        )
    return url


def pytest_configure(config: pytest.Config) -> None:
    session = contextlib.ExitStack()
    config.stash[_SESSION_REDIS] = session
    session.enter_context(session_redis())


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(_SESSION_REDIS, None)
    if session is not None:
        session.close()


@dataclass
class Stack:
    """One deployment under test: settings, its Redis, workers and an HTTP server."""

    env: dict[str, str]
    settings: Settings
    base_url: str = ""
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    redis: redis.Redis = field(init=False)
    output_dir: Path | None = None
    """Where the workers' stdout goes (DATA_DIR unless set)."""

    def __post_init__(self) -> None:
        self.redis = redis.Redis.from_url(self.settings.redis_url, decode_responses=True)

    def start_worker(
        self, concurrency: int = 2, wait: bool = True, *, io: bool = False
    ) -> subprocess.Popen[bytes]:
        """`image2model worker` (`--io`: the I/O worker, its threads from FAL_MAX_CONCURRENCY)."""
        before = set(self.redis.zrange(WORKERS, 0, -1))
        output_dir = self.output_dir or Path(self.env["DATA_DIR"])
        log = open(output_dir / f"worker-{len(self.workers)}.log", "wb")  # noqa: SIM115
        argv = ["--io"] if io else ["--concurrency", str(concurrency)]
        process = subprocess.Popen(
            [sys.executable, "-m", "image2model", "worker", *argv],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.workers.append(process)
        if wait:
            deadline = time.monotonic() + 30
            while not set(self.redis.zrange(WORKERS, 0, -1)) - before:
                assert process.poll() is None, "worker exited during start-up"
                assert time.monotonic() < deadline, "worker did not become ready"
                time.sleep(0.1)
        return process

    def kill_workers(self, sig: int = signal.SIGKILL) -> None:
        for process in self.workers:
            if process.poll() is None:
                os.killpg(process.pid, sig)
        for process in self.workers:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.workers.clear()
        self.redis.delete(WORKERS)

    def client(self, key: str | None = USER_KEY, timeout: float = 30) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)


def make_env(data_dir: Path, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("API_", "FAL_", "REDIS_"))}
    env.update(
        REDIS_URL=redis_url(),
        DATA_DIR=str(data_dir),
        API_KEYS=f"user:{USER_KEY},other:{OTHER_KEY}",
        ADMIN_API_KEY=ADMIN_KEY,
        PROVIDER_PLUGINS="sleepy=tests.support.providers:build",
        DEFAULT_PROVIDER="sleepy",
        LEASE_SECONDS="2",
        SSE_KEEPALIVE_SECONDS="1",
        PROGRESS_MIN_INTERVAL="0",
        TASK_RATE_LIMIT="",
        RATE_LIMIT_PER_MINUTE="0",
        RATE_LIMIT_PER_HOUR="0",
        PYTHONPATH=f"{ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}",
        LOG_LEVEL="INFO",
    )
    env.update(overrides)
    return env


class ServerThread(threading.Thread):
    def __init__(self, settings: Settings, port: int) -> None:
        super().__init__(daemon=True)
        config = uvicorn.Config(
            create_app(settings, log_stdout=False),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
        )
        self.server = uvicorn.Server(config)

    def run(self) -> None:
        self.server.run()

    def stop(self) -> None:
        self.server.should_exit = True
        self.join(timeout=10)


def start_stack(
    data_dir: Path, port: int | None = None, **overrides: str
) -> tuple[Stack, ServerThread]:
    """A flushed test Redis and an API server thread for `data_dir` (on `port`, else a free
    one); no worker yet."""
    env = make_env(data_dir, **overrides)
    settings = Settings(_env_file=None, **{k: v for k, v in env.items() if k.isupper()})  # type: ignore[arg-type]
    stack = Stack(env=env, settings=settings)
    stack.redis.flushdb()
    port = port or free_port()
    server = ServerThread(settings, port)
    server.start()
    stack.base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while not server.server.started:
        assert time.monotonic() < deadline, "API did not start"
        time.sleep(0.02)
    return stack, server


def stop_stack(stack: Stack, server: ServerThread) -> None:
    # The test is over: its workers' graceful shutdown (about 2 s each) would prove nothing
    # (tests of shutdown send their own signal), and the next stack flushes the database.
    stack.kill_workers(signal.SIGKILL)
    server.stop()
    stack.redis.close()


@pytest.fixture
def make_stack(tmp_path: Path) -> Iterator[callable]:  # type: ignore[valid-type]
    """Build a stack with extra settings; workers are started by the test."""
    made: list[tuple[Stack, ServerThread]] = []

    def build(port: int | None = None, **overrides: str) -> Stack:
        stack, server = start_stack(tmp_path / "data", port, **overrides)
        made.append((stack, server))
        return stack

    yield build
    for stack, server in made:
        stop_stack(stack, server)


@pytest.fixture
def stack(make_stack: callable) -> Stack:  # type: ignore[valid-type]
    return make_stack()  # type: ignore[no-any-return]
