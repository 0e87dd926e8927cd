"""What every benchmark needs: a private deployment, its processes, uploads and an SSE client.

A deployment is real: Redis (a dedicated DB, flushed at start and end), the API served by
uvicorn in its own process (`launch.py`) and Celery workers started exactly as `image2model
worker` is, each in its own process group so that every one of them is stopped on exit, error
or Ctrl-C. The only fake is the provider: `tests.support.providers` (sleeps as told).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import math
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import psutil
import redis
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
USER_KEY = "bench-user-key-0123456789abcdef"
ADMIN_KEY = "bench-admin-key-0123456789abcdef"
WORKERS_KEY = "i2m:workers"
TERMINAL = frozenset({"task_completed", "task_failed", "task_cancelled"})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def image_png(size: int = 64) -> bytes:
    """A blue disc on white (the test provider fails red ones)."""
    image = Image.new("RGB", (size, size), (255, 255, 255))
    for x in range(size):
        for y in range(size):
            if (x - size / 2) ** 2 + (y - size / 2) ** 2 < (size / 3) ** 2:
                image.putpixel((x, y), (40, 90, 200))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def bench_env(data_dir: Path, **overrides: str) -> dict[str, str]:
    """The environment of every process of the deployment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("API_", "FAL_", "REDIS_"))}
    env.update(
        REDIS_URL=REDIS_URL,
        DATA_DIR=str(data_dir),
        API_KEYS=f"bench:{USER_KEY}",
        ADMIN_API_KEY=ADMIN_KEY,
        PROVIDER_PLUGINS="sleepy=tests.support.providers:build",
        DEFAULT_PROVIDER="sleepy",
        TASK_RATE_LIMIT="",
        # per-key API limits off: at their defaults a load test is a 429 test, and with huge
        # ones the moving-window lists grow with every request (see results/core-*.md)
        RATE_LIMIT_PER_MINUTE="0",
        RATE_LIMIT_PER_HOUR="0",
        PYTHONPATH=f"{ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}".rstrip(os.pathsep),
        LOG_LEVEL="INFO",
    )
    env.update(overrides)
    return env


class Processes:
    """Children in their own process groups; `close` stops them all, newest first."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it
        child = subprocess.Popen(
            argv,
            env=env,
            cwd=self.log_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.children.append(child)
        return child

    def stop(self, child: subprocess.Popen[bytes], timeout: float = 15) -> None:
        if child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=timeout)
        # the group too: a Celery pool child must not outlive its parent
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        if child in self.children:
            self.children.remove(child)

    def close(self) -> None:
        for child in reversed(list(self.children)):
            self.stop(child)


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@dataclass
class Stack:
    """One private deployment: settings in `env`, processes, and a Redis client."""

    env: dict[str, str]
    data_dir: Path
    processes: Processes
    redis: redis.Redis
    api_port: int = 0
    api: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start_api(self) -> subprocess.Popen[bytes]:
        self.api_port = free_port()
        self.api = self.start_server("api", self.api_port, "/api/v1/health/")
        return self.api

    def start_server(self, app: str, port: int, ready_path: str) -> subprocess.Popen[bytes]:
        argv = [sys.executable, str(BENCH / "launch.py"), app, "--port", str(port)]
        child = self.processes.start(f"{app}-{port}", argv, self.env)
        wait_http(f"http://127.0.0.1:{port}{ready_path}", child)
        return child

    def start_worker(
        self, concurrency: int, nice: int = 0, cpus: str | None = None
    ) -> subprocess.Popen[bytes]:
        """`image2model worker`, at niceness `nice`, on the cores `cpus` (taskset's list)."""
        before = set(self.redis.zrange(WORKERS_KEY, 0, -1))
        argv = [sys.executable, "-m", "image2model", "worker", "--concurrency", str(concurrency)]
        if nice:
            argv = ["nice", "-n", str(nice), *argv]
        if cpus is not None:
            argv = ["taskset", "--cpu-list", cpus, *argv]
        child = self.processes.start(f"worker-{len(self.workers)}", argv, self.env)
        deadline = time.monotonic() + 60
        while not set(self.redis.zrange(WORKERS_KEY, 0, -1)) - before:
            if child.poll() is not None:
                raise RuntimeError(f"worker exited during start-up; see {self.data_dir}")
            if time.monotonic() > deadline:
                raise RuntimeError("worker did not become ready in 60 s")
            time.sleep(0.05)
        self.workers.append(child)
        return child

    def stop_workers(self) -> None:
        for child in self.workers:
            self.processes.stop(child)
        self.workers.clear()
        self.redis.delete(WORKERS_KEY)

    def client(self, timeout: float = 60) -> httpx.Client:
        headers = {"Authorization": f"Bearer {USER_KEY}"}
        return httpx.Client(base_url=self.api_url, headers=headers, timeout=timeout)


@contextlib.contextmanager
def deployment(**overrides: str) -> Iterator[Stack]:
    """A flushed Redis DB and a temporary DATA_DIR; every process stopped on the way out."""
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGHUP, _exit_on_signal)
    keep = os.environ.get("BENCH_KEEP_DATA") == "1"
    data_dir = Path(tempfile.mkdtemp(prefix="i2m-bench-"))
    env = bench_env(data_dir, **overrides)
    client = redis.Redis.from_url(env["REDIS_URL"], decode_responses=True)
    client.flushdb()
    processes = Processes(data_dir)
    try:
        yield Stack(env=env, data_dir=data_dir, processes=processes, redis=client)
    finally:
        processes.close()
        client.flushdb()
        client.close()
        if keep:
            print(f"kept logs and data in {data_dir}", file=sys.stderr)
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


