"""A provider context for running a provider directly, without the job engine."""

from __future__ import annotations

from typing import Any


class RecordingContext:
    """Records progress; cancels once `cancel_after` reports have arrived (if given)."""

    def __init__(self, cancel_after: int | None = None) -> None:
        self.reports: list[tuple[float, str]] = []
        self.cancel_after = cancel_after

    def report(self, progress: float, message: str) -> None:
        self.reports.append((progress, message))

    def load_state(self) -> dict[str, Any]:
        return {}

    def save_state(self, state: dict[str, Any]) -> None:
        pass

    def is_cancelled(self) -> bool:
        return self.cancel_after is not None and len(self.reports) >= self.cancel_after
