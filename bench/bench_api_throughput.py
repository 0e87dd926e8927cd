"""API throughput: req/s and latency of /health/ and the status snapshot, next to a bare app.

Three targets, each served by one uvicorn process with the same settings (`launch.py`):
the bare Starlette app's `/health` (the ceiling of the server stack on this machine), the
API's `GET /api/v1/health/`, and the API's `GET /api/v1/status/tasks/{id}/status` with a
Bearer key for a finished 25-item job. `wrk` (another process) holds 50 connections; each
target is warmed up, then measured in rounds that interleave the targets; medians reported.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
from typing import Any

from harness import (
    USER_KEY,
    Stack,
    deployment,
    free_port,
    machine,
    save,
    upload,
    wait_job,
    wait_quiet,
)

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(
    url: str, seconds: float, connections: int, threads: int, key: str | None
) -> dict[str, Any]:
    """One wrk run: requests/s, p50/p99 latency (ms) and any errors it counted."""
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if key:
        argv += ["-H", f"Authorization: Bearer {key}"]
    output = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
        "p50_ms": _latency(output, "50%"),
        "p99_ms": _latency(output, "99%"),
        "non_2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else None,
    }


def _latency(output: str, label: str) -> float:
    value, unit = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", output, re.M).groups()  # type: ignore[union-attr]
    return round(float(value) * UNITS[unit], 3)


def finished_job(stack: Stack, images: int) -> str:
    """A completed job of `images` items, made by a worker that is stopped afterwards."""
    stack.start_worker(4)
    job_id: str = upload(stack, images, delay="0", steps="1")["job_id"]
    document = wait_job(stack, job_id)
    assert document["status"] == "completed", document["status"]
    stack.stop_workers()  # an idle worker's heartbeats are not part of what is measured
    return job_id


def targets(stack: Stack, job_id: str, bare_port: int) -> dict[str, tuple[str, str | None]]:
    status_path = f"/api/v1/status/tasks/{job_id}/status"
    with stack.client() as client:
        snapshot = client.get(status_path).json()
    assert len(snapshot["files"]) == snapshot["total"], snapshot
    return {
        "bare": (f"http://127.0.0.1:{bare_port}/health", None),
        "health": (f"{stack.api_url}/api/v1/health/", None),
        "status": (f"{stack.api_url}{status_path}", USER_KEY),
    }


def measure(args: argparse.Namespace) -> dict[str, Any]:
    with deployment() as stack:
        stack.start_api()
        job_id = finished_job(stack, args.images)
        bare_port = free_port()
        stack.start_server("bare", bare_port, "/health")
        urls = targets(stack, job_id, bare_port)
        for name, (url, key) in urls.items():
            print(f"warm-up {name}: {args.warmup} s", flush=True)
            wrk(url, args.warmup, args.connections, args.threads, key)
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in urls}
        for round_ in range(args.rounds):
            for name, (url, key) in urls.items():
                busy = wait_quiet()
                result = wrk(url, args.duration, args.connections, args.threads, key)
                result["cpu_busy_before_pct"] = busy
                print(f"round {round_ + 1} {name}: {result}", flush=True)
                runs[name].append(result)
    return summarise(runs)


def summarise(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    medians = {
        name: {
            metric: round(statistics.median(r[metric] for r in results), 3)
            for metric in ("rps", "p50_ms", "p99_ms")
        }
        | {"non_2xx_total": sum(r["non_2xx"] for r in results)}
        for name, results in runs.items()
    }
    bare = medians["bare"]["rps"]
    for name in ("health", "status"):
        medians[name]["ratio_to_bare"] = round(medians[name]["rps"] / bare, 3)
    return {"medians": medians, "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (2 cores here)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per run")
    parser.add_argument("--warmup", type=int, default=3, help="seconds per target")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--images", type=int, default=25)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get update && apt-get install -y wrk")
    result = {
        "benchmark": "api_throughput",
        "machine": machine(),
        "load": {
            "tool": subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split(
                "\n"
            )[0],
            "connections": args.connections,
            "threads": args.threads,
            "duration_s": args.duration,
            "rounds": args.rounds,
        },
        "server": "one uvicorn process, loop=uvloop, http=httptools, access log off",
        **measure(args),
    }
    save(args.json, result)


if __name__ == "__main__":
    main()
