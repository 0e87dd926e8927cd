"""Orchestration: a 25-image batch, 2 s per image, one worker with 4 slots.

Measures, per run: wall time from the upload response to the terminal SSE event against the
ideal ceil(25/4) × 2 s; how long after the last item finished the terminal event reached the
client; each item's `file_update(completed)` latency (the item's `finished_at` in the job
document → SSE receive time, same clock); and each item's overhead (worker-side item time
minus the provider's 2 s). Medians over the runs. Runs with Celery's per-worker rate limit
off (`TASK_RATE_LIMIT=`), then, for comparison, with the default `100/m`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import time
from typing import Any

import httpx
import uvloop
from harness import (
    TERMINAL,
    USER_KEY,
    Stack,
    deployment,
    distribution,
    machine,
    open_stream,
    save,
    stream_path,
    upload,
    upload_files,
    wait_job,
    wait_quiet,
)

from image2model.keys import events_key


async def measured_batch(
    stack: Stack, images: int, delay: float, steps: int, slots: int
) -> dict[str, Any]:
    """Upload, follow the stream to its terminal event, then read the job document."""
    headers = {"Authorization": f"Bearer {USER_KEY}"}
    async with httpx.AsyncClient(base_url=stack.api_url, headers=headers, timeout=60) as client:
        sent = time.time()
        response = await client.post(
            "/api/v1/upload/",
            files=upload_files(images),
            data={"delay": str(delay), "steps": str(steps)},
        )
        uploaded = time.time()
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]
        stream = await open_stream(stack.api_port, stream_path(job_id))
        await asyncio.wait_for(stream.done, timeout=600)
        stream.close()
        document = (await client.get(f"/api/v1/models/job/{job_id}")).json()
    result = figures(stream.frames, document, sent, uploaded, delay)
    result.update(phases(stack, document, delay, slots))
    return result


def phases(stack: Stack, document: dict[str, Any], delay: float, slots: int) -> dict[str, Any]:
    """Where an item's time goes, from the event stream's Redis timestamps (1 ms resolution).

    before provider: start → "Generating with …"; provider extra: the provider's own time
    minus its sleep (progress reports, GLB export); post-processing: "Post-processing model"
    → finished (validate, copy, preview render). Handoff: a slot's finish → its next start.
    """
    marks: dict[str, dict[str, float]] = {}
    for event_id, fields in stack.redis.xrange(events_key(document["job_id"])):
        if fields["event"] != "file_update":
            continue
        data = json.loads(fields["data"])
        when = int(event_id.partition("-")[0]) / 1000
        for prefix in ("Generating with", "Post-processing"):
            if data["message"] and data["message"].startswith(prefix):
                marks.setdefault(data["file_id"], {}).setdefault(prefix, when)
    before, extra, post = [], [], []
    for item in document["items"]:
        mark = marks[item["file_id"]]
        before.append(mark["Generating with"] - item["started_at"])
        extra.append(mark["Post-processing"] - mark["Generating with"] - delay)
        post.append(item["finished_at"] - mark["Post-processing"])
    starts = sorted(i["started_at"] for i in document["items"])
    finishes = sorted(i["finished_at"] for i in document["items"])
    handoff = [start - finish for start, finish in zip(starts[slots:], finishes, strict=False)]
    return {
        "before_provider_ms": distribution(before),
        "provider_extra_ms": distribution(extra),
        "post_processing_ms": distribution(post),
        "slot_handoff_ms": distribution(handoff),
    }


def figures(
    frames: list[Any], document: dict[str, Any], sent: float, uploaded: float, delay: float
) -> dict[str, Any]:
    items = {item["file_id"]: item for item in document["items"]}
    terminal = next(f for f in frames if f.event in TERMINAL)
    completed_at = {}
    for frame in frames:
        if frame.event == "file_update":
            data = frame.json()
            if data["status"] == "completed":
                completed_at.setdefault(data["file_id"], frame.received)
    missing = set(items) - set(completed_at)
    assert not missing, f"no file_update(completed) for {len(missing)} items"
    assert document["status"] == "completed", document["status"]
    starts = sorted(i["started_at"] for i in items.values())
    last_finish = max(i["finished_at"] for i in items.values())
    file_latency = [completed_at[fid] - item["finished_at"] for fid, item in items.items()]
    overhead = [i["finished_at"] - i["started_at"] - delay for i in items.values()]
    return {
        "upload_request_s": round(uploaded - sent, 3),
        "wall_s": round(terminal.received - uploaded, 3),
        "first_item_start_after_upload_ms": round((starts[0] - uploaded) * 1000, 1),
        "last_item_start_after_upload_s": round(starts[-1] - uploaded, 3),
        "terminal_latency_ms": round((terminal.received - last_finish) * 1000, 2),
        "file_update_completed_latency_ms": distribution(file_latency),
        "item_overhead_ms": distribution(overhead),
        "frames": len(frames),
        "file_update_frames": sum(f.event == "file_update" for f in frames),
    }


async def series(stack: Stack, runs: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    for run in range(runs):
        busy = await asyncio.to_thread(wait_quiet)
        result = await measured_batch(stack, args.images, args.delay, args.steps, args.slots)
        print(
            f"  run {run + 1}: wall {result['wall_s']:.3f} s, "
            f"terminal {result['terminal_latency_ms']} ms, "
            f"file_update p95 {result['file_update_completed_latency_ms']['p95']} ms, "
            f"item overhead p50 {result['item_overhead_ms']['p50']} ms",
            flush=True,
        )
        result["cpu_busy_before_pct"] = busy
        results.append(result)
    return results


def summarise(results: list[dict[str, Any]], ideal: float) -> dict[str, Any]:
    def median(pick: Any) -> float:
        return round(statistics.median(pick(r) for r in results), 3)

    wall = median(lambda r: r["wall_s"])
    return {
        "runs": len(results),
        "ideal_s": ideal,
        "wall_s_median": wall,
        "wall_over_ideal_s": round(wall - ideal, 3),
        "wall_over_ideal_pct": round(100 * (wall - ideal) / ideal, 2),
        "terminal_latency_ms_median": median(lambda r: r["terminal_latency_ms"]),
        "file_update_latency_ms_p50_median": median(
            lambda r: r["file_update_completed_latency_ms"]["p50"]
        ),
        "file_update_latency_ms_p95_median": median(
            lambda r: r["file_update_completed_latency_ms"]["p95"]
        ),
        "file_update_latency_ms_max": max(
            r["file_update_completed_latency_ms"]["max"] for r in results
        ),
        "item_overhead_ms_p50_median": median(lambda r: r["item_overhead_ms"]["p50"]),
        "item_overhead_ms_p95_median": median(lambda r: r["item_overhead_ms"]["p95"]),
        "post_processing_ms_p50_median": median(lambda r: r["post_processing_ms"]["p50"]),
        "provider_extra_ms_p50_median": median(lambda r: r["provider_extra_ms"]["p50"]),
        "before_provider_ms_p50_median": median(lambda r: r["before_provider_ms"]["p50"]),
        "slot_handoff_ms_p50_median": median(lambda r: r["slot_handoff_ms"]["p50"]),
        "slot_handoff_ms_p95_median": median(lambda r: r["slot_handoff_ms"]["p95"]),
        "first_item_start_ms_median": median(lambda r: r["first_item_start_after_upload_ms"]),
        "last_item_start_s_median": median(lambda r: r["last_item_start_after_upload_s"]),
        "per_run": results,
    }


def run_config(rate_limit: str, runs: int, args: argparse.Namespace) -> dict[str, Any]:
    ideal = math.ceil(args.images / args.slots) * args.delay
    print(f"== TASK_RATE_LIMIT={rate_limit!r}: {runs} run(s), ideal {ideal:.1f} s", flush=True)
    with deployment(TASK_RATE_LIMIT=rate_limit) as stack:
        stack.start_api()
        stack.start_worker(args.slots)
        # every pool process loads its resources on first use; a service that is up is warm
        wait_job(stack, upload(stack, args.slots * 2, delay="0.1", steps="1")["job_id"])
        time.sleep(2)
        results = uvloop.run(series(stack, runs, args))
    return summarise(results, ideal)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rate-limited-runs", type=int, default=1)
    parser.add_argument("--images", type=int, default=25)
    parser.add_argument("--delay", type=float, default=2.0)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    result: dict[str, Any] = {
        "benchmark": "orchestration",
        "machine": machine(),
        "batch": {k: getattr(args, k) for k in ("images", "delay", "steps", "slots")},
        "no_rate_limit": run_config("", args.runs, args),
    }
    if args.rate_limited_runs:
        result["rate_limit_100_per_min"] = run_config("100/m", args.rate_limited_runs, args)
    save(args.json, result)


if __name__ == "__main__":
    main()
