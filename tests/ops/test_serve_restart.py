"""SIGTERM to `image2model serve` in the middle of a batch, then a restart: nothing is lost."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
import redis

from tests.conftest import ROOT, image_bytes
from tests.runtime.test_serve import Service
from tests.support.providers import CALLS_KEY

pytestmark = pytest.mark.slow

ITEMS = 6
SERVICE_ENV = {
    "PROVIDER_PLUGINS": "sleepy=tests.support.providers:build",
    "DEFAULT_PROVIDER": "sleepy",
    "PYTHONPATH": str(ROOT),
    "LEASE_SECONDS": "2",
    "PROGRESS_MIN_INTERVAL": "0",
    "TASK_RATE_LIMIT": "",
    "RATE_LIMIT_PER_MINUTE": "0",
    "RATE_LIMIT_PER_HOUR": "0",
}


def status_of(service: Service, job_id: str) -> dict:
    url = f"http://127.0.0.1:{service.port}/api/v1/status/tasks/{job_id}/status"
    return httpx.get(url, timeout=10).json()


def completed(status: dict) -> int:
    return sum(f["status"] == "completed" for f in status["files"])


def test_sigterm_mid_batch_then_restart_completes_every_item_exactly_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in SERVICE_ENV.items():
        monkeypatch.setenv(name, value)
    data_dir = tmp_path / "data"
    first = Service(data_dir, tmp_path / "serve-1.log")
    second: Service | None = None
    try:
        first.wait_for("readiness")
        files = [("files", (f"item{i}.png", image_bytes(), "image/png")) for i in range(ITEMS)]
        base = f"http://127.0.0.1:{first.port}"
        job = httpx.post(
            f"{base}/api/v1/upload/", files=files, data={"delay": "1.2", "steps": "4"}, timeout=30
        ).json()
        job_id = job["job_id"]
        deadline = time.monotonic() + 30
        while completed(status_of(first, job_id)) < 2:
            assert time.monotonic() < deadline, first.output()
            time.sleep(0.05)

        frames: list[str] = []
        opened = threading.Event()

        def watch() -> None:
            with httpx.stream("GET", f"{base}{job['stream_url']}", timeout=30) as response:
                for line in response.iter_lines():
                    frames.append(line)
                    opened.set()

        watcher = threading.Thread(target=watch)
        watcher.start()
        assert opened.wait(10)
        assert first.stop(signal.SIGTERM) == 0, first.output()
        watcher.join(10)
        assert "event: server_shutdown" in "\n".join(frames), "open streams get a final event"

        second = Service(data_dir, tmp_path / "serve-2.log")
        second.wait_for("readiness")
        interrupted = status_of(second, job_id)
        assert completed(interrupted) < ITEMS, "the stop must land mid-batch"
        deadline = time.monotonic() + 60
        while (status := status_of(second, job_id))["status"] in ("queued", "processing"):
            assert time.monotonic() < deadline, second.output()
            time.sleep(0.1)
        assert status["status"] == "completed", status
        assert completed(status) == ITEMS

        calls = redis.Redis(unix_socket_path=str(second.socket_path), decode_responses=True)
        done = Counter(
            c.split(" ", 1)[1] for c in calls.lrange(CALLS_KEY, 0, -1) if c.startswith("done")
        )
        calls.close()
        assert set(done) == {f"{job_id}:{f['file_id']}" for f in job["uploaded_files"]}
        assert set(done.values()) == {1}, f"an item was generated twice: {done}"
        listing = httpx.get(f"http://127.0.0.1:{second.port}/api/v1/download/{job_id}/all").json()
        assert len(listing["files"]) == ITEMS
        assert second.stop(signal.SIGTERM) == 0
    finally:
        first.close()
        if second is not None:
            second.close()
