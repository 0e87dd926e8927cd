"""Progress: the SSE stream, a polling snapshot and per-file progress."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse

from image2model.api import links
from image2model.api.deps import PrincipalDep, Services, ServicesDep, link_or_key
from image2model.api.schemas import JobSnapshot, progress_event, snapshot
from image2model.jobs.events import (
    BEHIND_EVENT,
    SHUTDOWN_EVENT,
    TERMINAL_EVENTS,
    id_key,
    is_event_id,
)
from image2model.jobs.store import Event

router = APIRouter(prefix="/status", tags=["status"])
BEHIND_RETRY_MS = 500
HISTORY_PAGE = 500


@router.get("/tasks/{task_id}/status", response_model=JobSnapshot)
async def task_status(task_id: str, services: ServicesDep, principal: PrincipalDep) -> JobSnapshot:
    """One JSON snapshot of the job (for clients that poll)."""
    return snapshot(await services.jobs.get(task_id, principal))


@router.get("/jobs/{job_id}/progress", response_model=JobSnapshot)
async def job_progress(job_id: str, services: ServicesDep, principal: PrincipalDep) -> JobSnapshot:
    """Per-file progress of the job."""
    return snapshot(await services.jobs.get(job_id, principal))


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
) -> StreamingResponse:
    """Server-Sent Events: a snapshot, then every change, then one terminal event."""
    anonymous = services.settings.ANONYMOUS_STREAMS
    path = links.stream_path(task_id)
    viewer = link_or_key(services, request, path, authorization, anonymous=anonymous)
    await services.jobs.get(task_id, viewer)
    frames = _frames(services, task_id, last_event_id)
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(frames, media_type="text/event-stream", headers=headers)


async def _frames(services: Services, job_id: str, last_event_id: str | None) -> AsyncIterator[str]:
    store, keepalive = services.store, services.settings.SSE_KEEPALIVE_SECONDS
    cursor = (
        last_event_id
        if last_event_id and await _resumable(services, job_id, last_event_id)
        else None
    )
    if cursor is None:
        opening = await _snapshot_frame(services, job_id)
        if opening is None:
            return
        frame, cursor, terminal_id = opening
        del opening
        yield frame
        del frame  # an open stream keeps only its cursor
        if terminal_id:
            terminal = await store.event(job_id, terminal_id)
            if terminal:
                yield _render(services, terminal)
            return
    async with services.hub.listen(job_id, cursor) as queue:
        # what came after the cursor, from the store; then what the hub hands over
        async for event in _history(services, job_id, cursor):
            cursor = event.id
            yield _render(services, event)
            if event.event in TERMINAL_EVENTS:
                return
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), keepalive)
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            if event.event == SHUTDOWN_EVENT:  # no id: a reconnect resumes from cursor
                yield _shutdown_frame(event)
                return
            if event.event == BEHIND_EVENT:  # the client resumes from Redis, not a buffer
                yield f"retry: {BEHIND_RETRY_MS}\n\n"
                return
            if id_key(event.id) <= id_key(cursor):
                continue
            cursor = event.id
            yield _render(services, event)
            if event.event in TERMINAL_EVENTS:
                return


async def _snapshot_frame(services: Services, job_id: str) -> tuple[str, str, str | None] | None:
    """The stream's opening frame, its event id and the job's terminal event id, if any.

    Only the rendered frame outlives this call: a stream is open for as long as its job runs,
    and the parsed job document is far larger than its frame.
    """
    state = await services.store.snapshot(job_id)
    if state is None:
        return None
    job, cursor, terminal_id = state
    return _frame(cursor, "task_progress", progress_event(job)), cursor, terminal_id


async def _history(services: Services, job_id: str, cursor: str) -> AsyncIterator[Event]:
    """The job's stored events after `cursor`, a page at a time."""
    while True:
        page = await services.store.events_after(job_id, cursor, count=HISTORY_PAGE)
        for event in page:
            yield event
        if len(page) < HISTORY_PAGE:
            return
        cursor = page[-1].id


async def _resumable(services: Services, job_id: str, last_event_id: str) -> bool:
    """A Last-Event-ID we can resume from: well formed and not trimmed from the stream."""
    if not is_event_id(last_event_id):
        return False
    first = await services.store.first_event_id(job_id)
    return first is not None and id_key(first) <= id_key(last_event_id)


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
            "download_url": links.signed_zip(services.signer, job_id, ttl),
            "files_url": f"{links.PREFIX}/download/{job_id}/all",
        }
        return {**data, "result": result}
    return data


def _frame(event_id: str, event: str, data: dict[str, Any]) -> str:
    return f"id: {event_id}\nevent: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _shutdown_frame(event: Event, retry_ms: int = 2000) -> str:
    data = json.dumps(event.data, separators=(",", ":"))
    return f"retry: {retry_ms}\nevent: {event.event}\ndata: {data}\n\n"
