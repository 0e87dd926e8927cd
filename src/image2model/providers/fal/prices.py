"""What each fal model costs this account: fal's pricing API, read now and then, or FAL_PRICES.

fal publishes a unit price per endpoint (`GET https://api.fal.ai/v1/models/pricing`, with the
account's key, so custom prices and discounts are included). A price is kept with the time it
was read and used for `FAL_PRICES_MAX_AGE` seconds; a failed read is tried again after
`RETRY_AFTER_FAILURE`. The API starts the first read when it starts (`start`), so the first
upload rarely waits on it. `FAL_PRICES` (USD per request) takes the place of fal's answer for the
endpoints it names.

Only a price per request (per generation, per model) estimates a job: a price per credit or
per second depends on what the request asks for, so such a model's estimate is unknown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

import httpx

from image2model.config import Settings

log = logging.getLogger(__name__)

API_URL = "https://api.fal.ai"
PRICING_PATH = "/v1/models/pricing"
IDS_PER_REQUEST = 50
"""fal answers for at most 50 endpoint ids at a time."""
RETRY_AFTER_FAILURE = 300.0
READ_TIMEOUT = 3.0
PER_REQUEST_UNITS = frozenset({"request", "generation", "model", "3d model"})


@dataclass(frozen=True)
class Price:
    amount: float
    """Per `unit`, in `currency`."""
    unit: str
    currency: str
    read_at: float
    """When fal said so (epoch seconds); for FAL_PRICES, when the server read its settings."""
    source: str
    """`fal` (its pricing API) or `FAL_PRICES`."""

    @property
    def per_request(self) -> bool:
        return self.unit.lower().removesuffix("s") in PER_REQUEST_UNITS


class PriceBook:
    """fal's prices for the catalogue's endpoints, read on first use and again when stale."""

    def __init__(self, settings: Settings, endpoints: Iterable[str]) -> None:
        self.settings = settings
        self.endpoints = tuple(endpoints)
        self._read: dict[str, Price] = {}
        self._read_at: float | None = None
        self._failed_at: float | None = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[dict[str, Price]] | None = None
        started = time.time()
        self._fixed = {
            endpoint: Price(usd, "request", "USD", started, "FAL_PRICES")
            for endpoint, usd in settings.FAL_PRICES.items()
        }

    def start(self) -> None:
        """Read fal's prices in the background now, when there is a key to read them with."""
        if self.settings.fal_configured and self._task is None:
            self._task = asyncio.create_task(self.prices(), name="fal-prices")

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def prices(self) -> dict[str, Price]:
        """Every known price, reading fal's again first when they are stale."""
        if self.settings.fal_configured and self._stale():
            async with self._lock:
                if self._stale():
                    await self._refresh()
        return {**self._read, **self._fixed}

    async def price(self, endpoint: str) -> Price | None:
        return (await self.prices()).get(endpoint)

    def _stale(self) -> bool:
        now = time.time()
        if self._failed_at is not None and now - self._failed_at < RETRY_AFTER_FAILURE:
            return False
        return self._read_at is None or now - self._read_at > self.settings.FAL_PRICES_MAX_AGE

    async def _refresh(self) -> None:
        wanted = [e for e in self.endpoints if e not in self._fixed]
        try:
            read = await self._fetch(wanted)
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as error:
            self._failed_at = time.time()
            log.warning(
                "fal.prices.unavailable error=%s: estimates stay unknown for %d s",
                _describe(error),
                RETRY_AFTER_FAILURE,
            )
            return
        self._read, self._read_at, self._failed_at = read, time.time(), None
        log.info("fal.prices.read endpoints=%d", len(read))

    async def _fetch(self, endpoints: list[str]) -> dict[str, Price]:
        assert self.settings.FAL_KEY is not None
        headers = {"Authorization": f"Key {self.settings.FAL_KEY.get_secret_value()}"}
        url = _api_base(self.settings.FAL_API_HOST) + PRICING_PATH
        read: dict[str, Price] = {}
        async with httpx.AsyncClient(timeout=READ_TIMEOUT, headers=headers) as client:
            for start in range(0, len(endpoints), IDS_PER_REQUEST):
                chunk = endpoints[start : start + IDS_PER_REQUEST]
                response = await client.get(url, params={"endpoint_id": ",".join(chunk)})
                response.raise_for_status()
                now = time.time()
                for row in response.json()["prices"]:
                    read[str(row["endpoint_id"])] = Price(
                        amount=float(row["unit_price"]),
                        unit=str(row["unit"]),
                        currency=str(row.get("currency") or "USD"),
                        read_at=now,
                        source="fal",
                    )
        return read


def _api_base(host: str | None) -> str:
    if not host:
        return API_URL
    base = host if host.startswith(("https://", "http://")) else f"https://{host}"
    return base.rstrip("/")


def _describe(error: Exception) -> str:
    """One line without the request's headers (the key)."""
    if isinstance(error, httpx.HTTPStatusError):
        return f"HTTP {error.response.status_code}"
    return type(error).__name__
