"""Child processes that never outlive the parent, stopped with an escalating signal ladder."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1

# (signal, seconds to wait for the exit it asks for); SIGKILL always closes the ladder.
StopLadder = Sequence[tuple[signal.Signals, float]]


class SpawningThread(threading.Thread):
    """A thread that may start children: it must keep running until each of them has exited,
    since the kernel sends a child's parent-death signal when the thread that forked it ends."""


@dataclass
class Child:
    """One supervised child process."""

    name: str
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    def exit_code(self) -> int | None:
        """None while the child runs."""
        return self.process.poll()

    def stop(self, ladder: StopLadder) -> int:
        """Send each signal of the ladder until the child exits; SIGKILL if it never does."""
        for sig, grace in ladder:
            if self.process.poll() is not None:
                break
            log.info(
                "runtime.child.stopping name=%s pid=%d signal=%s", self.name, self.pid, sig.name
            )
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                continue
        if self.process.poll() is None:
            log.warning("runtime.child.killed name=%s pid=%d", self.name, self.pid)
            self.process.kill()
        return self.process.wait()


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    death_signal: signal.Signals,
    env: Mapping[str, str] | None = None,
    stdout: IO[bytes] | int | None = None,
    pass_fds: Sequence[int] = (),
) -> Child:
    """Start `argv` in its own process group, with `death_signal` sent to it if we die.

    Its own group: a terminal's Ctrl-C reaches only this process, which then stops the
    children in order (API, worker, Redis) instead of all at once.
    """
    current = threading.current_thread()
    if current is not threading.main_thread() and not isinstance(current, SpawningThread):
        # The kernel sends the parent-death signal when the *thread* that forked exits.
        raise RuntimeError("child processes must be started from the main thread")
    process = subprocess.Popen(
        list(argv),
        env=dict(env) if env is not None else None,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        pass_fds=tuple(pass_fds),
        preexec_fn=_child_setup(death_signal),
    )
    log.info("runtime.child.started name=%s pid=%d", name, process.pid)
    return Child(name=name, process=process)


def _child_setup(death_signal: signal.Signals) -> Callable[[], None]:
    """The function run in the child between fork and exec (only async-signal-safe calls)."""
    parent = os.getpid()
    prctl = _load_prctl()

    def setup() -> None:
        os.setpgid(0, 0)
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, int(death_signal))
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), death_signal)

    return setup


def _load_prctl() -> Callable[[int, int], int] | None:
    """libc's prctl, loaded before fork; None off Linux (no parent-death signal there)."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    prctl: Callable[[int, int], int] = libc.prctl
    return prctl
