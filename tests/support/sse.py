"""Reading Server-Sent Events from a real HTTP response."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class SseEvent:
    id: str | None
    event: str
    data: dict[str, Any]


def iter_events(response: httpx.Response) -> Iterator[SseEvent | str]:
    """Events, and comments as plain strings (keep-alives)."""
    event_id, name, data = None, "message", []
    for line in response.iter_lines():
        if line.startswith(":"):
            yield line
        elif line.startswith("id:"):
            event_id = line[3:].strip()
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif line == "" and data:
            yield SseEvent(event_id, name, json.loads("\n".join(data)))
            event_id, name, data = None, "message", []


TERMINAL = {"task_completed", "task_failed", "task_cancelled"}


def read_until_terminal(
    client: httpx.Client, url: str, headers: dict[str, str] | None = None, limit: int = 10_000
) -> list[SseEvent]:
    events: list[SseEvent] = []
    with client.stream("GET", url, headers=headers or {}) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for event in iter_events(response):
            if isinstance(event, SseEvent):
                events.append(event)
                if event.event in TERMINAL or len(events) >= limit:
                    break
    return events
