"""fal provider: a batch against the fake fal at 2 s per request, with a cap on requests in flight.

Measures wall time from the upload response to the terminal event against the ideal
ceil(images / cap) × 2 s (the cap, not the workers, is the limit), status polls and status
streams per item, paid submits, the most requests the fake saw in flight at once, and the
peak memory of the worker processes (pool children included). The deployment is real: Redis
(a dedicated DB, flushed), the API, one worker started as `image2model worker` and, with
`--io`, an I/O worker (`image2model worker --io`, 2 × FAL_MAX_CONCURRENCY threads); the only fake
is fal, served over HTTPS on loopback by `tests/support/fake_fal.py`.

By default the API (`bench/launch.py api`) and the fake fal run in processes of their own, as
in use, where fal is another company's machine and the API its own process. `--one-process`
serves both from the benchmark's own process, sharing its interpreter lock with the client
that reads the event stream (the layout of the results before 2026-12-07's second sitting).

    .venv/bin/python bench/bench_fal.py [--images 25] [--latency 2] [--slots 4] [--runs 3]
    .venv/bin/python bench/bench_fal.py --slots 25 --workers 2 --io     # one wave
    .venv/bin/python bench/bench_fal.py --images 100 --slots 25 --workers 2 --io
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault(
    "TEST_REDIS_URL", os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
)

from bench.harness import wait_http  # noqa: E402
from tests.conftest import ServerThread, Stack, free_port, image_bytes, make_env  # noqa: E402
from tests.support.fake_fal import FakeFal  # noqa: E402
from tests.support.sse import read_until_terminal  # noqa: E402

from image2model.config import Settings  # noqa: E402
from image2model.keys import FAL_SLOTS, events_key, items_key  # noqa: E402

KEY = "bench-fal-key-0123456789"


def one_run(
    images: int, latency: float, slots: int, workers: int, io: bool, one_process: bool
) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="i2m-bench-fal-") as tmp:
        fal = LocalFal(Path(tmp), latency) if one_process else FalProcess(Path(tmp), latency)
        env = make_env(
            Path(tmp) / "data",
            FAL_KEY=KEY,
            FAL_QUEUE_HOST=fal.host,
            FAL_API_HOST=fal.host.split("/")[0],
            SSL_CERT_FILE=str(fal.ca_file),
            DEFAULT_PROVIDER="fal",
            FAL_MAX_CONCURRENCY=str(slots),
            MAX_FILES_PER_UPLOAD=str(max(25, images)),
            PROGRESS_MIN_INTERVAL="0.25",
            # the defaults, not the tests' short ones (a lease renewed every 0.7 s per item)
            LEASE_SECONDS="10",
            SSE_KEEPALIVE_SECONDS="15",
            LOG_LEVEL="WARNING",
        )
        settings = Settings(_env_file=None, **{k: v for k, v in env.items() if k.isupper()})  # type: ignore[arg-type]
        stack = Stack(env=env, settings=settings)
        stack.redis.flushdb()
        try:
            with serve_api(stack, settings, one_process):
                processes = [stack.start_worker(concurrency=workers)]
                if io:
                    processes.append(stack.start_worker(io=True))
                with PeakRss(processes) as rss, PeakRss(processes[1:]) as io_rss:
                    result = _measure(stack, fal, images, latency, slots)
                return {**result, "worker_rss_mb": rss.peak_mb, "io_rss_mb": io_rss.peak_mb}
        finally:
            stack.kill_workers()
            stack.redis.delete(FAL_SLOTS)
            stack.redis.flushdb()
            fal.stop()


@contextlib.contextmanager
def serve_api(stack: Stack, settings: Settings, one_process: bool) -> Iterator[None]:
    """The API in a thread of this process, or as its own process (`bench/launch.py api`)."""
    port = free_port()
    stack.base_url = f"http://127.0.0.1:{port}"
    if one_process:
        server = ServerThread(settings, port)
        server.start()
        while not server.server.started:
            time.sleep(0.02)
        try:
            yield
        finally:
            server.stop()
        return
    argv = [sys.executable, str(ROOT / "bench" / "launch.py"), "api", "--port", str(port)]
    api = subprocess.Popen(argv, env=stack.env, start_new_session=True)
    try:
        wait_http(f"{stack.base_url}/api/v1/health/", api)
        yield
    finally:
        api.terminate()
        api.wait(timeout=15)


@dataclass
class FalReport:
    """What the benchmark reads off the fake once the batch is done."""

    done_after: float
    """Seconds from a submit to its completion at the fake."""
    submitted: dict[str, float]
    """Each request id's submit time (epoch seconds)."""
    polls: Counter[str]
    streams: Counter[str]
    submits: int
    in_flight: int


