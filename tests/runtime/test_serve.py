"""`image2model serve` as a user runs it: real processes, real Redis, real signals."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest
import redis

from image2model.runtime.redis_server import private_redis
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0  # the worker's warm shutdown may take 10 s before a cold one
GONE_TIMEOUT = 5.0
UNSET = ("REDIS_URL", "REDIS_HOST", "REDIS_PORT", "API_KEY", "API_KEYS", "ADMIN_API_KEY")


def service_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env.update(DATA_DIR=str(data_dir), WORKER_CONCURRENCY="2")
    return env


class Service:
    """One `python -m image2model serve` process, and the processes it started."""

    def __init__(
        self,
        data_dir: Path,
        log_path: Path,
        redis_url: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.log_path = log_path
        self.tree: list[psutil.Process] = []
        env = {**service_env(data_dir), **(env or {})}
        if redis_url is not None:
            env["REDIS_URL"] = redis_url
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "image2model", "serve", "--port", str(self.port)],
                env=env,
                cwd=data_dir.parent,  # no stray .env from the repository
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    @property
    def socket_path(self) -> Path:
        return self.data_dir / "redis" / "redis.sock"

    def wait_for(self, path: str, status: int = 200) -> None:
        """Wait until GET `path` answers `status`; readiness 200 means API, Redis and a worker."""
        url = f"http://127.0.0.1:{self.port}/api/v1/health/{path}"
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"serve exited early:\n{self.output()}"
            try:
                if httpx.get(url, timeout=2).status_code == status:
                    self.tree = psutil.Process(self.process.pid).children(recursive=True)
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        pytest.fail(f"{path} not {status} within {START_TIMEOUT:.0f} s:\n{self.output()}")

    def child(self, command: str) -> psutil.Process:
        """The direct child running `image2model <command>`."""
        ours = [p for p in self.tree if p.ppid() == self.process.pid]
        matches = [p for p in ours if p.cmdline()[-2:] == ["image2model", command]]
        assert len(matches) == 1, [p.cmdline() for p in ours]
        return matches[0]

    def stop(self, sig: signal.Signals) -> int:
        self.process.send_signal(sig)
        return self.process.wait(STOP_TIMEOUT)

    def output(self) -> str:
        """Everything it printed: the banner and one JSON line per request and event."""
        return self.log_path.read_text(errors="replace")

    def close(self) -> None:
        """Leave nothing behind, even when a test failed half-way."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for process in self.tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[[], Service]]:
    data_dir = tmp_path / "data"
    started: list[Service] = []

    def start_service() -> Service:
        service = Service(data_dir, tmp_path / "serve.log")
        started.append(service)
        service.wait_for("readiness")
        return service

    yield start_service
    for service in started:
        service.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def assert_all_gone(service: Service) -> None:
    _, alive = psutil.wait_procs(service.tree, timeout=GONE_TIMEOUT)
    assert not alive, [p.cmdline() for p in alive]
    socket_path = str(service.socket_path)
    for process in psutil.process_iter(["cmdline"]):
        assert socket_path not in (process.info["cmdline"] or []), process


def assert_full_tree(service: Service) -> None:
    """Redis, beat, a worker and its pool processes (which must die too)."""
    names = [p.name() for p in service.tree]
    assert "redis-server" in names, names
    service.child("beat")
    pool = service.child("worker").children()
    assert len(pool) >= 2, "the worker's pool processes are not running"


def test_ctrl_c_stops_everything_and_a_restart_keeps_the_data(
    start: Callable[[], Service],
) -> None:
    service = start()
    assert_full_tree(service)
    redis.Redis(unix_socket_path=str(service.socket_path)).set("kept", "across restarts")

    assert service.stop(signal.SIGINT) == 0, service.output()
    assert_all_gone(service)
    assert "Stop with Ctrl-C" in service.output()

    again = start()
    client = redis.Redis(unix_socket_path=str(again.socket_path))
    assert client.get("kept") == b"across restarts"
    client.close()
    assert again.stop(signal.SIGTERM) == 0, again.output()
    assert_all_gone(again)


