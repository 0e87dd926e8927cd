"""What a failed fal call means: retry later, or a final error with a clear code.

Decided by HTTP status, fal's `error_type` and the kind of transport error, never by the text
of a message. A submit is special: a reply that fal did not accept it (429, 5xx) or a connection
that never opened can be retried; a request that may have reached fal cannot, because fal has
no idempotency key and a second submit would be paid twice.
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
from typing import Any

import httpx
from fal_client import FalClientHTTPError

from image2model.providers.base import ProviderError

TRANSIENT_STATUS = frozenset({408, 409, 425, 429})
NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
TIMEOUT_TYPES = frozenset({"request_timeout", "startup_timeout"})


@dataclass(frozen=True)
class Transient:
    """A failure worth retrying, with the server's `Retry-After` when it gave one."""

    reason: str
    retry_after: float | None = None


def classify(error: Exception, *, phase: str, key: str) -> Transient | ProviderError:
    """`phase` is submit, status, result, cancel or download."""
    if isinstance(error, FalClientHTTPError):
        return _http_failure(error, phase, key)
    if isinstance(error, httpx.HTTPStatusError):
        return _plain_http_failure(error.response, phase)
    if phase == "submit" and not isinstance(error, NEVER_SENT):
        return ProviderError(
            "PROVIDER_SUBMIT_UNCERTAIN",
            f"The connection to fal broke after the request was sent ({type(error).__name__}); "
            "fal may have accepted it, so it is not sent again (that could be paid twice)",
        )
    return Transient(type(error).__name__)


def final_failure(error: Exception, *, key: str) -> ProviderError:
    """A result fetch for a request fal marked as failed: nothing to retry."""
    if isinstance(error, FalClientHTTPError):
        if error.status_code == 422:
            return _validation(error, key)
        return ProviderError(
            _code_for(error.error_type), f"fal could not generate the model: {_detail(error, key)}"
        )
    return ProviderError("PROVIDER_FAILED", f"fal could not generate the model ({error})")


def retry_after(headers: dict[str, str] | httpx.Headers) -> float | None:
    """Seconds from a `Retry-After` header (seconds or an HTTP date); None when absent."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value.strip() else None
        return None if parsed is None else max(0.0, parsed.timestamp() - time.time())


def _http_failure(error: FalClientHTTPError, phase: str, key: str) -> Transient | ProviderError:
    status = error.status_code
    if status in (401, 403):
        return ProviderError(
            "PROVIDER_AUTH", f"fal refused the API key (HTTP {status}); check FAL_KEY"
        )
    if status == 422:
        return _validation(error, key)
    if status in TRANSIENT_STATUS or status >= 500:
        return Transient(f"HTTP {status}", retry_after(error.response_headers))
    if status == 404 and phase in ("status", "result", "cancel"):
        return ProviderError(
            "PROVIDER_REQUEST_LOST",
            "fal no longer knows this request (results are kept about an hour)",
        )
    return ProviderError(
        "PROVIDER_REJECTED", f"fal refused the {phase} (HTTP {status}): {_detail(error, key)}"
    )


def _plain_http_failure(response: httpx.Response, phase: str) -> Transient | ProviderError:
    status = response.status_code
    if status in TRANSIENT_STATUS or status >= 500:
        return Transient(f"HTTP {status}", retry_after(response.headers))
    return ProviderError(
        "PROVIDER_RESULT_UNAVAILABLE", f"Downloading the generated file failed (HTTP {status})"
    )


def _validation(error: FalClientHTTPError, key: str) -> ProviderError:
    return ProviderError("PROVIDER_VALIDATION", f"fal rejected the input: {_detail(error, key)}")


def _code_for(error_type: str | None) -> str:
    return "PROVIDER_TIMEOUT" if error_type in TIMEOUT_TYPES else "PROVIDER_FAILED"


def _detail(error: FalClientHTTPError, key: str) -> str:
    """fal's `detail`: a string, or FastAPI-style `[{loc, msg}]` validation entries."""
    detail: Any = error.message
    if isinstance(detail, list):
        parts = []
        for entry in detail:
            if isinstance(entry, dict):
                loc = ".".join(str(p) for p in entry.get("loc", ()) if p != "body")
                parts.append(f"{loc}: {entry.get('msg', '')}" if loc else str(entry.get("msg")))
            else:
                parts.append(str(entry))
        detail = "; ".join(parts)
    text = str(detail).strip() or f"HTTP {error.status_code}"
    if error.error_type:
        text = f"{text} ({error.error_type})"
    return _redact(text[:500], key)


def _redact(text: str, key: str) -> str:
    return text.replace(key, "[FAL_KEY]") if key else text
