"""The data of every progress event, one model each: the SSE contract (DESIGN §4).

The Lua transition in `jobs/lua.py` writes these payloads atomically with the change they
report; `tests/jobs/test_event_stream.py` holds its output to these models field by field.
Python builds the `task_progress` payloads that open a stream from `task_progress(job)` below.

Every job event also carries the fields clients of the service this one replaces read:
`task_id` (the job id again) and `timestamp` (milliseconds since the epoch, when the event
was written); `task_completed` also `progress` (100) and a `message`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from image2model.jobs.models import ItemError, ItemStatus, Job, JobStatus


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FileState(_Payload):
    file_id: str
    filename: str
    status: ItemStatus
    progress: int


class Summary(_Payload):
    total_files: int
    successful_files: int
    failed_files: int
    cancelled_files: int


class _JobEvent(_Payload):
    job_id: str
    task_id: str
    timestamp: int
    """Milliseconds since the epoch."""


class TaskProgress(_JobEvent):
    """`task_progress`: the whole job after every change (and first on every stream)."""

    status: JobStatus
    progress: int
    current: int
    total: int
    total_files: int
    message: str
    files: list[FileState]


class FileUpdate(_JobEvent):
    """`file_update`: one item changed."""

    file_id: str
    filename: str
    status: ItemStatus
    progress: int
    message: str
    error: ItemError | None


class JobResult(_Payload):
    job_id: str
    status: JobStatus
    files: list[FileState]


class TaskCompleted(_JobEvent):
    """`task_completed`: the job ended with at least one model (`completed` or `partial`)."""

    status: JobStatus
    progress: int
    message: str
    summary: Summary
    result: JobResult


class TaskFailed(_JobEvent):
    """`task_failed`: every item failed."""

    status: JobStatus
    summary: Summary
    error: str


class TaskCancelled(_JobEvent):
    """`task_cancelled`: the job ended with cancelled items."""

    status: JobStatus
    summary: Summary
    message: str


class ServerShutdown(_Payload):
    """`server_shutdown`: this server is stopping; the stream ends and the client reconnects."""

    message: str


EVENTS: dict[str, type[_Payload]] = {
    "task_progress": TaskProgress,
    "file_update": FileUpdate,
    "task_completed": TaskCompleted,
    "task_failed": TaskFailed,
    "task_cancelled": TaskCancelled,
    "server_shutdown": ServerShutdown,
}
TERMINAL_EVENTS = frozenset({"task_completed", "task_failed", "task_cancelled"})
SHUTDOWN_EVENT = "server_shutdown"


@dataclass(frozen=True)
class Event:
    """One progress event: its stream id (the SSE id; none for shutdown), name and data."""

    id: str
    event: str
    data: dict[str, Any]
    opening: bool = False
    """A stream's first `task_progress`, built for its listener rather than stored."""


SHUTDOWN = Event(
    id="",
    event=SHUTDOWN_EVENT,
    data=ServerShutdown(message="The server is restarting; reconnect shortly").model_dump(),
)


def now_ms() -> int:
    return int(time.time() * 1000)


def processed_message(done: int, total: int) -> str:
    return f"{done} of {total} files processed"


def task_progress(job: Job, message: str | None = None) -> dict[str, Any]:
    """The `task_progress` data for `job` as it is now."""
    done = sum(1 for item in job.items if item.status.is_terminal)
    payload = TaskProgress(
        job_id=job.job_id,
        task_id=job.job_id,
        timestamp=now_ms(),
        status=job.status,
        progress=job.progress,
        current=done,
        total=job.total,
        total_files=job.total,
        message=message or processed_message(done, job.total),
        files=[
            FileState(
                file_id=i.file_id,
                filename=i.filename,
                status=i.status,
                progress=i.progress,
            )
            for i in job.items
        ],
    )
    return payload.model_dump(mode="json")
