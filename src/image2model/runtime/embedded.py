"""`image2model serve`: the API, and in embedded mode its private Redis, worker and beat."""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from types import FrameType

import uvicorn

from image2model import __version__
from image2model.config import Settings
from image2model.runtime.children import Child, StopLadder, spawn
from image2model.runtime.redis_server import PrivateRedis, RedisServerError, private_redis
from image2model.runtime.redis_url import redacted

log = logging.getLogger(__name__)

# Warm shutdown lets running tasks finish; cold shutdown leaves them unacknowledged, so
# the broker hands them out again after a restart.
WORKER_STOP: StopLadder = ((signal.SIGTERM, 10.0), (signal.SIGQUIT, 5.0))
BEAT_STOP: StopLadder = ((signal.SIGTERM, 5.0),)
GRACEFUL_HTTP_SHUTDOWN = 5  # seconds open requests (event streams) get to finish
WATCH_INTERVAL = 0.2


class StopRequested(Exception):
    """SIGINT or SIGTERM arrived: unwind, stopping every child in order."""


def serve(settings: Settings, *, host: str | None, port: int | None) -> int:
    """Run until interrupted; 0 on a requested stop, 1 when a part failed, 2 if refused."""
    host = host or settings.HOST
    port = port or settings.PORT
    if not settings.auth_enabled and not is_loopback(host):
        print(open_bind_refusal(host), file=sys.stderr)
        return 2
    _configure_logging(settings)
    try:
        # bound before anything starts, so a busy port fails at once with nothing to undo
        listener = _listen(host, port)
    except OSError as error:
        print(f"image2model: cannot listen on {host}:{port}: {error.strerror}", file=sys.stderr)
        return 1
    with listener, _stop_on_signals():
        try:
            if settings.REDIS_URL:
                _print_banner(settings, host, port, redis_line=_remote_redis_line(settings))
                return _run_api(settings, listener, watched=())
            return _serve_embedded(settings, listener)
        except StopRequested:
            return 0
        except RedisServerError as error:
            print(f"image2model: {error}", file=sys.stderr)
            return 1


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable only from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def open_bind_refusal(host: str) -> str:
    return (
        f"image2model: refusing to listen on {host} without API keys: anyone who can reach "
        "this address could use the service. Set API_KEYS (or API_KEY) and ADMIN_API_KEY, "
        "or serve on 127.0.0.1 (the default) for local use."
    )


def _serve_embedded(settings: Settings, listener: socket.socket) -> int:
    host, port = listener.getsockname()[:2]
    with ExitStack() as stack:
        redis = stack.enter_context(private_redis(settings.data_dir / "redis"))
        env = {**os.environ, "REDIS_URL": redis.url, "DATA_DIR": str(settings.data_dir)}
        command = [sys.executable, "-m", "image2model"]
        # SIGKILL for the worker: without its parent there is no Redis left to finish a task
        # against; Celery gives its pool processes the same parent-death signal.
        worker = spawn("worker", [*command, "worker"], death_signal=signal.SIGKILL, env=env)
        stack.callback(worker.stop, WORKER_STOP)
        beat = spawn("beat", [*command, "beat"], death_signal=signal.SIGTERM, env=env)
        stack.callback(beat.stop, BEAT_STOP)
        # unwinding runs this first: a second Ctrl-C must not cut the ordered stop short
        stack.callback(_ignore_stop_signals)
        _print_banner(settings, host, port, redis_line=_private_redis_line(redis, worker, beat))
        api_settings = settings.model_copy(update={"REDIS_URL": redis.url})
        return _run_api(api_settings, listener, watched=(redis.child, worker, beat))
    raise AssertionError("unreachable")


def _listen(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    listener = socket.socket(family, kind, proto)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
    except OSError:
        listener.close()
        raise
    return listener


def _run_api(settings: Settings, listener: socket.socket, *, watched: Sequence[Child]) -> int:
    from image2model.api.app import create_app
    from image2model.ops.lifecycle import GracefulServer

    host, port = listener.getsockname()[:2]
    config = uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        log_level=settings.LOG_LEVEL.lower(),
        timeout_graceful_shutdown=GRACEFUL_HTTP_SHUTDOWN,
        # the app reads X-Forwarded-For itself, and only from TRUSTED_PROXIES
        proxy_headers=False,
        # our JSON logging is already set up; the app writes its own access lines
        log_config=None,
        access_log=False,
    )
    # ends open event streams with a final event before waiting on connections
    server = GracefulServer(config)
    watcher = _ChildWatcher(watched, server)
    watcher.start()
    try:
        server.run(sockets=[listener])
    finally:
        watcher.stopped.set()
    if watcher.failed is not None:
        failed = watcher.failed
        print(f"image2model: {failed.name} exited (code {failed.exit_code()})", file=sys.stderr)
        return 1
    return 0


class _ChildWatcher(threading.Thread):
    """Stops the API when a child it depends on dies, so the service never runs half-alive."""

    def __init__(self, children: Sequence[Child], server: uvicorn.Server) -> None:
        super().__init__(name="image2model-child-watcher", daemon=True)
        self.children = children
        self.server = server
        self.stopped = threading.Event()
        self.failed: Child | None = None

    def run(self) -> None:
        while not self.stopped.wait(WATCH_INTERVAL):
            for child in self.children:
                if child.exit_code() is not None:
                    log.error("runtime.child.exited name=%s code=%s", child.name, child.exit_code())
                    self.failed = child
                    self.server.should_exit = True
                    return


@contextmanager
def _stop_on_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise StopRequested (uvicorn re-raises them after its own shutdown)."""

    def request_stop(signum: int, frame: FrameType | None) -> None:
        raise StopRequested(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _ignore_stop_signals() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)


def _configure_logging(settings: Settings) -> None:
    from image2model.ops.logconfig import configure_logging

    configure_logging(settings, "api")


def _print_banner(settings: Settings, host: str, port: int, *, redis_line: str) -> None:
    shown_host = f"[{host}]" if ":" in host else host
    lines = "\n".join(
        [
            f"image2model {__version__}",
            f"  API    http://{shown_host}:{port}  (docs at /docs)",
            f"  data   {settings.data_dir}",
            f"  Redis  {redis_line}",
            "  Stop with Ctrl-C.",
        ]
    )
    print(lines, flush=True)


def _private_redis_line(redis: PrivateRedis, worker: Child, beat: Child) -> str:
    return (
        f"private {redis.binary.label} at {redis.url}, files in {redis.data_dir}\n"
        f"  worker pid {worker.pid}, beat pid {beat.pid} (embedded mode; set REDIS_URL to "
        "run them on other hosts)"
    )


def _remote_redis_line(settings: Settings) -> str:
    return (
        f"{redacted(settings.redis_url)} (API only: run `image2model worker` and one "
        "`image2model beat` against the same REDIS_URL and DATA_DIR)"
    )
