"""Health: liveness, readiness (Redis answers and a worker is alive), details for admins."""

from __future__ import annotations

import platform
import shutil
import time
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from image2model import __version__
from image2model.api.deps import AdminDep, Services, ServicesDep
from image2model.api.errors import envelope
from image2model.jobs.service import redis_alive

router = APIRouter(prefix="/health", tags=["health"])
root_router = APIRouter(tags=["health"])


@root_router.get("/")
async def service_info() -> dict[str, Any]:
    """What this service is and where its API lives."""
    return {"service": "image2model", "version": __version__, "api": "/api/v1", "docs": "/docs"}


@root_router.get("/health")
@router.get("/")
@router.get("", include_in_schema=False)
async def health(services: ServicesDep) -> dict[str, Any]:
    """The API process is up."""
    return {"status": "healthy", "version": __version__, "uptime": _uptime(services)}


@router.get("/liveness")
async def liveness() -> dict[str, str]:
    return {"status": "alive"}


@router.get("/readiness", responses={503: {"description": "Redis or workers unavailable"}})
async def readiness(services: ServicesDep) -> Response:
    """Ready when Redis answers and at least one worker sent a heartbeat recently."""
    checks = await _checks(services)
    if all(c["healthy"] for c in checks.values()):
        return JSONResponse({"status": "ready", "checks": checks})
    failing = sorted(name for name, c in checks.items() if not c["healthy"])
    body = envelope(503, "NOT_READY", f"Not ready: {', '.join(failing)}", {"checks": checks})
    return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})


@router.get("/detailed")
async def detailed(services: ServicesDep, admin: AdminDep) -> dict[str, Any]:
    """Components with response times, versions and uptime (admin only)."""
    checks = await _checks(services)
    disk = shutil.disk_usage(services.settings.data_dir)
    return {
        "status": "healthy" if all(c["healthy"] for c in checks.values()) else "unhealthy",
        "version": __version__,
        "python": platform.python_version(),
        "uptime": _uptime(services),
        "components": {
            **checks,
            "disk": {"healthy": disk.free > 0, "free_bytes": disk.free, "total_bytes": disk.total},
            "providers": {
                "healthy": True,
                "available": sorted(services.providers),
                "default": services.settings.default_provider,
                "fal_configured": services.settings.fal_configured,
            },
        },
    }


@root_router.get("/metrics", response_class=PlainTextResponse)
@router.get("/metrics", response_class=PlainTextResponse)
async def metrics() -> Response:
    """Prometheus metrics in the text exposition format."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def _checks(services: Services) -> dict[str, dict[str, Any]]:
    started = time.perf_counter()
    redis_ok = await redis_alive(services.store)
    redis_ms = round((time.perf_counter() - started) * 1000, 2)
    workers = 0
    if redis_ok:
        workers = await services.store.live_workers(max_age=3 * services.settings.LEASE_SECONDS)
    return {
        "redis": {"healthy": redis_ok, "response_ms": redis_ms},
        "workers": {"healthy": workers > 0, "alive": workers},
    }


def _uptime(services: Services) -> float:
    return round(time.time() - services.started_at, 1)
