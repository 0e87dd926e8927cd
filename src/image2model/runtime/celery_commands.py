"""`image2model worker` and `image2model beat`: the Celery processes, on any host."""

from __future__ import annotations

import os
import sys

from image2model.config import Settings


def run_worker(settings: Settings, *, concurrency: int | None, queues: str | None) -> int:
    """Run a Celery worker on `settings.redis_url` until it is stopped."""
    from image2model.worker import QUEUES, create_celery

    names = [q.strip() for q in queues.split(",") if q.strip()] if queues else list(QUEUES)
    unknown = sorted(set(names) - set(QUEUES))
    if unknown or not names:
        print(f"unknown queue(s) {unknown}; the queues are {', '.join(QUEUES)}", file=sys.stderr)
        return 2
    app = create_celery(settings)
    _log_as(settings, "worker")
    app.worker_main(
        [
            "worker",
            f"--loglevel={settings.LOG_LEVEL}",
            f"--concurrency={concurrency or settings.WORKER_CONCURRENCY}",
            *("--queues", ",".join(names)),
            # unique per process, so several workers can share a host
            *("--hostname", f"image2model-{os.getpid()}@%h"),
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
