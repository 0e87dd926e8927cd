"""SSE fan-out: 500 concurrent streams on one job, held by one API process.

Measures the API process's RSS growth (psutil) from before the first client connects to all
clients connected; first-event latency (connect → the `task_progress` snapshot frame) with
all clients connecting at once; and fan-out latency: each event the worker writes to the
job's Redis stream (its time is the stream id's milliseconds) → its receipt by each client.
The job is queued with no worker running, so every client is attached before the first
progress event; then a worker starts and the sleepy provider reports progress in steps.
A few streams opened one at a time first give the latency on a quiet server.
Clients live in this process (asyncio + raw sockets on uvloop), never in the API's.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import psutil
import uvloop
from harness import (
    TERMINAL,
    Frame,
    SseClient,
    Stack,
    deployment,
    distribution,
    machine,
    open_stream,
    save,
    stream_path,
    upload,
    wait_quiet,
)
from launch import raise_open_files_limit

MiB = 1024 * 1024


async def connect_all(port: int, path: str, count: int) -> list[SseClient]:
    clients = await asyncio.gather(*(open_stream(port, path) for _ in range(count)))
    await asyncio.wait_for(asyncio.gather(*(c.first_frame for c in clients)), timeout=120)
    return clients


async def sample_rss(process: psutil.Process, peak: list[int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], process.memory_info().rss)
        await asyncio.sleep(0.1)


async def fanout(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    assert stack.api is not None
    api = psutil.Process(stack.api.pid)
    if args.provider == "local":  # the offline generator: the worker keeps the cores busy
        job = upload(stack, args.images, provider="local")
    else:
        job = upload(stack, args.images, delay=str(args.delay), steps=str(args.steps))
    path = stream_path(job["job_id"])
    alone = []  # one client at a time: the latency of a stream opened on a quiet server
    for _ in range(args.sequential):
        client = (await connect_all(stack.api_port, path, 1))[0]
        alone.append(client.first_frame.result().received - client.started)
        client.close()
    await asyncio.sleep(1.0)
    busy = await asyncio.to_thread(wait_quiet)
    rss_before = api.memory_info().rss
    started = time.time()
    clients = await connect_all(stack.api_port, path, args.clients)
    all_connected = time.time() - started
    slow = clients[: args.slow_readers]
    for client in slow:  # read nothing for a while: the server must not buffer for them
        assert client.transport is not None
        client.transport.pause_reading()
    await asyncio.sleep(1.0)
    rss_connected = api.memory_info().rss

    peak, stop = [rss_connected], asyncio.Event()
    sampler = asyncio.create_task(sample_rss(api, peak, stop))
    me = psutil.Process()
    cpu_before, wall_before = sum(api.cpu_times()[:2]), time.monotonic()
    own_before = sum(me.cpu_times()[:2])
    await asyncio.to_thread(stack.start_worker, args.slots, args.worker_nice)
    await asyncio.sleep(args.slow_seconds)
    for client in slow:
        assert client.transport is not None
        client.transport.resume_reading()
    await asyncio.wait_for(asyncio.gather(*(c.done for c in clients)), timeout=600)
    elapsed = time.monotonic() - wall_before
    api_cpu = (sum(api.cpu_times()[:2]) - cpu_before) / elapsed
    client_cpu = (sum(me.cpu_times()[:2]) - own_before) / elapsed
    stop.set()
    await sampler
    for client in clients:
        client.close()
    await asyncio.sleep(2.0)
    rss_after = api.memory_info().rss

    first = [c.first_frame.result().received - c.started for c in clients]
    resumed = await resume_ended_streams(stack, job["job_id"], path, clients, len(slow))
    return {
        "clients": len(clients),
        "cpu_busy_before_pct": busy,
        "rss_before_mib": round(rss_before / MiB, 1),
        "rss_connected_mib": round(rss_connected / MiB, 1),
        "rss_growth_mib": round((rss_connected - rss_before) / MiB, 1),
        "rss_growth_per_client_kib": round((rss_connected - rss_before) / 1024 / len(clients), 1),
        "rss_peak_during_fanout_mib": round(peak[0] / MiB, 1),
        "rss_after_disconnect_mib": round(rss_after / MiB, 1),
        "all_connected_s": round(all_connected, 3),
        "first_event_ms": distribution(first),
        "first_event_alone_ms": distribution(alone),
        "api_cpu_during_fanout_pct": round(100 * api_cpu, 1),
        "clients_cpu_during_fanout_pct": round(100 * client_cpu, 1),
        **resumed,
        **fanout_latency(stack, job["job_id"], clients[len(slow) :]),
    }


async def resume_ended_streams(
    stack: Stack, job_id: str, path: str, clients: list[SseClient], slow: int
) -> dict[str, Any]:
    """Each stream the server ended with `retry:` (its client had fallen behind), resumed
    with Last-Event-ID until the terminal event: with what it got first, every stored event
    must be there once, in order. The first `slow` clients are the deliberately slow ones."""
    from image2model.keys import events_key

    stored = [eid for eid, _ in stack.redis.xrange(events_key(job_id))]
    told_to_resume, whole = [0, 0], [0, 0]
    for index, client in enumerate(clients):
        kind = 0 if index < slow else 1
        frames = list(client.frames)
        while frames[-1].event not in TERMINAL:
            told_to_resume[kind] += 1
            again = await open_stream(stack.api_port, path, last_event_id=frames[-1].id)
            await asyncio.wait_for(again.done, timeout=120)
            again.close()
            frames += again.frames
        ids = [f.id for f in frames[1:]]  # after the opening snapshot
        whole[kind] += ids == stored[stored.index(ids[0]) :]
    return {
        "slow_readers": slow,
        "slow_reader_streams_ended_to_resume": told_to_resume[0],
        "slow_readers_with_every_event_once_in_order": whole[0],
        "other_streams_ended_to_resume": told_to_resume[1],
        "other_clients_with_every_event_once_in_order": whole[1],
    }


def fanout_latency(stack: Stack, job_id: str, clients: list[SseClient]) -> dict[str, Any]:
    """Redis write → client receipt, for every live event at every client, on each client's
    first stream (a stream ended early to resume leaves the later events to its next one)."""
    from image2model.keys import events_key

    snapshot_id = clients[0].frames[0].id
    stored = [eid for eid, _ in stack.redis.xrange(events_key(job_id), min=f"({snapshot_id}")]
    live: list[list[Frame]] = [c.frames[1:] for c in clients]
    complete = sum([f.id for f in frames] == stored for frames in live)
    every = [f.received - f.written for frames in live for f in frames]
    progress = [
        f.received - f.written
        for frames in live
        for f in frames
        if f.event == "file_update" and 0 < f.json()["progress"] < 100
    ]
    terminal = [f.received - f.written for frames in live for f in frames if f.event in TERMINAL]
    per_event, slowest, unseen = {}, [], []
    for index, event_id in enumerate(stored):
        arrivals = [frames[index].received for frames in live if len(frames) > index]
        if not arrivals:  # every first stream had ended before it
            unseen.append(event_id)
            continue
        per_event[event_id] = max(arrivals) - min(arrivals)
        frame = live[0][index]
        slowest.append((max(arrivals) - frame.written, frame.event, event_id))
    return {
        "events_in_stream": len(stored),
        "first_streams_with_every_event_in_order": complete,
        "events_no_first_stream_carried": len(unseen),
        "fanout_all_events_ms": distribution(every),
        "fanout_progress_file_update_ms": distribution(progress),
        "fanout_terminal_ms": distribution(terminal),
        "slowest_events_last_client_ms": [
            (round(1000 * late, 1), name, eid) for late, name, eid in sorted(slowest)[-8:]
        ],
        "spread_first_to_last_client_ms_median": round(
            1000 * statistics.median(per_event.values()), 2
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--delay", type=float, default=4.0)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument(
        "--provider", choices=("sleepy", "local"), default="sleepy", help="local: CPU-busy"
    )
    parser.add_argument("--slow-readers", type=int, default=0, help="clients that stop reading")
    parser.add_argument("--slow-seconds", type=float, default=10.0, help="… for this long")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--worker-nice",
        type=int,
        default=0,
        help="run the worker at this niceness, as if it were on another host (2 cores here)",
    )
    parser.add_argument("--sequential", type=int, default=20, help="clients opened one by one")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    raise_open_files_limit()
    runs = []
    for run in range(args.runs):
        with deployment() as stack:
            stack.start_api()
            result = uvloop.run(fanout(stack, args))
        print(f"run {run + 1}: {result}", flush=True)
        runs.append(result)
    save(
        args.json,
        {
            "benchmark": "sse_fanout",
            "machine": machine(),
            "job": {k: getattr(args, k) for k in ("images", "delay", "steps", "slots", "provider")},
            "slow_readers": {"count": args.slow_readers, "seconds": args.slow_seconds},
            "worker_nice": args.worker_nice,
            "runs": runs,
        },
    )


if __name__ == "__main__":
    main()
