"""Start-up and graceful shutdown of the API: background services, draining, final events."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
import uvicorn

from image2model.api.app import create_app
from image2model.api.background import Schedule
from image2model.api.lifecycle import GracefulServer, Operations
from image2model.config import Settings
from tests.conftest import USER_KEY, free_port, image_bytes, make_env
from tests.support.ops import json_lines
from tests.support.waiting import wait_until

FAST = Schedule(log_rotation=0.2, log_cleanup=0.2, health_check=0.2, metrics=0.2)


class Running:
    def __init__(self, settings: Settings) -> None:
        self.app = create_app(settings, log_stdout=False)
        self.ops: Operations = self.app.state.ops
        self.ops.schedule = FAST
        self.port = free_port()
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            timeout_graceful_shutdown=10,
        )
        self.server = GracefulServer(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "API did not start"
            time.sleep(0.02)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    env = make_env(tmp_path / "data", LOG_MAX_BYTES="4096", LOG_RETENTION_DAYS="7")
    settings = Settings(_env_file=None, **{k: v for k, v in env.items() if k.isupper()})  # type: ignore[arg-type]
    client = redis.Redis.from_url(settings.redis_url)
    client.flushdb()
    client.close()
    service = Running(settings)
    yield service
    service.server.should_exit = True
    service.thread.join(15)


def stale(path: Path, days: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"level": "INFO"}\n' * 300)
    when = time.time() - days * 86400
    os.utime(path, (when, when))


def test_background_services_run_and_shutdown_ends_streams_then_stops_them(
    running: Running,
) -> None:
    logs = running.ops.settings.log_dir
    stale(logs / "beat.log", 0)  # 5 KB: past LOG_MAX_BYTES, its writer is not running
    stale(logs / "worker.log.1", 10)  # older than LOG_RETENTION_DAYS
    running.start()

    deadline = time.monotonic() + 5
    while not (logs / "beat.log.1").exists() or (logs / "worker.log.1").exists():
        assert time.monotonic() < deadline, sorted(p.name for p in logs.iterdir())
        time.sleep(0.05)
    background = running.ops.background
    assert background is not None
    assert set(background.tasks) == {"log_rotation", "log_cleanup", "health_check", "metrics"}
    assert not any(task.done() for task in background.tasks.values())
    while background.status["health_check"].runs < 2:
        time.sleep(0.05)
    assert background.status["health_check"].last_result["status"] in (
        "healthy",
        "warning",
        "critical",
    )
    assert running.ops.metrics.last_system is not None

    headers = {"Authorization": f"Bearer {USER_KEY}"}
    with httpx.Client(headers=headers, timeout=30) as client:
        files = [("files", ("a.png", image_bytes(), "image/png"))]
        job = client.post(running.url("/api/v1/upload/"), files=files).json()
    frames: list[str] = []
    opened = threading.Event()

    def watch() -> None:
        url = running.url(f"/api/v1/status/tasks/{job['job_id']}/stream")
        with (
            httpx.Client(headers=headers, timeout=30) as client,
            client.stream("GET", url) as response,
        ):
            for line in response.iter_lines():
                frames.append(line)
                if line.startswith("data:"):
                    opened.set()

    watcher = threading.Thread(target=watch)
    watcher.start()
    assert opened.wait(10)
    # the stream has sent its snapshot; wait until it is waiting for the job's next event
    wait_until(lambda: running.ops.hub.listener_count == 1, timeout=10, what="a listener")

    started = time.monotonic()
    running.server.should_exit = True
    running.thread.join(15)
    watcher.join(5)
    took = time.monotonic() - started
    assert not running.thread.is_alive() and not watcher.is_alive()
    assert took < 5, "streams must end at once, not at the graceful-shutdown timeout"

    text = "\n".join(frames)
    assert "event: server_shutdown" in text and "retry: 2000" in text
    last_block = text.rstrip().split("\n\n")[-1]
    assert "event: server_shutdown" in last_block and "id:" not in last_block
    assert all(task.done() for task in background.tasks.values())
    rotated = [p for p in logs.glob("api.log.*") if p.suffix[1:].isdigit()]
    files = [*sorted(rotated, key=lambda p: -int(p.suffix[1:])), logs / "api.log"]  # oldest first
    messages = [line["message"] for path in files for line in json_lines(path)]
    for expected in ("api.draining", "ops.background.stopped", "metrics.flushed"):
        assert any(m.startswith(expected) for m in messages), expected
    assert messages.index("api.draining") < max(
        i for i, m in enumerate(messages) if m.startswith("metrics.flushed")
    )


def test_requests_during_draining_get_503_with_the_envelope(running: Running) -> None:
    running.start()
    running.ops.draining.active = True
    response = httpx.get(running.url("/api/v1/health/"))
    assert response.status_code == 503
    assert response.json()["error_code"] == "SHUTTING_DOWN"
    assert response.headers["retry-after"] == "2" and response.headers["x-request-id"]
