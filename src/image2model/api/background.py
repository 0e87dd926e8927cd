"""The API process's periodic services: log rotation and retention, health checks, metrics.

Each runs as an asyncio task started in lifespan and cancelled at shutdown; the file and
system work inside them runs in threads, so the event loop never waits on a disk.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
from redis.exceptions import RedisError

from image2model.config import Settings
from image2model.jobs.store import JobStore
from image2model.ops import logfiles
from image2model.ops.metrics import ApiMetrics
from image2model.ops.system import HEALTHY, assess, sample_system

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Schedule:
    """Seconds between runs (seed values)."""

    log_rotation: float = 300.0
    log_cleanup: float = 24 * 3600.0
    health_check: float = 600.0
    metrics: float = 60.0


@dataclass
class Run:
    runs: int = 0
    failures: int = 0
    last_run: float | None = None
    last_result: Any = None


@dataclass
class BackgroundServices:
    settings: Settings
    metrics: ApiMetrics
    store: JobStore
    schedule: Schedule = field(default_factory=Schedule)
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    status: dict[str, Run] = field(default_factory=dict)

    def start(self) -> None:
        jobs: dict[str, tuple[float, Callable[[], Awaitable[Any]]]] = {
            "log_rotation": (self.schedule.log_rotation, self.rotate_large_logs),
            "log_cleanup": (self.schedule.log_cleanup, self.cleanup_old_logs),
            "health_check": (self.schedule.health_check, self.check_health),
            "metrics": (self.schedule.metrics, self.collect_metrics),
        }
        for name, (interval, job) in jobs.items():
            self.status[name] = Run()
            self.tasks[name] = asyncio.create_task(self._every(name, interval, job))
        log.info("ops.background.started services=%s", ",".join(self.tasks))

    async def stop(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        log.info("ops.background.stopped services=%s", ",".join(self.tasks))

    async def _every(self, name: str, interval: float, job: Callable[[], Awaitable[Any]]) -> None:
        status = self.status[name]
        while True:
            try:
                status.last_result = await job()
            except (OSError, RedisError) as error:  # disk or Redis trouble: try next time
                status.failures += 1
                log.warning("ops.background.failed service=%s error=%s", name, error)
            except Exception:  # a periodic service must outlive one bad run, loudly
                status.failures += 1
                log.exception("ops.background.crashed service=%s", name)
            status.runs += 1
            status.last_run = time.time()
            await asyncio.sleep(interval)

    async def rotate_large_logs(self) -> list[str]:
        settings = self.settings
        rotated = await anyio.to_thread.run_sync(
            logfiles.rotate_oversized,
            settings.log_dir,
            settings.LOG_MAX_BYTES,
            settings.LOG_BACKUP_COUNT,
        )
        if rotated:
            log.info("ops.logs.rotated files=%s", ",".join(rotated))
        return rotated

    async def cleanup_old_logs(self) -> dict[str, Any]:
        settings = self.settings
        result = await anyio.to_thread.run_sync(
            logfiles.cleanup, settings.log_dir, settings.LOG_RETENTION_DAYS
        )
        if result["deleted_count"]:
            log.info(
                "ops.logs.cleaned deleted=%d freed_bytes=%d",
                result["deleted_count"],
                result["freed_bytes"],
            )
        return result

    async def check_health(self) -> dict[str, Any]:
        settings = self.settings
        sample = await anyio.to_thread.run_sync(sample_system, settings.data_dir)
        report = assess(
            sample,
            warning=settings.HEALTH_WARNING_PERCENT,
            critical=settings.HEALTH_CRITICAL_PERCENT,
        )
        if report["status"] != HEALTHY:
            failing = {
                k: c["percent"] for k, c in report["checks"].items() if c["status"] != HEALTHY
            }
            log.warning("ops.health.%s checks=%s", report["status"], failing)
        return report

    async def collect_metrics(self) -> None:
        await self.metrics.refresh(self.store, self.settings.data_dir)
