"""Chaos drill: embedded `image2model serve` while its worker, pool children and Redis are killed.

Each round uploads `--items` images to the test provider (`tests.support.providers`, which
sleeps as told), waits a random moment while the job runs, SIGKILLs one random target (the
worker, one of its pool processes, or the private redis-server) and waits for the job to end.
It prints one line per round and a summary:

  completed / failed   items that ended so
  stuck                items not terminal when the round timed out
  ran twice            items the provider finished more than once (work done, and for a paid
                       provider money spent, twice)
  bad terminal         jobs whose event stream holds other than exactly one terminal event
  restarts             children `serve` restarted

Rerun (about 15 s a round on two cores):  .venv/bin/python bench/chaos.py --rounds 20
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psutil
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness import free_port, image_png  # noqa: E402
from tests.support.providers import CALLS_KEY  # noqa: E402

from image2model.keys import events_key  # noqa: E402

TERMINAL = {"task_completed", "task_failed", "task_cancelled"}
TARGETS = ("worker", "pool", "redis")


class Serve:
    """One embedded `image2model serve` with the test provider."""

    def __init__(self, data_dir: Path, log_path: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "API_"))}
        env.update(
            DATA_DIR=str(data_dir),
            PROVIDER_PLUGINS="sleepy=tests.support.providers:build",
            DEFAULT_PROVIDER="sleepy",
            PYTHONPATH=str(ROOT),
            LEASE_SECONDS="2",
            WORKER_CONCURRENCY="2",
            RATE_LIMIT_PER_MINUTE="0",
            RATE_LIMIT_PER_HOUR="0",
            MAX_ACTIVE_JOBS_PER_KEY="0",
        )
        self.log = log_path.open("wb")
        command = [sys.executable, "-m", "image2model", "serve", "--port", str(self.port)]
        self.process = subprocess.Popen(
            command, env=env, cwd=data_dir.parent, stdout=self.log, stderr=subprocess.STDOUT
        )
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}/api/v1", timeout=10)
        self.wait_ready()
        socket_path = str(data_dir / "redis" / "redis.sock")
        self.redis = redis.Redis(unix_socket_path=socket_path, decode_responses=True)

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "serve exited"
            try:
                if self.http.get("/health/readiness").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise TimeoutError("serve did not become ready")

    def targets(self) -> dict[str, list[psutil.Process]]:
        found: dict[str, list[psutil.Process]] = {name: [] for name in TARGETS}
        for child in psutil.Process(self.process.pid).children():
            try:
                argv = child.cmdline()
                if "redis" in argv[0]:
                    found["redis"].append(child)
                elif argv[-2:] == ["image2model", "worker"]:
                    found["worker"].append(child)
                    found["pool"].extend(child.children())
            except psutil.Error:
                continue
        return found

    def status(self, job_id: str) -> dict[str, Any]:
        try:
            body: dict[str, Any] = self.http.get(f"/status/tasks/{job_id}/status").json()
            return body
        except (httpx.TransportError, ValueError):
            return {}

    def close(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def run_round(serve: Serve, items: int, delay: float, timeout: float) -> dict[str, Any]:
    files = [("files", (f"c{i}.png", image_png(), "image/png")) for i in range(items)]
    form = {"delay": str(delay), "steps": "6"}
    job_id = serve.http.post("/upload/", files=files, data=form).json()["job_id"]
    time.sleep(random.uniform(0.2, delay * items / 2))
    target = random.choice(TARGETS)
    candidates = serve.targets()[target]
    if candidates:
        random.choice(candidates).send_signal(signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if serve.status(job_id).get("status") in ("completed", "partial", "failed", "cancelled"):
            break
        time.sleep(0.5)
    serve.wait_ready()
    return {"job_id": job_id, "target": target if candidates else "none", **tally(serve, job_id)}


def tally(serve: Serve, job_id: str) -> dict[str, Any]:
    files = serve.status(job_id).get("files", [])
    statuses = Counter(f["status"] for f in files)
    ran = Counter(
        c.split(" ", 1)[1] for c in serve.redis.lrange(CALLS_KEY, 0, -1) if c.startswith("done")
    )
    ran_twice = sum(1 for key, n in ran.items() if key.startswith(job_id) and n > 1)
    terminals = sum(
        1 for _, fields in serve.redis.xrange(events_key(job_id)) if fields["event"] in TERMINAL
    )
    return {
        "completed": statuses["completed"],
        "failed": statuses["failed"],
        "stuck": sum(n for s, n in statuses.items() if s in ("queued", "processing")),
        "ran_twice": ran_twice,
        "terminal_events": terminals,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--items", type=int, default=6)
    parser.add_argument("--delay", type=float, default=1.5, help="seconds per item")
    parser.add_argument("--timeout", type=float, default=120, help="seconds per round")
    parser.add_argument("--seed", type=int, default=20261207)
    parser.add_argument("--log", type=Path, default=Path("chaos-serve.log"), help="serve's output")
    args = parser.parse_args()
    random.seed(args.seed)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="i2m-chaos-") as scratch:
        data_dir = Path(scratch) / "data"
        data_dir.mkdir()
        serve = Serve(data_dir, args.log)
        rounds = []
        try:
            for number in range(1, args.rounds + 1):
                result = run_round(serve, args.items, args.delay, args.timeout)
                rounds.append(result)
                print(f"round {number:2d}: {json.dumps(result)}", flush=True)
            restarts = serve.http.get("/health/detailed").json()["components"]["embedded"]
        finally:
            serve.close()
    total = Counter[str]()
    for result in rounds:
        total.update({k: v for k, v in result.items() if isinstance(v, int)})
    kills = Counter(r["target"] for r in rounds)
    bad_terminal = sum(1 for r in rounds if r["terminal_events"] != 1)
    print(
        f"summary: rounds={len(rounds)} items={len(rounds) * args.items} "
        f"kills={dict(kills)} completed={total['completed']} failed={total['failed']} "
        f"stuck={total['stuck']} ran_twice={total['ran_twice']} bad_terminal={bad_terminal} "
        f"restarts={restarts['restarts']} wall_s={time.monotonic() - started:.0f}"
    )
    return 0 if total["stuck"] == 0 and bad_terminal == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
