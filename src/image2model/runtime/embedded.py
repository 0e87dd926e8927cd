"""`image2model serve`: the API, and in embedded mode its private Redis, worker and beat."""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from types import FrameType

import uvicorn

from image2model import __version__
from image2model.config import Settings
from image2model.redis_url import redacted
from image2model.runtime.children import Child, StopLadder, spawn
from image2model.runtime.redis_server import (
    STOP_LADDER,
    PrivateRedis,
    RedisServerError,
    private_redis,
)
from image2model.runtime.supervisor import Slot, Supervisor

log = logging.getLogger(__name__)

# Warm shutdown lets running tasks finish; cold shutdown leaves them unacknowledged, so
# the broker hands them out again after a restart.
WORKER_STOP: StopLadder = ((signal.SIGTERM, 10.0), (signal.SIGQUIT, 5.0))
BEAT_STOP: StopLadder = ((signal.SIGTERM, 5.0),)
GRACEFUL_HTTP_SHUTDOWN = 5  # seconds open requests (event streams) get to finish


class StopRequested(Exception):
    """SIGINT or SIGTERM arrived: unwind, stopping every child in order."""


def serve(settings: Settings, *, host: str | None, port: int | None) -> int:
    """Run until interrupted; 0 on a requested stop, 1 when a part failed, 2 if refused."""
    host = host or settings.HOST
    port = port or settings.PORT
    if not is_loopback(host):
        refusal = public_bind_refusal(settings, host)
        if refusal:
            print(refusal, file=sys.stderr)
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
                _warn_if_unreachable(settings)
                _run_api(settings, listener)
                return 0
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


def public_bind_refusal(settings: Settings, host: str) -> str | None:
    """Why `host`, reachable from other machines, cannot be served with these keys; None if
    it can (a user key and the admin key are both set)."""
    if not settings.auth_enabled:
        return (
            f"image2model: refusing to listen on {host} without API keys: anyone who can "
            "reach this address could use the service. Set API_KEYS (or API_KEY) and "
            "ADMIN_API_KEY, or serve on 127.0.0.1 (the default) for local use."
        )
    if not (settings.API_KEY or settings.API_KEYS) or not settings.ADMIN_API_KEY:
        missing = "ADMIN_API_KEY" if not settings.ADMIN_API_KEY else "API_KEYS (or API_KEY)"
        return (
            f"image2model: refusing to listen on {host} without {missing}: a service "
            "reachable from other machines needs user keys for clients and the admin key "
            "for operators. Set both, or serve on 127.0.0.1 (the default) for local use."
        )
    return None


def _serve_embedded(settings: Settings, listener: socket.socket) -> int:
    host, port = listener.getsockname()[:2]
    give_up = threading.Event()
    supervisor = Supervisor(on_give_up=lambda slot: give_up.set())
    with ExitStack() as stack:
        # last out: children it restarted die with its thread (their parent-death signal)
        stack.callback(supervisor.close)
        redis = stack.enter_context(private_redis(settings.data_dir / "redis"))
        supervisor.watch(Slot("redis", redis.child, redis.restart, STOP_LADDER, redis.tend))
        env = {**os.environ, "REDIS_URL": redis.url, "DATA_DIR": str(settings.data_dir)}
        command = [sys.executable, "-m", "image2model"]

        def start_worker() -> Child:
            # SIGKILL: without its parent there is no Redis left to finish a task against;
            # Celery gives its pool processes the same parent-death signal.
            return spawn("worker", [*command, "worker"], death_signal=signal.SIGKILL, env=env)

        def start_io_worker() -> Child:
            argv = [*command, "worker", "--io"]
            return spawn("io-worker", argv, death_signal=signal.SIGKILL, env=env)

        def start_beat() -> Child:
            return spawn("beat", [*command, "beat"], death_signal=signal.SIGTERM, env=env)

        worker = supervisor.watch(Slot("worker", start_worker(), start_worker, WORKER_STOP))
        stack.callback(worker.stop)
        io_worker = None
        if settings.fal_configured:  # fal's requests wait in threads, not worker processes
            slot = Slot("io-worker", start_io_worker(), start_io_worker, WORKER_STOP)
            io_worker = supervisor.watch(slot)
            stack.callback(io_worker.stop)
        beat = supervisor.watch(Slot("beat", start_beat(), start_beat, BEAT_STOP))
        stack.callback(beat.stop)
        stack.callback(supervisor.halt)  # no restarts once stopping has begun
        # unwinding runs this first: a second Ctrl-C must not cut the ordered stop short
        stack.callback(_ignore_stop_signals)
        supervisor.start()
        banner = _private_redis_line(
            redis, worker.child, beat.child, io_worker.child if io_worker else None
        )
        _print_banner(settings, host, port, redis_line=banner)
        api_settings = settings.model_copy(update={"REDIS_URL": redis.url})
        _run_api(api_settings, listener, give_up=give_up, child_restarts=supervisor.restart_counts)
        if supervisor.gave_up is None:
            return 0
        slot = supervisor.gave_up
        print(
            f"image2model: {slot.name} exited {slot.streak} times in a row within "
            f"{supervisor.startup:.0f} s of starting; stopping (its log lines above say why)",
            file=sys.stderr,
        )
        return 1
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


def _run_api(
    settings: Settings,
    listener: socket.socket,
    *,
    give_up: threading.Event | None = None,
    child_restarts: Callable[[], dict[str, int]] | None = None,
) -> None:
    """Serve until stopped by a signal, or until `give_up` is set."""
    from image2model.api.app import create_app
    from image2model.api.lifecycle import GracefulServer

    host, port = listener.getsockname()[:2]
    config = uvicorn.Config(
        create_app(settings, child_restarts=child_restarts),
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
    if give_up is not None:

        def exit_when_given_up() -> None:
            give_up.wait()
            server.should_exit = True

        threading.Thread(target=exit_when_given_up, name="image2model-give-up", daemon=True).start()
    server.run(sockets=[listener])


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


def _private_redis_line(
    redis: PrivateRedis, worker: Child, beat: Child, io_worker: Child | None
) -> str:
    io = f", I/O worker pid {io_worker.pid}" if io_worker else ""
    return (
        f"private {redis.binary.label} at {redis.url}, files in {redis.data_dir}\n"
        f"  worker pid {worker.pid}{io}, beat pid {beat.pid} (embedded mode; set REDIS_URL "
        "to run them on other hosts)"
    )


def _remote_redis_line(settings: Settings) -> str:
    return (
        f"{redacted(settings.redis_url)} (API only: run `image2model worker`, for fal "
        "`image2model worker --io`, and one `image2model beat` against the same REDIS_URL "
        "and DATA_DIR)"
    )


def _warn_if_unreachable(settings: Settings) -> None:
    """One line on stderr when REDIS_URL does not answer: the API still starts (Redis may come
    up later) and answers 503 until it does, but the operator should know at once."""
    import redis

    client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        print(
            f"image2model: Redis at {redacted(settings.redis_url)} does not answer ({error}); "
            "the API answers 503 until it does",
            file=sys.stderr,
            flush=True,
        )
    finally:
        client.close()
