"""Health: liveness, readiness (Redis answers and a worker is alive), details for admins."""

from __future__ import annotations

import contextlib
import importlib.metadata
import platform
import shutil
import time
from datetime import UTC, datetime
from typing import Any

import anyio
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST
from redis.exceptions import RedisError

from image2model import __version__
from image2model.api.deps import AdminDep, Services, ServicesDep
from image2model.api.errors import envelope
from image2model.api.lifecycle import OpsDep
from image2model.api.schemas import ADMIN_ERRORS
from image2model.jobs.service import redis_alive
from image2model.ops.system import CRITICAL, level

router = APIRouter(prefix="/health", tags=["health"])
root_router = APIRouter(tags=["health"])


SERVICE = "image2model"


async def service_info() -> dict[str, Any]:
    """What this service is and where its API lives."""
    return {
        "service": SERVICE,
        "message": f"{SERVICE} API: turns images into 3D models; see /docs",
        "version": __version__,
        "api": "/api/v1",
        "docs": "/docs",
    }


@root_router.get("/health")
@router.get("/")
@router.get("", include_in_schema=False)
async def health(services: ServicesDep) -> dict[str, Any]:
    """The API process is up."""
    return {
        "status": "healthy",
        "service": SERVICE,
        "version": __version__,
        "uptime": _uptime(services),
        "timestamp": _now(),
    }


@router.get("/liveness")
async def liveness() -> dict[str, str]:
    return {"status": "alive", "timestamp": _now()}


@router.get("/readiness", responses={503: {"description": "Redis or workers unavailable"}})
async def readiness(services: ServicesDep) -> Response:
    """Ready when Redis answers and at least one worker sent a heartbeat recently; `checks`
    by name, and the same as the `components` list the replaced service gave."""
    checks = await component_checks(services)
    if all(c["healthy"] for c in checks.values()):
        components = [{"name": n, "status": _status(c)} for n, c in checks.items()]
        return JSONResponse(
            {"status": "ready", "timestamp": _now(), "checks": checks, "components": components}
        )
    failing = sorted(name for name, c in checks.items() if not c["healthy"])
    body = envelope(503, "NOT_READY", f"Not ready: {', '.join(failing)}", {"checks": checks})
    return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})


@router.get("/detailed", responses=ADMIN_ERRORS)
async def detailed(services: ServicesDep, ops: OpsDep, admin: AdminDep) -> dict[str, Any]:
    """Components with response times, versions and uptime (admin only)."""
    checks = await component_checks(services)
    disk = await _disk_check(services)
    if ops.child_restarts is not None:
        checks["embedded"] = {"healthy": True, "restarts": dict(ops.child_restarts())}
    checks = {
        **checks,
        "disk": disk,
        "providers": {
            "healthy": True,
            "available": sorted(services.providers),
            "default": services.settings.default_provider,
            "fal_configured": services.settings.fal_configured,
        },
    }
    return {
        "status": "healthy" if all(c["healthy"] for c in checks.values()) else "unhealthy",
        "service": SERVICE,
        "version": __version__,
        "versions": await _versions(services),
        "python": platform.python_version(),
        "uptime": (uptime := _uptime(services)),
        "uptime_seconds": uptime,
        "timestamp": _now(),
        "checks": checks,
        "components": [
            {
                "name": name,
                "status": _status(check),
                "response_time_ms": check.get("response_ms", 0.0),
                "details": {k: v for k, v in check.items() if k not in ("healthy", "response_ms")},
            }
            for name, check in checks.items()
        ],
    }


@root_router.get("/metrics", response_class=PlainTextResponse)
@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(services: ServicesDep, ops: OpsDep) -> Response:
    """Prometheus metrics in the text exposition format (API and workers)."""
    await ops.metrics.refresh(services.store, services.settings.data_dir)
    return Response(ops.metrics.render(), media_type=CONTENT_TYPE_LATEST)


async def component_checks(services: Services) -> dict[str, dict[str, Any]]:
    """Redis and workers, each with how long asking took."""
    started = time.perf_counter()
    redis_ok = await redis_alive(services.store)
    redis_ms = _ms_since(started)
    workers, started = 0, time.perf_counter()
    if redis_ok:
        workers = await services.store.live_workers(max_age=3 * services.settings.LEASE_SECONDS)
    return {
        "redis": {"healthy": redis_ok, "response_ms": redis_ms},
        "workers": {"healthy": workers > 0, "alive": workers, "response_ms": _ms_since(started)},
    }


async def _disk_check(services: Services) -> dict[str, Any]:
    settings = services.settings
    started = time.perf_counter()
    disk = await anyio.to_thread.run_sync(shutil.disk_usage, settings.data_dir)
    percent = round(100.0 * disk.used / disk.total, 2) if disk.total else 0.0
    state = level(percent, settings.HEALTH_WARNING_PERCENT, settings.HEALTH_CRITICAL_PERCENT)
    return {
        "healthy": state != CRITICAL and disk.free > 0,
        "status": state,
        "used_percent": percent,
        "free_bytes": disk.free,
        "total_bytes": disk.total,
        "response_ms": _ms_since(started),
    }


async def _versions(services: Services) -> dict[str, str | None]:
    redis_version = None
    with contextlib.suppress(RedisError, OSError):
        redis_version = (await services.store.redis.info("server")).get("redis_version")
    return {
        "image2model": __version__,
        "python": platform.python_version(),
        "fastapi": _version_of("fastapi"),
        "celery": _version_of("celery"),
        "redis_server": redis_version,
    }


def _now() -> str:
    """ISO 8601 in UTC, as the replaced service's health routes gave it."""
    return datetime.now(UTC).isoformat()


def _status(check: dict[str, Any]) -> str:
    return "healthy" if check["healthy"] else "unhealthy"


def _version_of(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _uptime(services: Services) -> float:
    return round(time.time() - services.started_at, 1)
