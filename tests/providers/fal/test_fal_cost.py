"""What a job costs: fal's price for the account (its pricing API, on the fake), FAL_PRICES in
its place, the estimate on upload, MAX_COST_PER_JOB, and what the submits of a job cost."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.conftest import Stack, image_bytes
from tests.jobs.test_batch_e2e import upload
from tests.providers.fal.test_fal_batch import run_job
from tests.support.fake_fal import TRIPO, FakeFal

HUNYUAN = "fal-ai/hunyuan3d/v2"


def images(count: int) -> list[tuple[str, bytes]]:
    return [(f"toy{i}.png", image_bytes((40 * i, 90, 200))) for i in range(count)]


def post(stack: Stack, count: int, **fields: str) -> Any:
    with stack.client() as client:
        files = [("files", (name, data, "image/png")) for name, data in images(count)]
        return client.post("/api/v1/upload/", files=files, data=fields)


def test_the_estimate_uses_the_accounts_price_and_the_job_says_what_was_spent(
    fal_stack: Callable[..., Stack], fal: FakeFal
) -> None:
    fal.prices = {TRIPO: (0.3, "generations"), HUNYUAN: (0.16, "requests")}
    stack = fal_stack()
    with stack.client() as client:
        listed = client.get("/api/v1/models/providers").json()
    fal_models = next(p for p in listed["providers"] if p["name"] == "fal")["models"]
    prices = {m["id"]: m["price"] for m in fal_models}
    assert prices[TRIPO]["amount"] == 0.3 and prices[TRIPO]["source"] == "fal"
    assert prices[TRIPO]["read_at"].endswith("Z")
    assert prices["fal-ai/triposr"] is None  # fal said nothing of it

    stack.start_worker(concurrency=3)
    done = run_job(stack, images(3))
    estimate = done["job"]["estimated_cost"]
    assert estimate["amount"] == 0.9 and estimate["per_item"] == 0.3
    assert estimate["currency"] == "USD" and estimate["items"] == 3
    assert estimate["price_source"] == "fal" and "3 × 0.3 USD" in estimate["note"]
    assert done["events"][-1].event == "task_completed"
    with stack.client() as client:
        document = client.get(f"/api/v1/models/job/{done['job']['job_id']}").json()
    assert document["cost"]["amount"] == 0.9
    assert document["cost"]["submitted_items"] == 3
    assert document["cost"]["submitted_amount"] == 0.9

    second = upload(stack, images(2), model=HUNYUAN)
    assert second["estimated_cost"]["amount"] == 0.32
    assert len(fal.entries("pricing")) == 1  # read once, then kept


def test_max_cost_per_job_refuses_a_job_over_budget_before_anything_is_paid(
    fal_stack: Callable[..., Stack], fal: FakeFal
) -> None:
    fal.prices = {TRIPO: (0.3, "generations")}
    stack = fal_stack(MAX_COST_PER_JOB="0.5")
    refused = post(stack, 2)
    assert refused.status_code == 422, refused.text
    error = refused.json()
    assert error["error_code"] == "OVER_BUDGET"
    assert "0.6 USD" in error["message"] and "MAX_COST_PER_JOB (0.5)" in error["message"]
    assert post(stack, 1).status_code == 202
    assert fal.accepted() == []  # no worker ran: the refusal was at the door


def test_an_unknown_price_is_said_and_blocks_a_budget(
    fal_stack: Callable[..., Stack], fal: FakeFal
) -> None:
    fal.prices = {HUNYUAN: (12.0, "credits")}
    stack = fal_stack()
    unknown = upload(stack, images(1))
    assert unknown["estimated_cost"]["amount"] is None
    assert "not known" in unknown["estimated_cost"]["note"]
    per_credit = upload(stack, images(1), model=HUNYUAN)
    assert per_credit["estimated_cost"]["amount"] is None
    assert "per credits" in per_credit["estimated_cost"]["note"]

    budget = fal_stack(MAX_COST_PER_JOB="10")
    refused = post(budget, 1)
    assert refused.status_code == 422
    assert refused.json()["error_code"] == "COST_UNKNOWN"


def test_fal_prices_take_the_place_of_what_fal_says(
    fal_stack: Callable[..., Stack], fal: FakeFal
) -> None:
    fal.prices = {TRIPO: (0.3, "generations")}
    stack = fal_stack(FAL_PRICES=f"{TRIPO}=0.25", MAX_COST_PER_JOB="1")
    job = upload(stack, images(4))
    assert job["estimated_cost"]["amount"] == 1.0
    assert job["estimated_cost"]["price_source"] == "FAL_PRICES"
    assert post(stack, 5).json()["error_code"] == "OVER_BUDGET"


def test_the_offline_generator_costs_nothing(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack(DEFAULT_PROVIDER="local", MAX_COST_PER_JOB="0.01")
    job = upload(stack, images(2))
    assert job["estimated_cost"]["amount"] == 0.0
