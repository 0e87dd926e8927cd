"""How long a job will likely take: this server's own runs of the model, in waves."""

from __future__ import annotations

from image2model.api.estimate import TYPICAL_SECONDS, estimated_time
from image2model.config import Settings
from image2model.jobs.models import JobOptions
from image2model.ops.metrics import StoreSnapshot
from image2model.ops.workermetrics import HistogramData

SETTINGS = Settings(_env_file=None, FAL_MAX_CONCURRENCY=2, WORKER_CONCURRENCY=4)  # type: ignore[call-arg]
TRIPO = JobOptions(provider="fal", model="tripo3d/tripo/v2.5/image-to-3d")


def test_the_models_mean_time_here_times_its_waves() -> None:
    runs = StoreSnapshot(providers={("fal", TRIPO.model or "", "success"): HistogramData(3, 30.0)})
    assert estimated_time(runs, SETTINGS, TRIPO, 1) == 10
    assert estimated_time(runs, SETTINGS, TRIPO, 5) == 30, "three waves of two"


def test_before_any_run_a_typical_figure() -> None:
    failures_only = StoreSnapshot(
        providers={("fal", TRIPO.model or "", "error"): HistogramData(4, 400.0)}
    )
    assert estimated_time(failures_only, SETTINGS, TRIPO, 2) == TYPICAL_SECONDS["fal"]
    local = JobOptions(provider="local", model="offline")
    assert estimated_time(StoreSnapshot(), SETTINGS, local, 8) == 2 * TYPICAL_SECONDS["local"]
