"""Metrics that workers share through Redis, and reading them back as histograms.

Workers cannot be scraped (many short-lived processes, possibly on other hosts), so each
observation is added to a Redis hash (`jobs/store.py` names them) in one pipelined
HINCRBY; the API's scrape turns the hashes into Prometheus histograms. Label values come
from fixed vocabularies; anything else becomes `other`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import redis

from image2model.keys import LOG_METRICS, PROVIDER_METRICS, TASK_METRICS
from image2model.ops.logconfig import dropped_lines

TASK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
PROVIDER_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0)
TASK_STATUSES = frozenset({"success", "failure", "retry", "revoked"})
PROVIDER_OUTCOMES = frozenset({"success", "error", "cancelled"})
OTHER = "other"
_reported_drops = 0
"""This process's dropped log lines already added to `LOG_METRICS`."""


def bounded(value: str, allowed: Iterable[str]) -> str:
    return value if value in allowed else OTHER


def task_label(name: str) -> str:
    """Our task names (`tasks.*`, at most a handful) pass; anything else is `other`."""
    return name if name.startswith("tasks.") and len(name) <= 64 else OTHER


class WorkerMetrics:
    """What a worker process adds to the shared metrics (one pipeline per observation)."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def record_task(self, task_name: str, status: str, seconds: float) -> None:
        labels = (task_label(task_name), bounded(status, TASK_STATUSES))
        self._observe(TASK_METRICS, labels, seconds, TASK_BUCKETS)

    def record_provider_call(self, provider: str, model: str, outcome: str, seconds: float) -> None:
        labels = (provider, model, bounded(outcome, PROVIDER_OUTCOMES))
        self._observe(PROVIDER_METRICS, labels, seconds, PROVIDER_BUCKETS)

    def report_dropped_lines(self, process: str) -> None:
        """Add the log lines this process dropped since its last report."""
        global _reported_drops
        dropped = dropped_lines()
        if dropped > _reported_drops:
            self.redis.hincrby(LOG_METRICS, process, dropped - _reported_drops)
            _reported_drops = dropped

    def _observe(
        self, key: str, labels: tuple[str, ...], seconds: float, buckets: Sequence[float]
    ) -> None:
        pipe = self.redis.pipeline(transaction=True)  # all or nothing, so safe to retry
        pipe.hincrby(key, _field(labels, "count"), 1)
        pipe.hincrbyfloat(key, _field(labels, "sum"), max(0.0, seconds))
        pipe.hincrby(key, _field(labels, str(_bucket_index(seconds, buckets))), 1)
        pipe.execute()


def _field(labels: tuple[str, ...], part: str) -> str:
    return json.dumps([*labels, part], separators=(",", ":"))


def _bucket_index(seconds: float, buckets: Sequence[float]) -> int:
    return next((i for i, bound in enumerate(buckets) if seconds <= bound), len(buckets))


@dataclass
class HistogramData:
    count: int = 0
    total: float = 0.0
    per_bucket: dict[int, int] = field(default_factory=dict)

    def cumulative(self, buckets: Sequence[float]) -> list[tuple[str, float]]:
        running, out = 0, []
        for index, bound in enumerate(buckets):
            running += self.per_bucket.get(index, 0)
            out.append((_le(bound), float(running)))
        out.append(("+Inf", float(self.count)))
        return out


def _le(bound: float) -> str:
    return str(int(bound)) if bound == int(bound) and bound >= 1 else repr(bound)


def parse_histograms(raw: dict[str, str]) -> dict[tuple[str, ...], HistogramData]:
    """The hash written by `WorkerMetrics`, by label tuple; malformed fields are skipped."""
    found: dict[tuple[str, ...], HistogramData] = {}
    for name, value in raw.items():
        try:
            *labels, part = json.loads(name)
            data = found.setdefault(tuple(str(v) for v in labels), HistogramData())
            if part == "count":
                data.count = int(value)
            elif part == "sum":
                data.total = float(value)
            else:
                data.per_bucket[int(part)] = int(value)
        except (ValueError, TypeError):
            continue
    return found
