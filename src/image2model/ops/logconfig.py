"""Structured logs: one JSON object per line, to stdout and to a rotating file per process type.

Every process of a deployment logs the same way: the API to `api.log`, workers to
`worker.log`, the scheduler to `beat.log`, all under `LOG_DIR`. Each line carries the
`request_id` and `job_id` it is about (from `ops.context`), and secrets are masked before a
line leaves the process.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import logging
import logging.handlers
import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from image2model.config import Settings
from image2model.errors import is_storage_full
from image2model.ops import context

LOG_TYPES: dict[str, str] = {
    "api": "API process: one line per HTTP request, plus application events",
    "worker": "Celery workers: tasks, items and jobs",
    "beat": "maintenance scheduler",
}
QUIETED = ("celery.worker.strategy", "httpx")
"""Celery's "Task … received" lines come from the worker's main process before any task
context exists, so they could not carry the job's request id; the task's own lines and
Celery's "succeeded"/"failed" line (which do) say the same and more. httpx writes a line
per HTTP request (twice through fal-client's transport): a fal item's own `fal.*` lines say
what matters, and its failures are logged as such."""
REDACTED = "[REDACTED]"
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"',;]+")
_OURS = "_image2model_handler"
_LINE = "_image2model_line"
REOPEN_CHECK_SECONDS = 1.0
"""How often a writer looks whether another process rotated its file (a stat per line was
a quarter of a small request's cost)."""


def log_path(log_dir: Path, log_type: str) -> Path:
    """The active file of a log type (rotated copies add `.1` … `.N`)."""
    if log_type not in LOG_TYPES:
        raise ValueError(f"unknown log type {log_type!r}")
    return log_dir / f"{log_type}.log"


class ContextFilter(logging.Filter):
    """Stamps each record with the request and job it is about (explicit `extra` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = context.request_id.get()
        if getattr(record, "job_id", None) is None:
            record.job_id = context.job_id.get()
        return True


class JsonLines(JsonFormatter):
    """`{"timestamp", "level", "logger", "message", …extra}` with every known secret masked."""

    def __init__(self, log_type: str, secrets: list[str]) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s %(process)d",
            rename_fields={"levelname": "level", "name": "logger", "process": "pid"},
            static_fields={"log_type": log_type},
            timestamp=True,
        )
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def process_log_data(self, log_data: dict[str, Any]) -> dict[str, Any]:
        log_data.pop("color_message", None)  # uvicorn's ANSI duplicate of the message
        return log_data

    def format(self, record: logging.LogRecord) -> str:
        """The line, made once per record however many handlers write it."""
        cached: tuple[JsonLines, str] | None = getattr(record, _LINE, None)
        if cached is not None and cached[0] is self:
            return cached[1]
        line = self.redact(super().format(record))
        setattr(record, _LINE, (self, line))
        return line

    def redact(self, line: str) -> str:
        for secret in self.secrets:
            line = line.replace(secret, REDACTED)
        return _BEARER.sub(rf"\g<1>{REDACTED}", line)


class SharedRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A size-rotated file that several processes append to and any of them may rotate.

    Rotation happens under a lock file; a writer whose file was rotated by someone else
    (another worker process, or `POST /logs/rotate` in the API) notices the new inode and
    reopens, so no process keeps writing into a rotated copy for long.
    """

    def __init__(self, path: Path, *, max_bytes: int, backup_count: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        super().__init__(
            path, maxBytes=max_bytes, backupCount=backup_count, encoding="utf-8", delay=True
        )
        self._identity: tuple[int, int] | None = None
        self._checked_at = 0.0
        self.dropped = 0
        """Lines not written because the disk was full (stdout still has them)."""

    def _open(self) -> io.TextIOWrapper:
        stream = super()._open()
        stat = os.fstat(stream.fileno())
        self._identity = (stat.st_dev, stat.st_ino)
        return stream

    def emit(self, record: logging.LogRecord) -> None:
        now = time.monotonic()
        if self.stream is not None and now - self._checked_at >= REOPEN_CHECK_SECONDS:
            self._checked_at = now
            if _identity(Path(self.baseFilename)) != self._identity:
                self.stream.close()
                self.stream = None  # type: ignore[assignment]
        super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        """A full disk drops the line quietly (and counts it): no traceback per line, and the
        next line tries again, so writing resumes by itself once space is freed."""
        error = sys.exc_info()[1]
        if isinstance(error, OSError) and is_storage_full(error):
            self.dropped += 1
            if self.stream is not None:
                with contextlib.suppress(OSError):
                    self.stream.close()
                self.stream = None  # type: ignore[assignment]
            return
        super().handleError(record)

    def doRollover(self) -> None:
        if self.stream:
            self.stream.close()
            self.stream = None  # type: ignore[assignment]
        path = Path(self.baseFilename)
        with rotation_lock(path):
            if _identity(path) == self._identity:  # nobody rotated it before us
                rotate_file(path, self.backupCount)


class StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to `sys.stdout` as it is at each line, so whoever swaps it (pytest's capture) gets
    the lines; but never to a stdout that feeds logging back (Celery's redirect to a logger
    proxy), which gets the interpreter's own stdout instead."""

    def __init__(self) -> None:
        super().__init__()

    @property  # type: ignore[override]
    def stream(self) -> Any:
        current = sys.stdout
        if current is None or _feeds_logging(current):
            return sys.__stdout__ or current
        return current

    @stream.setter
    def stream(self, value: Any) -> None:
        """Ignored: the stream is always the current stdout."""


def _feeds_logging(stream: Any) -> bool:
    proxy = getattr(sys.modules.get("celery.utils.log"), "LoggingProxy", None)
    return proxy is not None and isinstance(stream, proxy)


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino


@contextmanager
def rotation_lock(path: Path) -> Iterator[None]:
    """Serialise rotations of `path` across processes on this host."""
    fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def rotate_file(path: Path, backup_count: int) -> Path | None:
    """`x.log` → `x.log.1` (shifting older copies, dropping the oldest); None if absent."""
    if not path.exists():
        return None
    for index in range(backup_count - 1, 0, -1):
        older = Path(f"{path}.{index}")
        if older.exists():
            os.replace(older, f"{path}.{index + 1}")
    rotated = Path(f"{path}.1")
    os.replace(path, rotated)
    _recheck_writers(path)
    return rotated


def _recheck_writers(path: Path) -> None:
    """This process's writers of `path` reopen at once; other processes within a second."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, SharedRotatingFileHandler) and handler.baseFilename == str(path):
            handler._checked_at = 0.0


@dataclass
class LogSetup:
    """The handlers one `configure_logging` call installed on the root logger."""

    log_type: str
    path: Path
    handlers: list[logging.Handler]
    owned: bool = True

    def close(self) -> None:
        """Remove and close this setup's handlers (a no-op if another setup replaced them,
        or if this call found the process already configured and left it as it was)."""
        if not self.owned:
            return
        root = logging.getLogger()
        for handler in self.handlers:
            if handler in root.handlers:
                root.removeHandler(handler)
                handler.close()


_active: LogSetup | None = None


def configure_logging(settings: Settings, log_type: str, *, stdout: bool = True) -> LogSetup:
    """Send every log line of this process, as JSON, to stdout and `LOG_DIR/{log_type}.log`."""
    global _active
    path = log_path(settings.log_dir, log_type)
    root = logging.getLogger()
    root.setLevel(settings.LOG_LEVEL.upper())
    if _active is not None and _active.path == path and _active.handlers[0] in root.handlers:
        return LogSetup(log_type, path, _active.handlers, owned=False)
    _remove_ours(root)
    formatter = JsonLines(log_type, secret_values(settings))
    handlers: list[logging.Handler] = [
        SharedRotatingFileHandler(
            path, max_bytes=settings.LOG_MAX_BYTES, backup_count=settings.LOG_BACKUP_COUNT
        )
    ]
    if stdout:
        handlers.append(StdoutHandler())
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(ContextFilter())
        setattr(handler, _OURS, True)
        root.addHandler(handler)
    _route_uvicorn_to_root()
    for name in QUIETED:
        logging.getLogger(name).setLevel(logging.WARNING)
    _active = LogSetup(log_type=log_type, path=path, handlers=handlers)
    return _active


def dropped_lines() -> int:
    """Log lines this process could not write to its file (the disk was full)."""
    handlers = logging.getLogger().handlers
    return sum(h.dropped for h in handlers if isinstance(h, SharedRotatingFileHandler))


def is_configured() -> bool:
    return any(getattr(h, _OURS, False) for h in logging.getLogger().handlers)


def secret_values(settings: Settings) -> list[str]:
    """Every configured secret, so that none of them can reach a log line."""
    secrets = [settings.API_KEY, settings.ADMIN_API_KEY, settings.FAL_KEY, settings.SECRET_KEY]
    values = [s.get_secret_value() for s in (*secrets, *settings.API_KEYS.values()) if s]
    password = _url_password(settings.redis_url)
    return [*values, *([password] if password else [])]


def _url_password(url: str) -> str | None:
    match = re.match(r"^[a-z+]+://[^:/@]*:([^@/]+)@", url)
    return match.group(1) if match else None


def _remove_ours(root: logging.Logger) -> None:
    for handler in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(handler)
        handler.close()


def _route_uvicorn_to_root() -> None:
    """uvicorn's lines in our format; its access log off (the API writes its own, richer one)."""
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
