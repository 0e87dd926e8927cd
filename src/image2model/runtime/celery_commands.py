"""`image2model worker` and `image2model beat`: the Celery processes, on any host."""

from __future__ import annotations

import os
import sys

from image2model.config import Settings, SettingsError

IO_THREADS_PER_SLOT = 2
"""An I/O worker's threads per fal slot: while one thread's request runs at fal, another holds
the next item ready (image encoded, waiting on the slot), and a finished item downloads its
files without keeping the next one from being submitted."""


def run_worker(
    settings: Settings, *, concurrency: int | None, queues: str | None, io: bool = False
) -> int:
    """Run a Celery worker on `settings.redis_url` until it is stopped.

    The default worker runs CPU-bound work in WORKER_CONCURRENCY processes; `io` runs the
    I/O worker instead: items of providers that wait on a remote service, in
    `IO_THREADS_PER_SLOT` × FAL_MAX_CONCURRENCY threads (see `jobs/dispatch.py`).
    """
    from image2model.jobs.dispatch import IO_QUEUE, IO_WORKER_PREFIX
    from image2model.worker import CPU_QUEUES, QUEUES, create_celery

    default = [IO_QUEUE] if io else list(CPU_QUEUES)
    names = [q.strip() for q in queues.split(",") if q.strip()] if queues else default
    unknown = sorted(set(names) - set(QUEUES))
    if unknown or not names:
        print(f"unknown queue(s) {unknown}; the queues are {', '.join(QUEUES)}", file=sys.stderr)
        return 2
    _check_same_storage(settings)
    app = create_celery(settings)
    app.io_worker = io
    _log_as(settings, "worker")
    if io:
        threads = concurrency or IO_THREADS_PER_SLOT * settings.FAL_MAX_CONCURRENCY
        pool = ["--pool", "threads", f"--concurrency={threads}"]
    else:
        pool = [f"--concurrency={concurrency or settings.WORKER_CONCURRENCY}"]
    name = IO_WORKER_PREFIX if io else "image2model-"
    app.worker_main(
        [
            "worker",
            f"--loglevel={settings.LOG_LEVEL}",
            *pool,
            *("--queues", ",".join(names)),
            # unique per process, so several workers can share a host
            *("--hostname", f"{name}{os.getpid()}@%h"),
            # task state lives in the job store, not in revoke lists: no need to sync peers
            "--without-mingle",
            "--without-gossip",
        ]
    )
    return 0


def run_beat(settings: Settings) -> int:
    """Run the maintenance scheduler; exactly one per deployment."""
    from image2model.worker import create_celery

    schedule = settings.data_dir / "beat" / "schedule"
    schedule.parent.mkdir(parents=True, exist_ok=True)
    app = create_celery(settings)
    _log_as(settings, "beat")
    code = app.start(["beat", f"--loglevel={settings.LOG_LEVEL}", f"--schedule={schedule}"])
    return int(code or 0)


def _log_as(settings: Settings, log_type: str) -> None:
    """JSON lines to stdout and LOG_DIR/{log_type}.log, before Celery's own start-up lines."""
    from image2model.ops.logconfig import configure_logging

    configure_logging(settings, log_type)


def _check_same_storage(settings: Settings) -> None:
    """SettingsError when the API published a storage identity this host's DATA_DIR lacks:
    every item would fail, since the worker could not read the uploads."""
    import redis

    from image2model.keys import STORAGE_ID
    from image2model.redis_url import redacted
    from image2model.storage import IDENTITY_FILE, storage_identity

    client = redis.Redis.from_url(
        settings.redis_url, socket_timeout=3, socket_connect_timeout=3, decode_responses=True
    )
    try:
        expected = client.get(STORAGE_ID)
    except redis.RedisError:  # Redis not up yet: Celery waits for it; nothing to compare
        return
    finally:
        client.close()
    if expected is None:
        return
    if storage_identity(settings.data_dir, create=False) != expected:
        raise SettingsError(
            f"DATA_DIR={str(settings.data_dir)!r} is not the storage the API at "
            f"{redacted(settings.redis_url)} uses ({IDENTITY_FILE} there is missing or "
            "different): mount the same shared volume as DATA_DIR on every host"
        )
