"""What a log line is about: the request that caused it and the job it concerns."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("image2model_request_id", default=None)
job_id: ContextVar[str | None] = ContextVar("image2model_job_id", default=None)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def valid_request_id(value: str | None) -> str | None:
    """A client's request id if it is safe to echo and log, else None."""
    if value and _REQUEST_ID.match(value):
        return value
    return None


def new_request_id() -> str:
    return uuid.uuid4().hex


def bind(*, request: str | None, job: str | None) -> None:
    """Make the following lines of this thread or task about `request` and `job`."""
    request_id.set(request)
    job_id.set(job)


@contextmanager
def bound(*, request: str | None, job: str | None) -> Iterator[None]:
    """`bind` for a block, restoring what was there before."""
    tokens = request_id.set(request), job_id.set(job)
    try:
        yield
    finally:
        request_id.reset(tokens[0])
        job_id.reset(tokens[1])
