"""Process entry points: `serve` (embedded or API only), `worker` and `beat`.

Each builds the Settings once and passes them down; heavy imports wait until a command runs,
so `image2model.runtime.redis_url` stays cheap to import.
"""

from __future__ import annotations


def serve(host: str | None, port: int | None) -> int:
    """Run the API; without REDIS_URL, also a private Redis, a worker and beat."""
    from image2model.config import Settings
    from image2model.runtime.embedded import serve as serve_with

    return serve_with(Settings(), host=host, port=port)


def run_worker(concurrency: int | None, queues: str | None) -> int:
    """Run a Celery worker for REDIS_URL."""
    from image2model.config import Settings
    from image2model.runtime.celery_commands import run_worker as run_worker_with

    return run_worker_with(Settings(), concurrency=concurrency, queues=queues)


def run_beat() -> int:
    """Run the maintenance scheduler for REDIS_URL."""
    from image2model.config import Settings
    from image2model.runtime.celery_commands import run_beat as run_beat_with

    return run_beat_with(Settings())