def wait_http(url: str, child: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if child.poll() is not None:
            raise RuntimeError(f"server for {url} exited with {child.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer in {timeout} s")
        time.sleep(0.05)


def upload_files(count: int) -> list[tuple[str, tuple[str, bytes, str]]]:
    data = image_png()
    return [("files", (f"object{i:02d}.png", data, "image/png")) for i in range(count)]


def upload(stack: Stack, count: int, **fields: str) -> dict[str, Any]:
    with stack.client() as client:
        response = client.post("/api/v1/upload/", files=upload_files(count), data=fields)
    if response.status_code != 202:
        raise RuntimeError(f"upload failed: {response.status_code} {response.text[:500]}")
    job: dict[str, Any] = response.json()
    return job


def wait_job(stack: Stack, job_id: str, timeout: float = 120) -> dict[str, Any]:
    """Poll the job document until the job is terminal."""
    deadline = time.monotonic() + timeout
    with stack.client() as client:
        while True:
            document: dict[str, Any] = client.get(f"/api/v1/models/job/{job_id}").json()
            if document["status"] not in ("queued", "processing"):
                return document
            if time.monotonic() > deadline:
                raise RuntimeError(f"job {job_id} still {document['status']} after {timeout} s")
            time.sleep(0.2)


# --- SSE over raw sockets: cheap enough that 500 of them in one process stay honest ---


@dataclass
class Frame:
    """One SSE frame and when its last byte reached the client (epoch seconds)."""

    received: float
    id: str
    event: str
    data: bytes

    def json(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.data)
        return parsed

    @property
    def written(self) -> float:
        """When Redis stored the event: the millisecond part of its stream id."""
        return int(self.id.partition("-")[0]) / 1000


class SseClient(asyncio.Protocol):
    """An HTTP/1.1 GET whose chunked `text/event-stream` body is split into frames."""

    def __init__(self, request: bytes) -> None:
        loop = asyncio.get_running_loop()
        self.request = request
        self.started = 0.0
        self.status: int | None = None
        self.frames: list[Frame] = []
        self.first_frame: asyncio.Future[Frame] = loop.create_future()
        self.done: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self._raw = bytearray()
        self._body = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.time()
        self._raw += data
        if self.status is None and not self._read_head():
            return
        self._dechunk()
        self._split_frames(now)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.first_frame.done():
            self.first_frame.set_exception(ConnectionError(f"closed before a frame: {exc}"))
        if not self.done.done():
            self.done.set_result(None)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _read_head(self) -> bool:
        end = self._raw.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(self._raw[:end]).decode("latin-1")
        del self._raw[: end + 4]
        self.status = int(head.split(" ", 2)[1])
        if self.status != 200 or "transfer-encoding: chunked" not in head.lower():
            raise ConnectionError(f"unexpected response head: {head!r}")
        return True

    def _dechunk(self) -> None:
        raw, pos = self._raw, 0
        while True:
            line_end = raw.find(b"\r\n", pos)
            if line_end < 0:
                break
            size = int(raw[pos:line_end].split(b";")[0], 16)
            if size == 0:  # the server ended the stream (a terminal event, or `retry:`)
                pos = len(raw)
                if not self.done.done():
                    self.done.set_result(None)
                break
            if len(raw) < line_end + 2 + size + 2:
                break
            self._body += raw[line_end + 2 : line_end + 2 + size]
            pos = line_end + 4 + size
        del raw[:pos]

    def _split_frames(self, now: float) -> None:
        body = self._body
        while (end := body.find(b"\n\n")) >= 0:
            frame = self._parse(bytes(body[:end]), now)
            del body[: end + 2]
            if frame is None:
                continue
            self.frames.append(frame)
            if not self.first_frame.done():
                self.first_frame.set_result(frame)
            if frame.event in TERMINAL and not self.done.done():
                self.done.set_result(None)

    @staticmethod
    def _parse(text: bytes, now: float) -> Frame | None:
        event_id, event, data = "", "message", b""
        for line in text.split(b"\n"):
            if line.startswith(b"id:"):
                event_id = line[3:].strip().decode()
            elif line.startswith(b"event:"):
                event = line[6:].strip().decode()
            elif line.startswith(b"data:"):
                data = line[5:].strip()
        return Frame(now, event_id, event, data) if data else None


async def open_stream(
    port: int, path: str, key: str = USER_KEY, last_event_id: str | None = None
) -> SseClient:
    """Connect and send the request; frames arrive in the returned client."""
    resume = f"Last-Event-ID: {last_event_id}\r\n" if last_event_id else ""
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {key}\r\nAccept: text/event-stream\r\n{resume}\r\n"
    ).encode()
    loop = asyncio.get_running_loop()
    client = SseClient(request)
    client.started = time.time()
    await loop.create_connection(lambda: client, "127.0.0.1", port)
    return client


