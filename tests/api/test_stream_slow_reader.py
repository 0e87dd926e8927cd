"""A client that reads its stream slowly: the server holds a bounded buffer for it, ends the
stream when it falls further behind, and the client resumes from Redis with no gap."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid

import redis.asyncio as aioredis

from image2model import keys
from image2model.jobs.events import BEHIND_EVENT, EventHub
from image2model.jobs.format import event_fields
from image2model.jobs.store import JobStore
from tests.conftest import USER_KEY, Stack, image_bytes, redis_url
from tests.jobs.test_batch_e2e import upload
from tests.support.sse import read_until_terminal


async def test_a_listener_that_falls_behind_holds_at_most_its_buffer() -> None:
    client = aioredis.Redis.from_url(redis_url(), decode_responses=True)
    job_id = str(uuid.uuid4())
    stream = keys.events_key(job_id)
    hub = EventHub(JobStore(client, ttl=60), block_ms=100, buffer=8)
    try:
        async with hub.listen(job_id, "0-0") as queue:
            for step in range(200):  # nobody reads the queue meanwhile
                await client.xadd(stream, event_fields("file_update", {"step": step}))
            await asyncio.sleep(0.5)
            assert queue.qsize() <= 8
            assert queue.get_nowait().event == BEHIND_EVENT
    finally:
        await client.delete(stream)
        await hub.close()
        await client.aclose()


def raw_stream(stack: Stack, path: str) -> socket.socket:
    """An SSE request on a socket with a small receive window, not read until told."""
    host, port = stack.base_url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.connect((host, int(port)))
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {USER_KEY}\r\n"
        "Accept: text/event-stream\r\n\r\n"
    )
    sock.sendall(request.encode())
    return sock


def read_all(sock: socket.socket) -> str:
    """Everything the server sent, until it closes or goes quiet for a second at the end."""
    sock.settimeout(10)
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            break
        chunks.append(chunk)
        if b"event: task_completed" in chunk or b"retry: " in chunk:
            sock.settimeout(1)  # the stream ends right after
    return b"".join(chunks).decode()


def test_a_slow_client_is_told_to_resume_and_misses_nothing(make_stack: callable) -> None:  # type: ignore[valid-type]
    stack: Stack = make_stack(SSE_LISTENER_BUFFER="4")
    stack.start_worker(concurrency=8)  # 1,600 progress events in about 4 s
    images = [(f"m{i}.png", image_bytes()) for i in range(16)]
    job = upload(stack, images, delay="2", steps="100")
    path = f"/api/v1/status/tasks/{job['job_id']}/stream"
    sock = raw_stream(stack, path)
    time.sleep(8)  # the job runs to its end while the client reads nothing
    try:
        text = read_all(sock)
    finally:
        sock.close()
    ids = [line[4:] for line in text.splitlines() if line.startswith("id: ")]
    assert "retry: " in text and "event: task_completed" not in text, text[-300:]

    with stack.client() as client:
        rest = read_until_terminal(client, path, headers={"Last-Event-ID": ids[-1]})
    assert rest[-1].event == "task_completed"
    stored = [eid for eid, _ in stack.redis.xrange(keys.events_key(job["job_id"]))]
    received = ids[1:] + [e.id for e in rest]  # the first frame is the opening snapshot
    assert received == stored[stored.index(ids[1]) :], "every event once, in order"
