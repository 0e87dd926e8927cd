"""The host's resources, and how they compare with the health thresholds."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

HEALTHY, WARNING, CRITICAL = "healthy", "warning", "critical"
_RANK = {HEALTHY: 0, WARNING: 1, CRITICAL: 2}


@dataclass(frozen=True)
class SystemSample:
    cpu_percent: float
    memory_percent: float
    disk_total: int
    disk_used: int
    disk_free: int
    disk_percent: float
    load_average: tuple[float, float, float]


def sample_system(data_dir: Path) -> SystemSample:
    """One reading; blocking (a statvfs), so the API calls it in a thread.

    `cpu_percent(interval=None)` compares with the previous call and never sleeps.
    """
    disk = shutil.disk_usage(data_dir if Path(data_dir).exists() else Path(data_dir).parent)
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return SystemSample(
        cpu_percent=float(psutil.cpu_percent(interval=None)),
        memory_percent=float(psutil.virtual_memory().percent),
        disk_total=disk.total,
        disk_used=disk.used,
        disk_free=disk.free,
        disk_percent=round(100.0 * disk.used / disk.total, 2) if disk.total else 0.0,
        load_average=(round(load[0], 2), round(load[1], 2), round(load[2], 2)),
    )


def level(value: float, warning: float, critical: float) -> str:
    if value >= critical:
        return CRITICAL
    if value >= warning:
        return WARNING
    return HEALTHY


def worst(statuses: list[str]) -> str:
    return max(statuses, key=_RANK.__getitem__, default=HEALTHY)


def assess(sample: SystemSample, *, warning: float, critical: float) -> dict[str, Any]:
    """healthy / warning / critical for CPU, memory and disk against the thresholds."""
    checks: dict[str, dict[str, Any]] = {
        "cpu": {"percent": sample.cpu_percent},
        "memory": {"percent": sample.memory_percent},
        "disk": {
            "percent": sample.disk_percent,
            "free_bytes": sample.disk_free,
            "total_bytes": sample.disk_total,
        },
    }
    for check in checks.values():
        check["status"] = level(float(check["percent"]), warning, critical)
    return {
        "status": worst([str(c["status"]) for c in checks.values()]),
        "thresholds": {"warning_percent": warning, "critical_percent": critical},
        "checks": checks,
        "load_average": list(sample.load_average),
    }
