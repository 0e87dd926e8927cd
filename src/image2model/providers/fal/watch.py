"""Waiting for a fal request without polling: its status stream, read on a thread of its own.

fal sends a request's statuses as server-sent events (`…/status/stream`): one on each change,
a comment every 15 s, and the stream ends after COMPLETED, so completion is seen the moment
fal reports it. The stream is read on its own thread so the item stays responsive to a
cancel and to its deadline while no event comes.
"""

from __future__ import annotations

import queue
import threading
from typing import Final

import fal_client

from image2model.providers.fal.queue import FalQueue


class Ended:
    """The stream closed or broke before COMPLETED (fal restarted, a proxy cut it, a silence
    longer than FAL_REQUEST_TIMEOUT): open it again."""


ENDED: Final = Ended()


class StatusWatch:
    """The statuses of one request, as fal streams them; `close()` stops reading."""

    def __init__(self, fal: FalQueue, handle: fal_client.SyncRequestHandle) -> None:
        self.fal, self.handle = fal, handle
        self._events: queue.Queue[fal_client.Status | Ended | Exception] = queue.Queue()
        self._opened = False
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._read, name="fal-status-stream", daemon=True)
        self._thread.start()

    def get(self, timeout: float) -> fal_client.Status | Ended | None:
        """The next status, `ENDED`, or None if nothing came within `timeout` seconds; a
        failure to open the stream (HTTP error, no connection) is raised here."""
        try:
            event = self._events.get(timeout=timeout)
        except queue.Empty:
            return None
        if isinstance(event, Exception):
            raise event
        return event

    def close(self) -> None:
        """Stop listening. The reading thread owns the connection (TLS objects are not for
        two threads) and drops it at the stream's next line: fal ends a stream after
        COMPLETED, which a cancel brings, and sends a comment every 15 s."""
        self._closed.set()

    def _read(self) -> None:
        try:
            with self.fal.status_stream(self.handle) as source:
                self._opened = True
                for event in source.iter_sse():
                    if self._closed.is_set():
                        return
                    self._events.put(self.handle._parse_status(event.json()))
            self._events.put(ENDED)
        except Exception as error:
            if self._closed.is_set():
                return
            # once open, a broken stream is simply opened again; a failure to open it is
            # the waiting item's to classify (retry, or give up)
            self._events.put(ENDED if self._opened else error)

    def __enter__(self) -> StatusWatch:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
