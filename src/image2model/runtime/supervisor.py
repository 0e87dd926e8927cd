"""Keeping embedded mode's children alive: a crashed one is restarted with backoff.

The supervisor thread watches the private Redis, the worker and beat. A child that exits
while the service runs is started again, after a pause that grows while it keeps exiting
soon after each start. A child that ran for a while before it died (the OOM killer) is
simply restarted; one that exits `GIVE_UP_STREAK` times in a row within `STARTUP_SECONDS`
of being started cannot start at all, and stops the service with a clear message (the rule
supervisord calls `startsecs`/`startretries`). Restarts happen on the supervisor's own
thread, which stays alive until every child has been stopped (see `SpawningThread`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from image2model.runtime.children import Child, SpawningThread, StopLadder

log = logging.getLogger(__name__)

BACKOFF = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
"""Seconds before the n-th restart in a streak of quick exits (the last one repeats)."""
STARTUP_SECONDS = 10.0
"""A child that exits sooner than this after its start failed to start."""
GIVE_UP_STREAK = 5
WATCH_INTERVAL = 0.2


@dataclass
class Slot:
    """One supervised child: how to start it again and how to stop it."""

    name: str
    child: Child
    restart: Callable[[], Child]
    ladder: StopLadder
    tend: Callable[[], None] | None = None
    """Called on every watch round while the child runs (embedded Redis: back to durable)."""
    restarts: int = 0
    started_at: float = field(default_factory=time.monotonic)
    streak: int = 0
    """Exits in a row, each within `STARTUP_SECONDS` of its start (the first may be later)."""
    due: float | None = None
    """When the pending restart is due (monotonic seconds); None while the child runs."""

    def stop(self) -> int:
        """Stop the current child (at once if it has already exited); its exit code."""
        return self.child.stop(self.ladder)


class Supervisor(SpawningThread):
    """Restarts crashed children until halted; `gave_up` names one that crashed too often."""

    def __init__(
        self,
        on_give_up: Callable[[Slot], None],
        *,
        backoff: Sequence[float] = BACKOFF,
        startup: float = STARTUP_SECONDS,
        limit: int = GIVE_UP_STREAK,
    ) -> None:
        super().__init__(name="image2model-supervisor", daemon=True)
        self.slots: list[Slot] = []
        self.on_give_up = on_give_up
        self.backoff, self.startup, self.limit = tuple(backoff), startup, limit
        self.gave_up: Slot | None = None
        self._halted = threading.Event()
        self._finished = threading.Event()
        self._busy = threading.Lock()

    def watch(self, slot: Slot) -> Slot:
        """Look after `slot` from `start()` on."""
        self.slots.append(slot)
        return slot

    def restart_counts(self) -> dict[str, int]:
        return {slot.name: slot.restarts for slot in self.slots}

    def run(self) -> None:
        while not self._halted.wait(WATCH_INTERVAL):
            with self._busy:
                if self._halted.is_set():
                    break
                for slot in self.slots:
                    self._look_after(slot)
        # Children started here must outlive their stop: the thread ends only when told.
        self._finished.wait()

    def halt(self) -> None:
        """No more restarts (a restart under way finishes first); the children keep running."""
        self._halted.set()
        with self._busy:
            pass

    def close(self) -> None:
        """Let the thread end, once every child it may have started has been stopped."""
        self.halt()
        self._finished.set()
        if self.is_alive():
            self.join()

    def _look_after(self, slot: Slot) -> None:
        now = time.monotonic()
        if slot.due is None:
            code = slot.child.exit_code()
            if code is None and slot.tend is not None:
                slot.tend()
            if code is None or self.gave_up is not None:
                return
            self._crashed(slot, code, now)
        elif now >= slot.due:
            self._restart(slot)

    def _crashed(self, slot: Slot, code: int, now: float) -> None:
        quick = now - slot.started_at < self.startup
        slot.streak = slot.streak + 1 if quick else 1
        if quick and slot.streak >= self.limit:
            log.error(
                "runtime.child.gave_up name=%s code=%s quick_exits=%d startup_s=%.0f",
                slot.name,
                code,
                slot.streak,
                self.startup,
            )
            self.gave_up = slot
            self.on_give_up(slot)
            return
        delay = self.backoff[min(slot.streak - 1, len(self.backoff) - 1)]
        log.error("runtime.child.exited name=%s code=%s restart_in_s=%.1f", slot.name, code, delay)
        slot.due = now + delay

    def _restart(self, slot: Slot) -> None:
        slot.started_at = time.monotonic()
        try:
            slot.child = slot.restart()
        except Exception as error:  # a failed start is one more crash, with its own backoff
            log.error("runtime.child.restart_failed name=%s error=%s", slot.name, error)
            slot.due = None
            self._crashed(slot, -1, time.monotonic())
            return
        slot.due = None
        slot.restarts += 1
        log.warning(
            "runtime.child.restarted name=%s pid=%d restarts=%d",
            slot.name,
            slot.child.pid,
            slot.restarts,
        )
