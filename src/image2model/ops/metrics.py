"""Prometheus metrics: the API's own, plus what workers on any host recorded in Redis.

Workers add their task and provider observations to Redis (`ops.workermetrics`); the API
turns those into histograms at scrape time. This works across hosts with the Redis the
deployment already has, needs no shared directory (unlike prometheus-client's
multiprocess mode) and survives worker restarts.

Every label value is bounded: HTTP endpoints are route templates (or `unmatched`), task
names and statuses, providers and models come from fixed vocabularies (anything else is
`other`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from image2model.jobs.store import JobStore
from image2model.keys import (
    LOG_METRICS,
    PROVIDER_METRICS,
    TASK_METRICS,
    WORKER_ALIVE_SECONDS,
    WORKERS,
    broker_queue_keys,
)
from image2model.ops.logconfig import dropped_lines
from image2model.ops.system import SystemSample, sample_system
from image2model.ops.workermetrics import (
    OTHER,
    PROVIDER_BUCKETS,
    TASK_BUCKETS,
    HistogramData,
    parse_histograms,
)

HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


@dataclass
class StoreSnapshot:
    """Everything read from Redis for one scrape."""

    tasks: dict[tuple[str, ...], HistogramData] = field(default_factory=dict)
    providers: dict[tuple[str, ...], HistogramData] = field(default_factory=dict)
    queues: dict[str, int] = field(default_factory=dict)
    jobs: dict[str, int] = field(default_factory=dict)
    items: dict[str, int] = field(default_factory=dict)
    workers: int = 0
    dropped_log_lines: dict[str, int] = field(default_factory=dict)


async def read_snapshot(store: JobStore, queues: Sequence[str]) -> StoreSnapshot:
    async with store.redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(TASK_METRICS)
        pipe.hgetall(PROVIDER_METRICS)
        pipe.zcount(WORKERS, time.time() - WORKER_ALIVE_SECONDS, "+inf")
        pipe.hgetall(LOG_METRICS)
        for queue in queues:
            for key in broker_queue_keys(queue):
                pipe.llen(key)
        replies = await pipe.execute()
    tasks, providers, workers, dropped, *lengths = replies
    per_queue = len(broker_queue_keys(""))
    depth = {
        queue: sum(int(n) for n in lengths[i * per_queue : (i + 1) * per_queue])
        for i, queue in enumerate(queues)
    }
    jobs, items = await store.count_by_status()
    return StoreSnapshot(
        tasks=parse_histograms(tasks),
        providers=parse_histograms(providers),
        queues=depth,
        jobs=jobs,
        items=items,
        workers=int(workers),
        dropped_log_lines={process: int(n) for process, n in dropped.items()},
    )


ChildRestarts = Callable[[], Mapping[str, int]]
"""Restarts of each of embedded mode's children (redis, worker, beat) so far."""


