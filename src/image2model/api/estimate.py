"""How long a new job will likely take: from this server's own recent runs of its model."""

from __future__ import annotations

import math

from image2model.config import Settings
from image2model.jobs.models import JobOptions
from image2model.ops.metrics import StoreSnapshot

TYPICAL_SECONDS = {"fal": 90.0, "local": 4.0}
"""Seconds per item before this server has run the model: a fal model's usual queue and
generation time, the offline generator's time for a photo on one core."""
UNKNOWN_PROVIDER_SECONDS = 60.0


def estimated_time(
    snapshot: StoreSnapshot, settings: Settings, options: JobOptions, items: int
) -> int:
    """Seconds until a job of `items` is likely done: the mean time of the model's successful
    runs here (as the last metrics read found them), or a typical figure before there are
    any, times the waves its items run in (fal: FAL_MAX_CONCURRENCY at once; else one worker
    of WORKER_CONCURRENCY). Queued work ahead of it is not counted."""
    history = snapshot.providers.get((options.provider, options.model or "", "success"))
    if history is not None and history.count > 0:
        per_item = history.total / history.count
    else:
        per_item = TYPICAL_SECONDS.get(options.provider, UNKNOWN_PROVIDER_SECONDS)
    fal = options.provider == "fal"
    at_once = settings.FAL_MAX_CONCURRENCY if fal else settings.WORKER_CONCURRENCY
    waves = math.ceil(max(1, items) / max(1, at_once))
    return max(1, math.ceil(per_item * waves))
