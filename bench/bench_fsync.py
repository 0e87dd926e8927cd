"""What a durable private Redis costs: `appendfsync always` against `everysec`.

Embedded mode's Redis (`runtime/redis_server.py`) fsyncs its append-only file before it
acknowledges a write, so a killed Redis loses no item transition and no saved provider request.
This measures the price, per policy, on the disk that holds the temporary directory:

- **writes**: 2,000 single `SET`s from one client, one round trip each (the worst case: no
  two writes share an fsync); median and p95 latency.
- **batch**: a 25-image job through the real API and one worker with 4 slots, the provider
  answering after 0.05 s (orchestration only, so the Redis writes are all there is to pay
  for): upload response → terminal SSE event, and each item's overhead.

Policies are interleaved run by run; each run gets a fresh private Redis (started exactly as
embedded mode starts it) and a fresh deployment (`harness.py`).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import redis
import uvloop
from bench_orchestration import measured_batch
from harness import deployment, distribution, machine, save, upload, wait_job, wait_quiet

from image2model.runtime.redis_server import private_redis

POLICIES = ("everysec", "always")


def writes(url: str, count: int) -> dict[str, float]:
    client = redis.Redis.from_url(url)
    latencies = []
    for index in range(count):
        started = time.perf_counter()
        client.set(f"bench:{index}", "x" * 64)
        latencies.append(time.perf_counter() - started)
    client.close()
    return distribution(latencies)


def batch(url: str, args: argparse.Namespace) -> dict[str, Any]:
    with deployment(REDIS_URL=url) as stack:
        stack.start_api()
        stack.start_worker(args.slots)
        # every pool process loads its resources on first use; a service that is up is warm
        wait_job(stack, upload(stack, args.slots * 2, delay="0.05", steps="1")["job_id"])
        time.sleep(1)
        wait_quiet()
        return uvloop.run(measured_batch(stack, args.images, args.delay, 1, args.slots))


def one_run(policy: str, args: argparse.Namespace) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="i2m-fsync-", dir=args.dir) as directory,
        private_redis(Path(directory) / "redis", appendfsync=policy) as server,
    ):
        result = {"writes_ms": writes(server.url, args.writes), **batch(server.url, args)}
        if "redis_version" not in args.seen:
            args.seen.update(machine(server.url))
    print(
        f"  {policy:>8}: SET p50 {result['writes_ms']['p50']} ms, "
        f"batch wall {result['wall_s']:.3f} s, "
        f"item overhead p50 {result['item_overhead_ms']['p50']} ms",
        flush=True,
    )
    return result


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    def median(pick: Any) -> float:
        return round(statistics.median(pick(r) for r in results), 3)

    return {
        "runs": len(results),
        "set_ms_p50_median": median(lambda r: r["writes_ms"]["p50"]),
        "set_ms_p95_median": median(lambda r: r["writes_ms"]["p95"]),
        "batch_wall_s_median": median(lambda r: r["wall_s"]),
        "item_overhead_ms_p50_median": median(lambda r: r["item_overhead_ms"]["p50"]),
        "item_overhead_ms_p95_median": median(lambda r: r["item_overhead_ms"]["p95"]),
        "per_run": results,
    }


def ratio(new: dict[str, Any], old: dict[str, Any], figure: str) -> float:
    return round(new[figure] / old[figure], 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--images", type=int, default=25)
    parser.add_argument("--delay", type=float, default=0.05)
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--dir", default=None, help="where Redis writes (default: TMPDIR)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    args.seen = {}
    results: dict[str, list[dict[str, Any]]] = {policy: [] for policy in POLICIES}
    for run in range(args.runs):
        print(f"== run {run + 1} of {args.runs}", flush=True)
        for policy in POLICIES:
            results[policy].append(one_run(policy, args))
    summary = {policy: summarise(runs) for policy, runs in results.items()}
    always, everysec = summary["always"], summary["everysec"]
    save(
        args.json,
        {
            "machine": args.seen,
            "directory": args.dir or tempfile.gettempdir(),
            "images": args.images,
            "delay_s": args.delay,
            "slots": args.slots,
            "always_over_everysec": {
                "set_p50": ratio(always, everysec, "set_ms_p50_median"),
                "batch_wall": ratio(always, everysec, "batch_wall_s_median"),
            },
            **summary,
        },
    )


if __name__ == "__main__":
    main()