class ApiMetrics:
    """The API process's registry: its own HTTP and system metrics plus the store's."""

    def __init__(self, queues: Sequence[str], child_restarts: ChildRestarts | None = None) -> None:
        self.queues = tuple(queues)
        self.registry = CollectorRegistry(auto_describe=True)
        self.http_requests = Counter(
            "http_requests_total",
            "HTTP requests by method, route template and status code",
            ["method", "endpoint", "status"],
            registry=self.registry,
        )
        self.http_duration = Histogram(
            "http_request_duration_seconds",
            "HTTP request duration (until the last byte; event streams count while open)",
            ["method", "endpoint"],
            buckets=HTTP_BUCKETS,
            registry=self.registry,
        )
        self.sse_streams = Gauge(
            "sse_active_streams", "Open Server-Sent Event streams", registry=self.registry
        )
        self.cpu = Gauge("system_cpu_percent", "CPU use of the host", registry=self.registry)
        self.memory = Gauge(
            "system_memory_percent", "Memory use of the host", registry=self.registry
        )
        self.disk_free = Gauge(
            "data_dir_disk_free_bytes", "Free space on DATA_DIR's disk", registry=self.registry
        )
        self.disk_used = Gauge(
            "data_dir_disk_used_percent", "Used share of DATA_DIR's disk", registry=self.registry
        )
        self.snapshot = StoreSnapshot()
        self.last_system: SystemSample | None = None
        self.registry.register(_StoreCollector(self))
        if child_restarts is not None:
            self.registry.register(_ChildCollector(child_restarts))

    def observe_request(self, method: str, endpoint: str, status: int, seconds: float) -> None:
        method = method if method in HTTP_METHODS else OTHER
        self.http_requests.labels(method, endpoint, str(status)).inc()
        self.http_duration.labels(method, endpoint).observe(seconds)

    def set_system(self, sample: SystemSample) -> None:
        self.last_system = sample
        self.cpu.set(sample.cpu_percent)
        self.memory.set(sample.memory_percent)
        self.disk_free.set(sample.disk_free)
        self.disk_used.set(sample.disk_percent)

    async def refresh(self, store: JobStore, data_dir: Any) -> None:
        """Read the system and the store (the loop never blocks: disk work runs in a thread)."""
        self.set_system(await anyio.to_thread.run_sync(sample_system, data_dir))
        self.snapshot = await read_snapshot(store, self.queues)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _ChildCollector(Collector):
    """Restarts of embedded mode's children, read when scraped."""

    def __init__(self, restarts: ChildRestarts) -> None:
        self.restarts = restarts

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "embedded_child_restarts",
            "Times serve restarted one of its children after it exited",
            labels=["child"],
        )
        for child, count in sorted(self.restarts().items()):
            family.add_metric([child], count)
        yield family


class _StoreCollector(Collector):
    """Turns the last store snapshot into metric families at scrape time."""

    def __init__(self, metrics: ApiMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        snap = self.metrics.snapshot
        yield from _histogram_families(
            "task_duration_seconds",
            "Celery task run time, recorded by the workers",
            ["task_name", "status"],
            snap.tasks,
            TASK_BUCKETS,
        )
        tasks = CounterMetricFamily(
            "tasks", "Celery tasks run, by name and outcome", labels=["task_name", "status"]
        )
        for labels, data in sorted(snap.tasks.items()):
            tasks.add_metric(list(labels), data.count)
        yield tasks
        yield from _histogram_families(
            "provider_request_duration_seconds",
            "Time a provider took to generate one model",
            ["provider", "model", "outcome"],
            snap.providers,
            PROVIDER_BUCKETS,
        )
        calls = CounterMetricFamily(
            "provider_requests",
            "Provider generation calls by provider, model and outcome",
            labels=["provider", "model", "outcome"],
        )
        for labels, data in sorted(snap.providers.items()):
            calls.add_metric(list(labels), data.count)
        yield calls
        yield _gauge("jobs_by_status", "Jobs the store holds, by status", "status", snap.jobs)
        yield _gauge("job_items_by_status", "Items of those jobs, by status", "status", snap.items)
        yield _gauge("queue_depth", "Messages waiting in each Celery queue", "queue", snap.queues)
        workers = GaugeMetricFamily("workers_alive", "Workers with a recent heartbeat")
        workers.add_metric([], snap.workers)
        yield workers
        dropped = CounterMetricFamily(
            "log_lines_dropped",
            "Log lines not written to LOG_DIR because its disk was full, by process kind",
            labels=["process"],
        )
        for process, count in sorted({**snap.dropped_log_lines, "api": dropped_lines()}.items()):
            dropped.add_metric([process], count)
        yield dropped


def _gauge(name: str, documentation: str, label: str, values: dict[str, int]) -> Metric:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for value, count in sorted(values.items()):
        family.add_metric([value], count)
    return family


def _histogram_families(
    name: str,
    documentation: str,
    labels: list[str],
    data: dict[tuple[str, ...], HistogramData],
    buckets: Sequence[float],
) -> Iterator[Metric]:
    family = HistogramMetricFamily(name, documentation, labels=labels)
    for label_values, histogram in sorted(data.items()):
        if len(label_values) != len(labels) or not math.isfinite(histogram.total):
            continue
        family.add_metric(
            list(label_values), histogram.cumulative(buckets), sum_value=histogram.total
        )
    yield family
