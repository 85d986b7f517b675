"""Subscriptions: trials, proration examples (to the second), cancel at period end, the tier."""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from v100.services.billing_engine.subscriptions import add_interval, add_months, prorate

from .support import EngineApp, Tenant, assert_problem, card_on_file, subscribe

pytestmark = pytest.mark.time_sensitive

START = "2026-11-01T00:00:00Z"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def make_plan(engine_app: EngineApp, code: str, price: int, tier: str, **fields: Any) -> None:
    """A plan of the operator's catalogue (published)."""
    body = {
        "code": code,
        "name": code.title(),
        "interval": "monthly",
        "base_price": price,
        "currency": "USD",
        "tier": tier,
        **fields,
    }
    response = await engine_app.operator().post("/v1/plans", body)
    assert response.status_code == 201, response.text


def test_periods() -> None:
    assert add_months(at("2026-01-31T10:00:00Z"), 1) == at("2026-02-28T10:00:00Z")
    assert add_months(at("2026-12-15T00:00:00Z"), 1) == at("2027-01-15T00:00:00Z")
    assert add_interval(at("2028-02-29T00:00:00Z"), "annual") == at("2029-02-28T00:00:00Z")


def test_proration_examples() -> None:
    # November has 30 days; upgrading $10 -> $30 with 15 days left: credit $5, charge $15.
    p = prorate(1000, 3000, at(START), at("2026-12-01T00:00:00Z"), at("2026-11-16T00:00:00Z"))
    assert (p.credit, p.charge, p.fraction) == (-500, 1500, Decimal("0.5"))
    # Downgrade with 10 days left: credit a third of $30, charge a third of $10, half up.
    p = prorate(3000, 1000, at(START), at("2026-12-01T00:00:00Z"), at("2026-11-21T00:00:00Z"))
    assert (p.credit, p.charge) == (-1000, 333)
    # To the second: a 30-day period is 2,592,000 s; at one cent a second, one second left
    # charges one cent, and a tenth of a cent a second rounds to nothing.
    end = at("2026-12-01T00:00:00Z")
    assert prorate(0, 2592000, at(START), end, at("2026-11-30T23:59:59Z")).charge == 1
    assert prorate(0, 259200, at(START), end, at("2026-11-30T23:59:59Z")).charge == 0
    with pytest.raises(ValueError, match="within"):
        prorate(1, 1, at(START), at("2026-12-01T00:00:00Z"), at("2026-12-02T00:00:00Z"))


async def test_tier_follows_the_subscription(engine_app: EngineApp, tenant: Tenant) -> None:
    assert (await tenant.get("/v1/subscriptions/current/tier")).json() == {
        "tier": "free",
        "subscription_id": None,
    }
    assert_problem(await tenant.get("/v1/subscriptions/current"), 404, "not-found")
    await make_plan(engine_app, "pro", 2900, "pro", trial_days=14)
    # A priced plan: incomplete (no tier) until granted, then its trial from the start.
    sub = await subscribe(engine_app, tenant, "pro", start=START)
    assert (sub["status"], sub["payment"]) == ("trialing", "granted")
    assert at(sub["trial_end"]) == at(sub["period_end"]) == at("2026-11-15T00:00:00Z")
    tier = (await tenant.get("/v1/subscriptions/current/tier")).json()
    assert tier == {"tier": "pro", "subscription_id": sub["id"]}
    # One live subscription per tenant.
    again = await tenant.post("/v1/subscriptions", {"plan": "pro"})
    assert_problem(again, 409, "conflict")


async def test_upgrade_prorates_and_changes_tier(engine_app: EngineApp, tenant: Tenant) -> None:
    await make_plan(engine_app, "pro", 1000, "pro")
    await make_plan(engine_app, "business", 3000, "business")
    await subscribe(engine_app, tenant, "pro", start=START)
    body = {"plan": "business", "proration_date": "2026-11-16T00:00:00Z"}
    # A dearer plan needs a card on file (a grant does not pay for the upgrade).
    refused = await tenant.post("/v1/subscriptions/current/change", body)
    assert_problem(refused, 402, "payment-required")
    await card_on_file(engine_app, tenant)
    changed = await tenant.post("/v1/subscriptions/current/change", body)
    assert changed.status_code == 200, changed.text
    assert changed.json()["proration"] == {"credit": -500, "charge": 1500, "fraction": "0.5"}
    assert changed.json()["subscription"]["plan"] == "business"
    assert (await tenant.get("/v1/subscriptions/current/tier")).json()["tier"] == "business"
    outside = {"plan": "pro", "proration_date": "2027-05-01T00:00:00Z"}
    assert_problem(
        await tenant.post("/v1/subscriptions/current/change", outside), 422, "validation-failed"
    )


async def test_cancel_at_period_end(engine_app: EngineApp, tenant: Tenant) -> None:
    await make_plan(engine_app, "pro", 1000, "pro")
    await subscribe(engine_app, tenant, "pro")
    canceled = (await tenant.post("/v1/subscriptions/current/cancel", {})).json()
    assert canceled["cancel_at_period_end"] is True
    assert canceled["status"] == "active"  # still live until the period ends


async def test_subscriptions_are_per_tenant(engine_app: EngineApp) -> None:
    alice, bob = engine_app.tenant(), engine_app.tenant()
    await make_plan(engine_app, "pro", 1000, "pro")
    await make_plan(engine_app, "secret", 1000, "business", status="draft")
    alices = await subscribe(engine_app, alice, "pro")
    assert (await bob.get("/v1/subscriptions/current/tier")).json()["tier"] == "free"
    assert_problem(await bob.get("/v1/subscriptions/current"), 404, "not-found")
    # Bob cannot subscribe to a plan not published to tenants (a draft).
    assert_problem(
        await bob.post("/v1/subscriptions", {"plan": "secret"}), 422, "validation-failed"
    )
    # The same published plan is open to him: a subscription of his own.
    bobs = await subscribe(engine_app, bob, "pro")
    assert bobs["id"] != alices["id"]
    assert (await alice.get("/v1/subscriptions/current")).json()["id"] == alices["id"]
    assert (await bob.get("/v1/subscriptions/current")).json()["id"] == bobs["id"]


async def test_racing_creates_make_one_subscription(engine_app: EngineApp, tenant: Tenant) -> None:
    await make_plan(engine_app, "pro", 1000, "pro")
    answers = await asyncio.gather(
        *(tenant.post("/v1/subscriptions", {"plan": "pro"}) for _ in range(5))
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201, 409, 409, 409, 409]
    for answer in answers:
        if answer.status_code == 409:
            assert_problem(answer, 409, "conflict")
