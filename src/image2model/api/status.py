"""Progress: the SSE stream, a polling snapshot and per-file progress."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from image2model.api import links
from image2model.api.deps import PrincipalDep, Services, ServicesDep, link_or_key
from image2model.api.schemas import JobProgress, JobSnapshot, progress, snapshot
from image2model.jobs.events import BEHIND_EVENT, KEEPALIVE, TIMED_OUT
from image2model.jobs.payloads import SHUTDOWN, Event, now_ms

router = APIRouter(prefix="/status", tags=["status"])
BEHIND_RETRY_MS = 500


@router.get("/tasks/{task_id}/status", response_model=JobSnapshot)
async def task_status(task_id: str, services: ServicesDep, principal: PrincipalDep) -> JobSnapshot:
    """One JSON snapshot of the job (for clients that poll)."""
    return snapshot(await services.jobs.get(task_id, principal))


@router.get("/jobs/{job_id}/progress", response_model=JobProgress)
async def job_progress(job_id: str, services: ServicesDep, principal: PrincipalDep) -> JobProgress:
    """Per-file progress of the job: `files` by file id (the replaced service's shape),
    `file_list` in upload order."""
    return progress(await services.jobs.get(job_id, principal))


@router.get(
    "/tasks/{task_id}/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def task_stream(
    task_id: str,
    request: Request,
    services: ServicesDep,
    authorization: Annotated[str | None, Header()] = None,
    last_event_id: Annotated[str | None, Header()] = None,
    end_after: Annotated[int | None, Query(alias="timeout", ge=1, le=86_400)] = None,
) -> StreamingResponse:
    """Server-Sent Events: a snapshot, then every change, then one terminal event.

    With `?timeout=` (seconds), a stream still open then ends with a `connection_timeout`
    event; reconnecting with Last-Event-ID resumes it."""
    anonymous = services.settings.ANONYMOUS_STREAMS
    path = links.stream_path(task_id)
    viewer = link_or_key(services, request, task_id, path, authorization, anonymous=anonymous)
    await services.jobs.get(task_id, viewer)
    frames = _frames(services, task_id, last_event_id, end_after)
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(frames, media_type="text/event-stream", headers=headers)


async def _frames(
    services: Services, job_id: str, last_event_id: str | None, end_after: int | None
) -> AsyncIterator[str]:
    """The stream's events as SSE frames: the route's only part in it."""
    keepalive = services.settings.SSE_KEEPALIVE_SECONDS
    until = None if end_after is None else asyncio.get_running_loop().time() + end_after
    events = services.hub.stream(job_id, last_event_id, keepalive=keepalive, until=until)
    async for event in events:
        if event is KEEPALIVE:
            yield ": keep-alive\n\n"
        elif event is TIMED_OUT:  # no id: a reconnect resumes from its cursor
            yield _timeout_frame(job_id, end_after or 0)
        elif event.event == SHUTDOWN.event:  # no id: a reconnect resumes from its cursor
            yield _shutdown_frame(event)
        elif event.event == BEHIND_EVENT:  # the client resumes from Redis, not a buffer
            yield f"retry: {BEHIND_RETRY_MS}\n\n"
        elif event.opening:
            yield _frame(event.id, event.event, event.data)
        else:
            yield _render(services, event)


def _render(services: Services, event: Event) -> str:
    """The frame of a stored event, built once per API process however many listen.

    A completed job's frame carries fresh signed links, so it is built for each listener.
    """
    if event.event == "task_completed":
        return _frame(event.id, event.event, _enrich(services, event))
    return services.hub.frame(event, lambda e: _frame(e.id, e.event, e.data))


def _enrich(services: Services, event: Event) -> dict[str, Any]:
    """Terminal results carry links to this server, signed so a browser can follow them."""
    data = event.data
    if event.event == "task_completed" and isinstance(data.get("result"), dict):
        job_id = data["job_id"]
        ttl = services.settings.DOWNLOAD_TOKEN_TTL
        result = {
            **data["result"],
            "download_url": services.links.zip(job_id, ttl),
            "files_url": services.links.files(job_id),
        }
        return {**data, "result": result}
    return data


def _frame(event_id: str, event: str, data: dict[str, Any]) -> str:
    return f"id: {event_id}\nevent: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _timeout_frame(job_id: str, seconds: int) -> str:
    data = {
        "status": "timeout",
        "message": f"Connection timeout after {seconds} seconds",
        "job_id": job_id,
        "task_id": job_id,
        "timestamp": now_ms(),
    }
    return f"event: {TIMED_OUT.event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _shutdown_frame(event: Event, retry_ms: int = 2000) -> str:
    data = json.dumps(event.data, separators=(",", ":"))
    return f"retry: {retry_ms}\nevent: {event.event}\ndata: {data}\n\n"
