"""One handler renders every error, ours and the framework's, as the same envelope."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException

from image2model.errors import AppError
from image2model.redis_clients import refusal

log = logging.getLogger(__name__)

_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "REQUEST_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMITED",
}


def envelope(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "error": True,
        "error_code": code,
        "message": message,
        "status_code": status,
        "details": details or {},
    }


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = _CODES.get(exc.status_code, "HTTP_ERROR")
    body = envelope(exc.status_code, code, str(exc.detail))
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"field": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg", "")}
        for e in exc.errors()
    ]
    message = "; ".join(f"{p['field']}: {p['message']}" for p in problems[:5]) or "Invalid request"
    body = envelope(422, "VALIDATION_ERROR", message, {"errors": problems})
    return JSONResponse(body, status_code=422)


async def _redis_down(request: Request, exc: Exception) -> JSONResponse:
    if refusal(exc) == "MISCONF":  # Redis cannot write its files: reads still work
        log.error("redis.cannot_persist path=%s error=%s", request.url.path, exc)
        body = envelope(507, "STORAGE_FULL", "The server's storage is full; try again later")
        return JSONResponse(body, status_code=507)
    log.error("redis.unavailable path=%s error=%s", request.url.path, exc)
    body = envelope(503, "SERVICE_UNAVAILABLE", "The job store is unavailable; try again later")
    return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})


def install(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(RedisError, _redis_down)
    app.add_exception_handler(ConnectionError, _redis_down)