def _report(fake: FakeFal) -> FalReport:
    return FalReport(
        done_after=fake.queue_seconds + fake.run_seconds,
        submitted={r.request_id: r.submitted for r in fake.requests.values()},
        polls=Counter(e.request_id or "" for e in fake.entries("status")),
        streams=Counter(e.request_id or "" for e in fake.entries("stream")),
        submits=len(fake.accepted()),
        in_flight=fake.max_in_flight(),
    )


def _new_fake(tmp: Path, latency: float) -> FakeFal:
    fake = FakeFal(tmp, key=KEY).start()
    fake.queue_seconds, fake.run_seconds = 0.0, latency
    return fake


class LocalFal:
    """The fake fal in a thread of this process."""

    def __init__(self, tmp: Path, latency: float) -> None:
        self.fake = _new_fake(tmp, latency)
        self.host, self.ca_file = self.fake.host, self.fake.ca_file

    def report(self) -> FalReport:
        return _report(self.fake)

    def stop(self) -> None:
        self.fake.stop()


class FalProcess:
    """The fake fal in a process of its own (forked before any thread of ours starts)."""

    def __init__(self, tmp: Path, latency: float) -> None:
        self.pipe, theirs = multiprocessing.Pipe()
        context = multiprocessing.get_context("fork")
        self.process = context.Process(target=_serve_fake, args=(tmp, latency, theirs))
        self.process.start()
        self.host, ca_file = self.pipe.recv()
        self.ca_file = Path(ca_file)

    def report(self) -> FalReport:
        self.pipe.send("report")
        report: FalReport = self.pipe.recv()
        return report

    def stop(self) -> None:
        self.pipe.send("stop")
        self.process.join(timeout=15)


def _serve_fake(tmp: Path, latency: float, pipe: Connection) -> None:
    fake = _new_fake(tmp, latency)
    pipe.send((fake.host, str(fake.ca_file)))
    while (command := pipe.recv()) != "stop":
        assert command == "report", command
        pipe.send(_report(fake))
    fake.stop()


class PeakRss(threading.Thread):
    """The most memory the worker processes (their pool children included) held at once."""

    def __init__(self, processes: list[subprocess.Popen[bytes]]) -> None:
        super().__init__(daemon=True)
        self.roots = [psutil.Process(p.pid) for p in processes]
        self.peak_mb = 0.0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.1):
            total = 0
            for root in self.roots:
                with contextlib.suppress(psutil.Error):
                    for process in (root, *root.children(recursive=True)):
                        total += process.memory_info().rss
            self.peak_mb = max(self.peak_mb, total / 2**20)

    def __enter__(self) -> PeakRss:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopped.set()
        self.join()


def _measure(
    stack: Stack, fal: LocalFal | FalProcess, images: int, latency: float, slots: int
) -> dict[str, float]:
    files = [
        ("files", (f"b{i}.png", image_bytes((i * 9 % 255, 90, 200)), "image/png"))
        for i in range(images)
    ]
    with stack.client(timeout=120) as client:
        response = client.post("/api/v1/upload/", files=files)
        started, uploaded = time.monotonic(), time.time()
        job = response.json()
        events = read_until_terminal(client, f"/api/v1/status/tasks/{job['job_id']}/stream")
        wall = time.monotonic() - started
    assert events[-1].event == "task_completed", events[-1].data
    report = fal.report()
    polls, streams = report.polls, report.streams
    ideal = math.ceil(images / slots) * latency
    return {
        "wall": wall,
        "ideal": ideal,
        "ratio": wall / ideal,
        "status_mean": statistics.mean(polls.values()) if polls else 0.0,
        "status_max": max(polls.values(), default=0),
        "streams_mean": statistics.mean(streams.values()) if streams else 0.0,
        "submits": report.submits,
        "in_flight": report.in_flight,
        **phases(stack, report, job["job_id"], uploaded),
    }