def test_a_killed_parent_leaves_no_process_behind(start: Callable[[], Service]) -> None:
    service = start()
    assert_full_tree(service)
    service.process.kill()
    service.process.wait()
    assert_all_gone(service)


def test_with_redis_url_serve_runs_the_api_alone_and_workers_run_apart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with private_redis(tmp_path / "shared-redis") as shared:
        api = Service(data_dir, tmp_path / "api.log", redis_url=shared.url)
        worker = subprocess.Popen(
            [sys.executable, "-m", "image2model", "worker", "--concurrency", "1"],
            env={**service_env(data_dir), "REDIS_URL": shared.url},
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            api.wait_for("readiness")
            assert api.tree == [], "serve with REDIS_URL must not start children"
            assert "image2model worker" in api.output()
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(STOP_TIMEOUT) == 0
            assert api.stop(signal.SIGTERM) == 0
        finally:
            worker.kill()
            worker.wait()
            api.close()


def test_beat_keeps_its_schedule_in_the_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with private_redis(tmp_path / "shared-redis") as shared:
        beat = subprocess.Popen(
            [sys.executable, "-m", "image2model", "beat"],
            env={**service_env(data_dir), "REDIS_URL": shared.url},
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while not list((data_dir / "beat").glob("schedule*")):
                assert beat.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
            beat.send_signal(signal.SIGTERM)
            assert beat.wait(STOP_TIMEOUT) == 0
        finally:
            beat.kill()
            beat.wait()


def run_serve(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "image2model", "serve", *args],
        env=service_env(tmp_path / "data"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_busy_port_fails_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = run_serve(tmp_path, "--port", str(taken.getsockname()[1]))
    assert result.returncode == 1
    assert "cannot listen on 127.0.0.1" in result.stderr
    assert not (tmp_path / "data" / "redis").exists()


@pytest.mark.parametrize(
    ("keys", "missing"),
    [
        ({"API_KEY": "user-key-0123456789abcdef"}, "ADMIN_API_KEY"),
        ({"ADMIN_API_KEY": "admin-key-0123456789abcdef"}, "API_KEYS (or API_KEY)"),
    ],
)
def test_a_public_bind_needs_user_keys_and_the_admin_key(
    tmp_path: Path, keys: dict[str, str], missing: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "image2model", "serve", "--host", "0.0.0.0", "--port", "9"],
        env={**service_env(tmp_path / "data"), **keys},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"image2model: refusing to listen on 0.0.0.0 without {missing}: a service reachable "
        "from other machines needs user keys for clients and the admin key for operators. "
        "Set both, or serve on 127.0.0.1 (the default) for local use."
    ]
    assert not (tmp_path / "data" / "redis").exists()


def test_an_unreachable_redis_is_one_line_and_the_api_still_starts(tmp_path: Path) -> None:
    url = "redis://:s3cret-password@127.0.0.1:1/0"
    service = Service(tmp_path / "data", tmp_path / "serve.log", redis_url=url)
    try:
        service.wait_for("liveness")
        wait_until(lambda: "does not answer" in service.output(), what="the Redis line")
        (line,) = [x for x in service.output().splitlines() if "does not answer" in x]
        assert line.startswith("image2model: Redis at redis://:***@127.0.0.1:1/0 does not")
        assert "s3cret" not in service.output()
        readiness = httpx.get(f"http://127.0.0.1:{service.port}/api/v1/health/readiness")
        assert readiness.status_code == 503
        assert service.stop(signal.SIGTERM) == 0
    finally:
        service.close()


def test_a_public_bind_without_keys_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    result = run_serve(tmp_path, "--host", "0.0.0.0", "--port", "9")
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0 without API keys" in result.stderr
    assert "API_KEYS" in result.stderr
    assert not (data_dir / "redis").exists()


def test_a_worker_for_an_unknown_queue_is_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "image2model", "worker", "--queues", "model_generation,typo"],
        env={**service_env(tmp_path / "data"), "REDIS_URL": "redis://127.0.0.1:1/0"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "unknown queue(s) ['typo']" in result.stderr
