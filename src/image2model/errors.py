"""The one error vocabulary. Domain code raises these; the API renders them as the envelope.

AppError (500 INTERNAL_ERROR)
├── BadRequest (400)
│   └── InvalidField (422)
├── Unauthorized (401)
├── Forbidden (403)
├── NotFound (404)
├── Conflict (409)
├── Gone (410)
├── PayloadTooLarge (413)
├── UnsupportedMedia (415)
├── RateLimited (429)
├── ServiceUnavailable (503)
└── StorageFull (507)
"""

from __future__ import annotations

import errno
from typing import Any, ClassVar


class AppError(Exception):
    """Base of every error a client can see: status code, stable code, message, details."""

    status_code: ClassVar[int] = 500
    error_code: ClassVar[str] = "INTERNAL_ERROR"

    def __init__(
        self,
        message: str,
        *,
        error_code: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = error_code or self.error_code
        self.details = details or {}
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "error": True,
            "error_code": self.code,
            "message": self.message,
            "status_code": self.status_code,
            "details": self.details,
        }


class BadRequest(AppError):
    status_code = 400
    error_code = "BAD_REQUEST"


class InvalidField(BadRequest):
    status_code = 422
    error_code = "VALIDATION_ERROR"


class Unauthorized(AppError):
    status_code = 401
    error_code = "UNAUTHORIZED"


class Forbidden(AppError):
    status_code = 403
    error_code = "FORBIDDEN"


class NotFound(AppError):
    status_code = 404
    error_code = "NOT_FOUND"


class Conflict(AppError):
    status_code = 409
    error_code = "NOT_FINISHED"


class Gone(AppError):
    status_code = 410
    error_code = "RESULTS_EXPIRED"


class PayloadTooLarge(AppError):
    status_code = 413
    error_code = "FILE_TOO_LARGE"


class UnsupportedMedia(AppError):
    status_code = 415
    error_code = "UNSUPPORTED_MEDIA_TYPE"


class RateLimited(AppError):
    status_code = 429
    error_code = "RATE_LIMITED"


class ConversionFailed(AppError):
    """A stored model could not be written in the format asked for; the message says why."""

    status_code = 422
    error_code = "CONVERSION_FAILED"


class ServiceUnavailable(AppError):
    status_code = 503
    error_code = "SERVICE_UNAVAILABLE"


class StorageFull(AppError):
    status_code = 507
    error_code = "STORAGE_FULL"


def is_storage_full(error: BaseException) -> bool:
    """An OSError saying the disk (or the user's quota) is full."""
    return isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)