def stream_path(job_id: str) -> str:
    return f"/api/v1/status/tasks/{job_id}/stream"


# --- figures ---


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (q in 0–100)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def distribution(values: list[float], scale: float = 1000.0) -> dict[str, float]:
    """n, p50, p95, p99 and max, scaled (seconds → ms by default)."""
    return {
        "n": len(values),
        "p50": round(percentile(values, 50) * scale, 2),
        "p95": round(percentile(values, 95) * scale, 2),
        "p99": round(percentile(values, 99) * scale, 2),
        "max": round(max(values) * scale, 2) if values else math.nan,
    }


def wait_quiet(busy_below: float = 15.0, timeout: float = 180.0) -> float:
    """Wait until the machine's CPUs are mostly idle (other work skews every figure).

    Returns the last busy percentage seen, recorded next to the figures.
    """
    deadline = time.monotonic() + timeout
    while True:
        busy = psutil.cpu_percent(interval=1.0)
        if busy < busy_below or time.monotonic() > deadline:
            if busy >= busy_below:
                print(f"machine still {busy:.0f} % busy; measuring anyway", file=sys.stderr)
            return busy


def _run(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "unavailable"


def machine(redis_url: str = REDIS_URL) -> dict[str, Any]:
    """Where the figures were measured."""
    import httptools
    import uvicorn
    import uvloop

    memory = Path("/proc/meminfo").read_text().splitlines()[0].split(":")[1].strip()
    info = redis.Redis.from_url(redis_url).info("server")
    dirty = _run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"])
    return {
        "uname": " ".join(platform.uname()),
        "nproc": os.cpu_count(),
        "memory": memory,
        "python": platform.python_version(),
        "redis": info.get("redis_version"),
        "uvicorn": uvicorn.__version__,
        "uvloop": uvloop.__version__,
        "httptools": httptools.__version__,
        "git_commit": _run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
        "src_uncommitted_changes": bool(dirty),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def save(path: str | None, result: dict[str, Any]) -> None:
    text = json.dumps(result, indent=2)
    print(text)
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text + "\n")
