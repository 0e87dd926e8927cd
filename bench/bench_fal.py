"""fal provider: a 25-image batch against the fake fal at 2 s per request, 4 slots.

Measures wall time from the upload response to the terminal event against the ideal
ceil(25/4) × 2 s (the cap, not the workers, is the limit), status requests per item (polling
must not hammer fal: FAL_POLL_INTERVAL at its default, 2 s), paid submits, and the most
requests the fake saw in flight at once. The deployment is real: Redis (a dedicated DB,
flushed), the API, one worker process started as `image2model worker`; the only fake is fal,
served over HTTPS on loopback by `tests/support/fake_fal.py`.

    .venv/bin/python bench/bench_fal.py [--images 25] [--latency 2] [--slots 4] [--runs 3]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault(
    "TEST_REDIS_URL", os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
)

from tests.conftest import ServerThread, Stack, free_port, image_bytes, make_env  # noqa: E402
from tests.support.fake_fal import FakeFal  # noqa: E402
from tests.support.sse import read_until_terminal  # noqa: E402

from image2model.config import Settings  # noqa: E402
from image2model.keys import FAL_SLOTS  # noqa: E402

KEY = "bench-fal-key-0123456789"


def one_run(images: int, latency: float, slots: int, workers: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="i2m-bench-fal-") as tmp:
        fake = FakeFal(Path(tmp), key=KEY).start()
        fake.queue_seconds, fake.run_seconds = 0.0, latency
        env = make_env(
            Path(tmp) / "data",
            FAL_KEY=KEY,
            FAL_QUEUE_HOST=fake.host,
            SSL_CERT_FILE=str(fake.ca_file),
            DEFAULT_PROVIDER="fal",
            FAL_MAX_CONCURRENCY=str(slots),
            PROGRESS_MIN_INTERVAL="0.25",
            LOG_LEVEL="WARNING",
        )
        settings = Settings(_env_file=None, **{k: v for k, v in env.items() if k.isupper()})  # type: ignore[arg-type]
        stack = Stack(env=env, settings=settings)
        stack.redis.flushdb()
        server = ServerThread(settings, free_port())
        server.start()
        while not server.server.started:
            time.sleep(0.02)
        stack.base_url = f"http://127.0.0.1:{server.server.config.port}"
        try:
            stack.start_worker(concurrency=workers)
            return _measure(stack, fake, images, latency, slots)
        finally:
            stack.kill_workers()
            server.stop()
            stack.redis.delete(FAL_SLOTS)
            stack.redis.flushdb()
            fake.stop()


def _measure(
    stack: Stack, fake: FakeFal, images: int, latency: float, slots: int
) -> dict[str, float]:
    files = [
        ("files", (f"b{i}.png", image_bytes((i * 9 % 255, 90, 200)), "image/png"))
        for i in range(images)
    ]
    with stack.client(timeout=120) as client:
        response = client.post("/api/v1/upload/", files=files)
        started = time.monotonic()
        job = response.json()
        events = read_until_terminal(client, f"/api/v1/status/tasks/{job['job_id']}/stream")
        wall = time.monotonic() - started
    assert events[-1].event == "task_completed", events[-1].data
    polls = Counter(e.request_id for e in fake.entries("status"))
    streams = Counter(e.request_id for e in fake.entries("stream"))
    ideal = math.ceil(images / slots) * latency
    return {
        "wall": wall,
        "ideal": ideal,
        "ratio": wall / ideal,
        "status_mean": statistics.mean(polls.values()) if polls else 0.0,
        "status_max": max(polls.values(), default=0),
        "streams_mean": statistics.mean(streams.values()) if streams else 0.0,
        "submits": len(fake.accepted()),
        "in_flight": fake.max_in_flight(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=25)
    parser.add_argument("--latency", type=float, default=2.0)
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--workers", type=int, default=8, help="worker processes (concurrency)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(
        f"{args.images} images, fake fal {args.latency:.1f} s per request, "
        f"FAL_MAX_CONCURRENCY={args.slots}, worker concurrency {args.workers}, FAL_POLL_INTERVAL=2"
    )
    header = (
        "run  wall s  ideal s  wall/ideal  status/item mean  max  streams/item"
        "  paid submits  max in flight"
    )
    print(header)
    rows = []
    for run in range(1, args.runs + 1):
        row = one_run(args.images, args.latency, args.slots, args.workers)
        rows.append(row)
        print(
            f"{run:>3}  {row['wall']:6.2f}  {row['ideal']:7.1f}  {row['ratio']:10.2f}"
            f"  {row['status_mean']:16.2f}  {row['status_max']:3.0f}"
            f"  {row['streams_mean']:12.2f}  {row['submits']:12.0f}"
            f"  {row['in_flight']:13.0f}"
        )
    wall, ideal = statistics.median(r["wall"] for r in rows), rows[0]["ideal"]
    print(f"median wall {wall:.2f} s vs ideal {ideal:.1f} s ({wall / ideal:.2f}×)")


if __name__ == "__main__":
    main()
