"""Live progress for many listeners: one Redis reader per watched job, fanned out in memory,
and each listener's stream of events: where to start (a resume, or a snapshot), the stored
history, then what the reader hands over."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable

from redis.exceptions import RedisError

from image2model.jobs.payloads import SHUTDOWN, TERMINAL_EVENTS, Event, task_progress
from image2model.jobs.store import JobStore

log = logging.getLogger(__name__)

FRAME_CACHE_SIZE = 4096
HISTORY_PAGE = 500
"""Stored events read per Redis call while a stream catches up."""
BEHIND_EVENT = "stream_behind"
"""Put into a listener's full queue in place of what it had not read: its client reads more
slowly than the job changes. The stream ends; the client resumes from its Last-Event-ID,
which Redis still holds, so nothing is lost and a slow client holds no growing buffer."""
BEHIND = Event(id="", event=BEHIND_EVENT, data={})
KEEPALIVE = Event(id="", event="keepalive", data={})
"""Yielded by `EventHub.stream` when the job was silent for its keep-alive interval."""
TIMED_OUT = Event(id="", event="connection_timeout", data={})
"""Yielded, last, when a stream reaches the end its listener asked for (`until`)."""


def id_key(event_id: str) -> tuple[int, int]:
    millis, _, seq = event_id.partition("-")
    return int(millis), int(seq or 0)


def is_event_id(value: str) -> bool:
    millis, sep, seq = value.partition("-")
    return bool(sep) and millis.isdigit() and seq.isdigit() and len(value) < 40


class EventHub:
    """Shares one blocking XREAD per job among all of its SSE listeners in this process."""

    def __init__(self, store: JobStore, *, block_ms: int = 10_000, buffer: int = 256) -> None:
        self.store = store
        self.block_ms = block_ms
        self.buffer = buffer
        self._listeners: dict[str, set[asyncio.Queue[Event]]] = {}
        self._frames: OrderedDict[str, str] = OrderedDict()
        self._readers: dict[str, asyncio.Task[None]] = {}
        self._closing = False

    @contextlib.asynccontextmanager
    async def listen(self, job_id: str, after: str) -> AsyncIterator[asyncio.Queue[Event]]:
        """A queue of the job's events from about now on. The caller reads what came after
        `after` from the store once this is entered: together they have no gap (an event
        in both comes twice; compare ids)."""
        queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=self.buffer)
        listeners = self._listeners.setdefault(job_id, set())
        listeners.add(queue)
        if self._closing:
            _deliver(queue, SHUTDOWN)
        if job_id not in self._readers:
            # from the newest event: the history is the caller's to read, and would not fit
            # a bounded queue (a resumed stream can be thousands of events behind)
            try:
                start = await self.store.last_event_id(job_id) or after
            except (RedisError, OSError):
                start = after
            if job_id not in self._readers:
                self._readers[job_id] = asyncio.create_task(self._read(job_id, start))
        try:
            yield queue
        finally:
            listeners.discard(queue)
            if not listeners:
                self._listeners.pop(job_id, None)
                reader = self._readers.pop(job_id, None)
                if reader:
                    reader.cancel()

    async def _read(self, job_id: str, cursor: str) -> None:
        while self._listeners.get(job_id):
            try:
                batches = await self.store.wait_events({job_id: cursor}, self.block_ms)
            except (RedisError, OSError) as error:
                log.warning(
                    "events.read.failed job_id=%s error=%s", job_id, error, extra={"job_id": job_id}
                )
                await asyncio.sleep(1.0)
                continue
            for _, events in batches:
                for event in events:
                    cursor = event.id
                    for queue in self._listeners.get(job_id, ()):
                        _deliver(queue, event)

    async def stream(
        self,
        job_id: str,
        last_event_id: str | None,
        *,
        keepalive: float,
        until: float | None = None,
    ) -> AsyncIterator[Event]:
        """One listener's events, in order and once each, ending after a terminal one.

        From `last_event_id` when Redis still holds it; else first a `task_progress` of the
        job as it is now (`Event.opening`: built for this listener, under the id of the
        last event it reflects) and, for a job that has ended, its terminal event. Between
        events: KEEPALIVE after `keepalive` seconds of silence; SHUTDOWN (the server stops)
        or BEHIND (the listener fell behind) end the stream, to be resumed from its cursor;
        so does TIMED_OUT, once the event loop's clock passes `until`.
        """
        clock = asyncio.get_running_loop().time
        cursor = last_event_id if await self._resumable(job_id, last_event_id) else None
        if cursor is None:
            state = await self.store.snapshot(job_id)
            if state is None:
                return
            job, cursor, terminal_id = state
            opening = Event(cursor, "task_progress", task_progress(job), opening=True)
            del job, state  # an open stream keeps only its cursor, not the job
            yield opening
            del opening
            if terminal_id:
                terminal = await self.store.event(job_id, terminal_id)
                if terminal:
                    yield terminal
                return
        async with self.listen(job_id, cursor) as queue:
            # what came after the cursor, from the store; then what the reader hands over
            async for event in self._history(job_id, cursor):
                cursor = event.id
                yield event
                if event.event in TERMINAL_EVENTS:
                    return
            while True:
                wait = keepalive if until is None else min(keepalive, until - clock())
                if wait <= 0:
                    yield TIMED_OUT
                    return
                try:
                    event = await asyncio.wait_for(queue.get(), wait)
                except TimeoutError:
                    if until is None or clock() < until:
                        yield KEEPALIVE
                    continue
                if event.event in (SHUTDOWN.event, BEHIND_EVENT):
                    yield event
                    return
                if id_key(event.id) <= id_key(cursor):
                    continue
                cursor = event.id
                yield event
                if event.event in TERMINAL_EVENTS:
                    return

    async def _resumable(self, job_id: str, last_event_id: str | None) -> bool:
        """A Last-Event-ID to resume from: well formed and not trimmed from the job's events."""
        if not last_event_id or not is_event_id(last_event_id):
            return False
        first = await self.store.first_event_id(job_id)
        return first is not None and id_key(first) <= id_key(last_event_id)

    async def _history(self, job_id: str, cursor: str) -> AsyncIterator[Event]:
        """The job's stored events after `cursor`, a page at a time."""
        while True:
            page = await self.store.events_after(job_id, cursor, count=HISTORY_PAGE)
            for event in page:
                yield event
            if len(page) < HISTORY_PAGE:
                return
            cursor = page[-1].id

    def frame(self, event: Event, render: Callable[[Event], str]) -> str:
        """`render(event)`, remembered for the most recent events (ids are unique per job)."""
        key = f"{event.data.get('job_id')}/{event.id}"
        frame = self._frames.get(key)
        if frame is None:
            frame = self._frames[key] = render(event)
            if len(self._frames) > FRAME_CACHE_SIZE:
                self._frames.popitem(last=False)
        return frame

    @property
    def listener_count(self) -> int:
        return sum(len(listeners) for listeners in self._listeners.values())

    def announce_shutdown(self) -> None:
        """End every open stream (and any opened from now on) with a final shutdown event."""
        self._closing = True
        for listeners in self._listeners.values():
            for queue in listeners:
                _deliver(queue, SHUTDOWN)

    async def close(self) -> None:
        for reader in self._readers.values():
            reader.cancel()
        self._readers.clear()


def _deliver(queue: asyncio.Queue[Event], event: Event) -> None:
    """Queue `event` for one listener. A full queue means its client reads more slowly than
    the job changes: what it had not read is dropped for `BEHIND` (or `SHUTDOWN`, when the
    server stops), which ends its stream."""
    if queue.full():
        while not queue.empty():
            queue.get_nowait()
        event = SHUTDOWN if event is SHUTDOWN else BEHIND
    queue.put_nowait(event)
