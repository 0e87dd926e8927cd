"""fal's queue API through fal-client, one HTTP request per call, with our own retry policy.

fal-client's `SyncClient.submit/status/result/cancel` retry inside the library (up to 10 times,
0.1 s apart, ignoring `Retry-After`), including a submit that timed out after fal may already
have accepted it: that can pay twice. So each call here is exactly one request through
fal-client's own pieces, and `FalRun` decides what to retry:
- `SyncClient(key=…)._client`: the authenticated httpx client with fal's backup-domain transport;
- `fal_client.client._request`: one request, fal's error parsing (`FalClientHTTPError` with
  `status_code`, `error_type`, headers);
- `SyncRequestHandle` and its `_parse_status`: fal's `Queued` / `InProgress` / `Completed`;
- `_raise_for_status` for the status stream, which `httpx_sse` (fal-client's own SSE reader)
  opens.
These are private names of fal-client 1.x (pinned `<2`); the fake-fal tests exercise each one.

Hosts: fal-client reads `FAL_QUEUE_RUN_HOST` at import and always uses `https://`. The submit URL
is built here from our `FAL_QUEUE_HOST` setting instead (default: fal-client's own), and
status/result/cancel use the URLs the submit response returned, so no environment variable
has to be set before importing fal-client.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any

import fal_client
import httpx
from fal_client.client import QUEUE_URL_FORMAT, _raise_for_status, _request
from httpx_sse import EventSource, connect_sse


def queue_base(host: str | None) -> str:
    """`https://host[:port][/prefix]/` from our setting, or fal-client's default queue URL."""
    if not host:
        return QUEUE_URL_FORMAT
    base = host if host.startswith(("https://", "http://")) else f"https://{host}"
    return base.rstrip("/") + "/"


class FalQueue:
    """Submit, status, result and cancel: one HTTP request each, errors left to the caller."""

    def __init__(self, key: str, *, host: str | None, timeout: float) -> None:
        self._key = key
        self.base = queue_base(host)
        self.timeout = timeout

    @cached_property
    def _http(self) -> httpx.Client:
        # Made on first use, so each worker process (after the fork) gets its own connections.
        client: httpx.Client = fal_client.SyncClient(
            key=self._key, default_timeout=self.timeout
        )._client
        return client

    def submit(self, endpoint: str, arguments: dict[str, Any]) -> fal_client.SyncRequestHandle:
        response = _request(
            self._http, "POST", self.base + endpoint, json=arguments, timeout=self.timeout
        )
        data = response.json()
        return self.handle(data)

    def handle(self, saved: dict[str, Any]) -> fal_client.SyncRequestHandle:
        """A handle from a submit response or from the state saved on the item."""
        return fal_client.SyncRequestHandle(
            request_id=str(saved["request_id"]),
            response_url=str(saved["response_url"]),
            status_url=str(saved["status_url"]),
            cancel_url=str(saved["cancel_url"]),
            client=self._http,
        )

    def status(self, handle: fal_client.SyncRequestHandle) -> fal_client.Status:
        response = _request(
            self._http, "GET", handle.status_url, params={"logs": 1}, timeout=self.timeout
        )
        return handle._parse_status(response.json())

    @contextmanager
    def status_stream(self, handle: fal_client.SyncRequestHandle) -> Iterator[EventSource]:
        """The request's status as server-sent events (`…/status/stream`); fal errors raised
        as `status` raises them."""
        url = handle.status_url + "/stream"
        params = {"logs": 1}
        with connect_sse(self._http, "GET", url, params=params, timeout=self.timeout) as source:
            if source.response.is_error:
                source.response.read()
                _raise_for_status(source.response)
            yield source

    def result(self, handle: fal_client.SyncRequestHandle) -> dict[str, Any]:
        response = _request(self._http, "GET", handle.response_url, timeout=self.timeout)
        data: dict[str, Any] = response.json()
        return data

    def cancel(self, handle: fal_client.SyncRequestHandle) -> None:
        _request(self._http, "PUT", handle.cancel_url, timeout=self.timeout)