PHASES = ("to_submit", "detect", "download", "hand_off", "post_process")


def phases(stack: Stack, fal: FalReport, job_id: str, uploaded: float) -> dict[str, float]:
    """Where each item's time outside fal goes, medians in ms, from the job's event stream
    (Redis timestamps) and the fake's own clock (the same machine):

    to_submit     upload response → the fake receives the item's submit (dispatch, waiting
                  for a slot, the image's encoding, the request itself)
    detect        fal's completion → the item asks for the result
    download      the result fetch and the two file downloads
    hand_off      files on our disk → post-processing starts (on a CPU worker)
    post_process  post-processing → the item's completion
    """
    marks: dict[str, dict[str, float]] = {}
    for event_id, fields in stack.redis.xrange(events_key(job_id)):
        data = json.loads(fields["data"])
        if fields["event"] != "file_update" or not data.get("message"):
            continue
        when = int(event_id.partition("-")[0]) / 1000
        for name, prefix in MARKS.items():
            if data["message"].startswith(prefix):
                marks.setdefault(data["file_id"], {}).setdefault(name, when)
    items = {fid: json.loads(raw) for fid, raw in stack.redis.hgetall(items_key(job_id)).items()}
    spans: dict[str, list[float]] = {name: [] for name in PHASES}
    for file_id, item in items.items():
        mark = marks.get(file_id, {})
        submitted = fal.submitted.get(item["provider_state"].get("request_id", ""))
        if submitted is None or len(mark) < len(MARKS):
            continue
        done_at_fal = submitted + fal.done_after
        spans["to_submit"].append(submitted - uploaded)
        spans["detect"].append(mark["fetching"] - done_at_fal)
        spans["download"].append(mark["downloaded"] - mark["fetching"])
        spans["hand_off"].append(mark["post_processing"] - mark["downloaded"])
        spans["post_process"].append(item["finished_at"] - mark["post_processing"])
    return {
        f"{name}_ms": round(statistics.median(values) * 1000, 1) if values else math.nan
        for name, values in spans.items()
    }


MARKS = {
    "fetching": "Fetching the result",
    "downloaded": "Model downloaded",
    "post_processing": "Post-processing",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=25)
    parser.add_argument("--latency", type=float, default=2.0)
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--workers", type=int, default=8, help="worker processes (concurrency)")
    parser.add_argument("--io", action="store_true", help="also run an I/O worker (worker --io)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--one-process", action="store_true", help="serve the API and the fake fal in-process"
    )
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(
        f"{args.images} images, fake fal {args.latency:.1f} s per request, "
        f"FAL_MAX_CONCURRENCY={args.slots}, worker concurrency {args.workers}"
        f"{', an I/O worker' if args.io else ''}"
        f"{'; API and fake fal in this process' if args.one_process else ''}"
    )
    header = (
        "run  wall s  ideal s  wall/ideal  status/item mean  max  streams/item"
        "  paid submits  max in flight  workers' peak RSS MB  I/O worker's"
    )
    print(header)
    rows = []
    for run in range(1, args.runs + 1):
        row = one_run(
            args.images, args.latency, args.slots, args.workers, args.io, args.one_process
        )
        rows.append(row)
        print(
            f"{run:>3}  {row['wall']:6.2f}  {row['ideal']:7.1f}  {row['ratio']:10.2f}"
            f"  {row['status_mean']:16.2f}  {row['status_max']:3.0f}"
            f"  {row['streams_mean']:12.2f}  {row['submits']:12.0f}"
            f"  {row['in_flight']:13.0f}  {row['worker_rss_mb']:20.0f}  {row['io_rss_mb']:12.0f}"
        )
    wall, ideal = statistics.median(r["wall"] for r in rows), rows[0]["ideal"]
    print(f"median wall {wall:.2f} s vs ideal {ideal:.1f} s ({wall / ideal:.2f}×)")
    split = ", ".join(
        f"{name} {statistics.median(r[f'{name}_ms'] for r in rows):.0f}" for name in PHASES
    )
    print(f"per item outside fal, ms (medians over items, then runs): {split}")


if __name__ == "__main__":
    main()
