"""The named changes an item goes through, each a typed patch for `jobs/lua.py` to apply.

    queued ─start→ processing ─report→ processing ─complete|fail|cancel→ (terminal)

`save_state` records a provider's resumable state (e.g. a paid request id) on the way. The
script applies a patch only while it moves the item forward, so every transition is safe to
send twice, late or concurrently.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from image2model.jobs.models import ItemError, ItemStatus, ModelStats, Output


class Patch(BaseModel):
    """Fields to set on one item; unset ones are left alone."""

    status: ItemStatus | None = None
    progress: int | None = None
    message: str | None = None
    error: ItemError | None = None
    provider_state: dict[str, Any] | None = None
    model_file: str | None = None
    preview_file: str | None = None
    model_size: int | None = None
    preview_size: int | None = None
    stats: ModelStats | None = None
    outputs: list[Output] | None = None
    starts_attempt: bool = Field(default=False, exclude=True)
    """Count an attempt and stamp `started_at` (only `start` does)."""

    def to_json(self) -> str:
        return self.model_dump_json(exclude_none=True)


def start() -> Patch:
    return Patch(status=ItemStatus.PROCESSING, message="Starting", starts_attempt=True)


def report(progress: int, message: str) -> Patch:
    return Patch(progress=progress, message=message)


def save_state(state: dict[str, Any]) -> Patch:
    return Patch(provider_state=state)


def complete(
    *,
    model_file: str,
    preview_file: str,
    model_size: int,
    preview_size: int,
    stats: ModelStats,
    outputs: list[Output] | None = None,
) -> Patch:
    return Patch(
        status=ItemStatus.COMPLETED,
        message=f"Model ready ({stats.faces} faces)",
        model_file=model_file,
        preview_file=preview_file,
        model_size=model_size,
        preview_size=preview_size,
        stats=stats,
        outputs=outputs or None,
    )


def fail(code: str, message: str) -> Patch:
    return Patch(
        status=ItemStatus.FAILED, message=message, error=ItemError(code=code, message=message)
    )


def cancel() -> Patch:
    return Patch(status=ItemStatus.CANCELLED, message="Cancelled")
