"""Process entry points: `serve` (embedded or API only), `worker` and `beat`.

Each builds the Settings once and passes them down; heavy imports wait until a command runs,
so importing `image2model.runtime` stays cheap. A setting that cannot work stops
the command with `SettingsError` (one line) before anything starts.
"""

from __future__ import annotations

import tempfile
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from image2model.config import Settings


def serve(host: str | None, port: int | None) -> int:
    """Run the API; without REDIS_URL, also a private Redis, a worker and beat."""
    from image2model.runtime.embedded import serve as serve_with

    return serve_with(_checked(), host=host, port=port)


def run_worker(concurrency: int | None, queues: str | None, *, io: bool = False) -> int:
    """Run a Celery worker for REDIS_URL (`io`: the I/O worker)."""
    from image2model.runtime.celery_commands import run_worker as run_worker_with

    return run_worker_with(_checked("worker"), concurrency=concurrency, queues=queues, io=io)


def run_beat() -> int:
    """Run the maintenance scheduler for REDIS_URL."""
    from image2model.runtime.celery_commands import run_beat as run_beat_with

    return run_beat_with(_checked("beat"))


def _checked(redis_for: str | None = None) -> Settings:
    """The settings, once the data directory is usable and (for `redis_for`) Redis is named."""
    from image2model.config import SettingsError, load_settings
    from image2model.errors import is_storage_full

    settings = load_settings()
    named = settings.REDIS_URL or {"REDIS_HOST", "REDIS_PORT"} & settings.model_fields_set
    if redis_for and not named:
        raise SettingsError(
            f"REDIS_URL is not set: `image2model {redis_for}` needs the deployment's Redis "
            "(redis://host:6379/0, rediss:// or unix://); `image2model serve` alone runs "
            "everything on one host"
        )
    path = settings.data_dir
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        if is_storage_full(error):  # a full disk is not a bad setting: work resumes with space
            return settings
        raise SettingsError(
            f"DATA_DIR={str(path)!r} is not a writable directory ({error.strerror})"
        ) from None
    return settings
