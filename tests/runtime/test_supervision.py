"""Embedded mode outlives its children: a killed worker or Redis is restarted and work ends."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import redis

from image2model.keys import events_key
from tests.conftest import ROOT, image_bytes
from tests.runtime.test_serve import START_TIMEOUT, STOP_TIMEOUT, Service, assert_all_gone
from tests.support.disks import fill, small_disk
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

TERMINAL = {"task_completed", "task_failed", "task_cancelled"}
SLEEPY = {
    "PROVIDER_PLUGINS": "sleepy=tests.support.providers:build",
    "DEFAULT_PROVIDER": "sleepy",
    "PYTHONPATH": str(ROOT),
    "LEASE_SECONDS": "2",
    "WORKER_CONCURRENCY": "2",
    "RATE_LIMIT_PER_MINUTE": "0",  # the tests poll status for a minute or more
}


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    started = Service(tmp_path / "data", tmp_path / "serve.log", env=SLEEPY)
    try:
        started.wait_for("readiness")
        yield started
    finally:
        started.close()


def api(service: Service) -> httpx.Client:
    return httpx.Client(base_url=f"http://127.0.0.1:{service.port}/api/v1", timeout=10)


def upload(service: Service, count: int, delay: float) -> str:
    files = [("files", (f"item{i}.png", image_bytes(), "image/png")) for i in range(count)]
    with api(service) as client:
        response = client.post("/upload/", files=files, data={"delay": str(delay), "steps": "8"})
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"])


def status(service: Service, job_id: str) -> dict[str, Any]:
    try:
        with api(service) as client:
            body: dict[str, Any] = client.get(f"/status/tasks/{job_id}/status").json()
    except httpx.TransportError:
        return {"status": "unreachable"}
    return body


def wait_processing(service: Service, job_id: str) -> None:
    wait_until(
        lambda: status(service, job_id).get("status") == "processing",
        timeout=START_TIMEOUT,
        what="the job to start",
    )


def wait_terminal(service: Service, job_id: str, timeout: float = 120) -> dict[str, Any]:
    def finished() -> bool:
        assert service.process.poll() is None, f"serve exited:\n{service.output()[-3000:]}"
        return status(service, job_id).get("status") in {"completed", "partial", "failed"}

    wait_until(finished, timeout=timeout, what="the job to end", interval=0.5)
    return status(service, job_id)


def living_children(service: Service) -> Iterator[tuple[psutil.Process, list[str]]]:
    """serve's children with their command lines, skipping those already dead (zombies) and
    those just forked, whose command line is still empty."""
    for child in psutil.Process(service.process.pid).children():
        try:
            argv = child.cmdline()
        except (psutil.ZombieProcess, psutil.NoSuchProcess):
            continue
        if argv:
            yield child, argv


def children(service: Service, command: str) -> list[psutil.Process]:
    return [p for p, argv in living_children(service) if argv[-2:] == ["image2model", command]]


def redis_servers(service: Service) -> list[psutil.Process]:
    return [p for p, argv in living_children(service) if "redis" in argv[0]]


def stored_events(service: Service, job_id: str) -> list[dict[str, Any]]:
    client = redis.Redis(unix_socket_path=str(service.socket_path), decode_responses=True)
    try:
        entries = client.xrange(events_key(job_id))
    finally:
        client.close()
    return [{"event": f["event"], **json.loads(f["data"])} for _, f in entries]


def assert_each_item_finished_once(service: Service, job_id: str, items: int) -> None:
    events = stored_events(service, job_id)
    finished = Counter(
        e["file_id"]
        for e in events
        if e["event"] == "file_update" and e["status"] in {"completed", "failed"}
    )
    assert len(finished) == items and set(finished.values()) == {1}, finished
    assert sum(e["event"] in TERMINAL for e in events) == 1


def test_a_killed_worker_is_restarted_and_finishes_every_item_once(service: Service) -> None:
    job_id = upload(service, count=4, delay=2.0)
    wait_processing(service, job_id)
    (worker,) = children(service, "worker")
    worker.send_signal(signal.SIGKILL)  # what the OOM killer does; its pool dies with it

    wait_until(
        lambda: [p.pid for p in children(service, "worker")] not in ([], [worker.pid]),
        timeout=START_TIMEOUT,
        what="a new worker",
    )
    final = wait_terminal(service, job_id)
    assert final["status"] == "completed", final
    assert_each_item_finished_once(service, job_id, items=4)
    assert "runtime.child.restarted name=worker" in service.output()
    with api(service) as client:
        assert client.get("/health/readiness").status_code == 200
        detailed = client.get("/health/detailed").json()
        metrics = client.get("/health/metrics").text
    restarts = detailed["checks"]["embedded"]["restarts"]
    assert restarts == {"redis": 0, "worker": 1, "beat": 0}
    assert 'embedded_child_restarts_total{child="worker"} 1.0' in metrics


def test_a_killed_redis_is_restarted_from_its_append_only_file(service: Service) -> None:
    job_id = upload(service, count=4, delay=3.0)
    wait_processing(service, job_id)
    (killed,) = redis_servers(service)
    killed.send_signal(signal.SIGKILL)

    wait_until(
        lambda: [p.pid for p in redis_servers(service)] not in ([], [killed.pid]),
        timeout=30,
        what="Redis to restart",
    )
    final = wait_terminal(service, job_id, timeout=180)
    assert final["status"] in {"completed", "partial", "failed"}, final
    assert_each_item_finished_once(service, job_id, items=4)
    assert "runtime.child.restarted name=redis" in service.output()


def test_a_child_that_keeps_crashing_stops_the_service_with_one_line(service: Service) -> None:
    killed: list[int] = []
    deadline = time.monotonic() + 120
    while service.process.poll() is None:
        assert time.monotonic() < deadline, service.output()[-3000:]
        for beat in children(service, "beat"):
            if beat.pid not in killed:
                killed.append(beat.pid)
                beat.send_signal(signal.SIGKILL)
        time.sleep(0.05)
    assert service.process.wait(STOP_TIMEOUT) == 1
    assert len(killed) == 5
    assert "image2model: beat exited 5 times in a row within 10 s of starting" in service.output()
    assert_all_gone(service)


def test_a_full_disk_refuses_new_work_keeps_reads_and_recovers(tmp_path: Path) -> None:
    with small_disk(tmp_path) as disk:
        full_disk_drill(disk, tmp_path / "serve.log")


def full_disk_drill(disk: Path, log: Path) -> None:
    service = Service(disk / "data", log, env=SLEEPY)
    try:
        service.wait_for("readiness")
        done = upload(service, count=2, delay=0.2)
        assert wait_terminal(service, done)["status"] == "completed"

        filler = fill(disk)
        # the next write fails; Redis, which must not acknowledge what it cannot keep,
        # exits and is restarted to refuse writes instead
        wait_until(
            lambda: "runtime.redis.disk_full" in service.output(),
            timeout=30,
            what="Redis to run without room to write",
        )
        service.wait_for("liveness")
        with api(service) as client:
            wait_until(
                lambda: client.get(f"/status/tasks/{done}/status").status_code == 200,
                timeout=30,
                what="reads to answer again",
            )
            assert client.get(f"/models/job/{done}").json()["status"] == "completed"
            listing = client.get(f"/download/{done}/all").json()
            model = httpx.get(f"http://127.0.0.1:{service.port}{listing['download_urls'][0]}")
            assert model.status_code == 200 and model.content.startswith(b"glTF")
            refused = client.post(
                "/upload/", files=[("files", ("late.png", image_bytes(), "image/png"))]
            )
        assert refused.status_code == 507, refused.text
        assert refused.json()["error_code"] == "STORAGE_FULL"

        filler.unlink()
        wait_until(
            lambda: "runtime.redis.disk_writable" in service.output(),
            timeout=30,
            what="Redis to take writes again",
        )
        again = upload(service, count=1, delay=0.2)
        assert wait_terminal(service, again)["status"] == "completed"
        assert service.process.poll() is None
    finally:
        service.close()
