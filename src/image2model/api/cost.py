"""What a job is expected to cost, the MAX_COST_PER_JOB check, and what its submits cost."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from image2model.errors import InvalidField
from image2model.jobs.models import Job, JobCost, JobOptions
from image2model.providers.fal.prices import Price, PriceBook


async def estimate(prices: PriceBook, options: JobOptions, items: int) -> JobCost:
    """The cost of `items` requests with `options`, or why it cannot be told."""
    if options.provider == "local":
        return JobCost(
            amount=0.0,
            currency="USD",
            per_item=0.0,
            items=items,
            note="The offline generator runs on this server and costs nothing per request",
        )
    if options.provider != "fal":
        return JobCost(
            amount=None, items=items, note=f"No price is known for provider {options.provider}"
        )
    model = options.model or ""
    price = await prices.price(model)
    if price is None:
        note = (
            f"fal's price for {model} is not known: its pricing API did not answer for it, "
            "and FAL_PRICES does not name it"
        )
        return JobCost(amount=None, items=items, note=note)
    if not price.per_request:
        note = (
            f"fal prices {model} per {price.unit}, which depends on what each request asks "
            "for, so the job's cost cannot be estimated"
        )
        return JobCost(amount=None, items=items, note=note)
    return JobCost(
        amount=round(price.amount * items, 4),
        currency=price.currency,
        per_item=price.amount,
        items=items,
        price_read_at=price.read_at,
        price_source=price.source,
        note=(
            f"{items} × {price.amount:g} {price.currency} ({_source(price)}, "
            f"read {_date(price.read_at)})"
        ),
    )


def check_budget(cost: JobCost, limit: float | None) -> None:
    """Refuse a job over MAX_COST_PER_JOB, or one whose cost cannot be told while it is set."""
    if limit is None:
        return
    details: dict[str, Any] = {"max_cost_per_job": limit, "estimated_cost": cost.amount}
    if cost.amount is None:
        raise InvalidField(
            f"MAX_COST_PER_JOB ({limit:g}) is set and this job's cost cannot be estimated: "
            f"{cost.note}",
            error_code="COST_UNKNOWN",
            details=details,
        )
    if cost.amount > limit:
        raise InvalidField(
            f"This job would cost about {cost.amount:g} {cost.currency} ({cost.note}), over "
            f"MAX_COST_PER_JOB ({limit:g}); send fewer images or choose a cheaper model",
            error_code="OVER_BUDGET",
            details=details,
        )


def spent(job: Job) -> dict[str, Any] | None:
    """What was submitted to the provider so far, at the price the job was queued with."""
    cost = job.cost
    if cost is None:
        return None
    if job.options.provider == "local":
        submitted = sum(1 for item in job.items if item.started_at is not None)
    else:
        submitted = sum(1 for item in job.items if item.provider_state.get("request_id"))
    amount = None if cost.per_item is None else round(cost.per_item * submitted, 4)
    return {"submitted_items": submitted, "submitted_amount": amount}


def price_out(price: Price | None) -> dict[str, Any] | None:
    """A price as `/models/available` shows it."""
    if price is None:
        return None
    return {
        "amount": price.amount,
        "unit": price.unit,
        "currency": price.currency,
        "read_at": _date(price.read_at),
        "source": price.source,
    }


def _source(price: Price) -> str:
    return "fal's price for this account" if price.source == "fal" else "this server's FAL_PRICES"


def _date(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
