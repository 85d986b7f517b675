"""Tiers belong to the platform operator (ADR 0027): a tenant cannot make or change a plan,
meter or revenue share, nor report its own usage; a priced plan gives its tier only once a card
is on file (Stripe Checkout, setup mode, against the local fake Stripe) or the operator grants
it; a dearer plan needs the card; drafts are private, archived plans closed; plans a tenant
made for itself before the change give no tier."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from v100.kit.auth import OPERATOR_TENANT_ID
from v100.kit.db import unit_of_work
from v100.kit.testing.fakes.stripe import FakeStripe
from v100.services.billing_engine.models import Plan, Subscription

from .support import (
    EngineApp,
    Tenant,
    assert_problem,
    create_catalogue,
)

pytestmark = pytest.mark.time_sensitive

ENTERPRISE = {"code": "enterprise", "name": "Enterprise", "base_price": 500_000,
              "tier": "enterprise", "included": {}, "charges": []}  # fmt: skip
FREE = {"code": "starter", "name": "Starter", "base_price": 0, "tier": "free",
        "included": {}, "charges": []}  # fmt: skip


async def _tier(tenant: Tenant) -> str:
    answer = await tenant.get("/v1/subscriptions/current/tier")
    assert answer.status_code == 200, answer.text
    return str(answer.json()["tier"])


async def test_a_tenant_cannot_make_the_catalogue_or_report_its_own_usage(
    engine_app: EngineApp, tenant: Tenant
) -> None:
    # Issue 11, row 2: a tenant made an enterprise plan at price 0 and subscribed to it.
    plan = {**ENTERPRISE, "base_price": 0, "interval": "monthly", "currency": "USD"}
    assert_problem(await tenant.post("/v1/plans", plan), 403, "forbidden")
    meter = {"code": "calls", "aggregation": "count"}
    assert_problem(await tenant.post("/v1/usage/meters", meter), 403, "forbidden")
    share = {"tenant_id": tenant.id, "partner": "Me", "basis": "percent", "percent": "99"}
    assert_problem(await tenant.post("/v1/revenue-shares", share), 403, "forbidden")
    grant = {"tenant_id": tenant.id, "plan": "pro"}
    assert_problem(await tenant.post("/v1/subscriptions/grants", grant), 403, "forbidden")
    # Nor is the operator a tenant that can be put on a plan or share its invoices.
    await create_catalogue(engine_app.operator())
    itself = {"tenant_id": OPERATOR_TENANT_ID, "plan": "pro"}
    answer = await engine_app.operator().post("/v1/subscriptions/grants", itself)
    assert_problem(answer, 422, "validation-failed")
    share = {**share, "tenant_id": OPERATOR_TENANT_ID}
    answer = await engine_app.operator().post("/v1/revenue-shares", share)
    assert_problem(answer, 422, "validation-failed")
    event = {"id": "e1", "meter": "api_calls", "timestamp": "2026-10-10T00:00:00Z"}
    answer = await tenant.post("/v1/usage/events", {"events": [event]})
    assert_problem(answer, 403, "forbidden")
    assert await _tier(tenant) == "free"


async def test_tenants_see_published_plans_only(engine_app: EngineApp, tenant: Tenant) -> None:
    operator = engine_app.operator()
    published = await create_catalogue(operator)
    draft = await create_catalogue(operator, code="private", status="draft")
    assert draft["status"] == "draft"
    listed = [plan["code"] for plan in (await tenant.get("/v1/plans")).json()["items"]]
    assert listed == ["pro"]
    assert (await tenant.get(f"/v1/plans/{published['id']}")).status_code == 200
    assert_problem(await tenant.get(f"/v1/plans/{draft['id']}"), 404, "not-found")
    assert_problem(await tenant.post("/v1/subscriptions", {"plan": "private"}), 422,
                   "validation-failed")  # fmt: skip
    every = [plan["code"] for plan in (await operator.get("/v1/plans")).json()["items"]]
    assert sorted(every) == ["private", "pro"]

    # A draft is a private plan: the operator grants it to one tenant.
    granted = await operator.post(
        "/v1/subscriptions/grants", {"tenant_id": tenant.id, "plan": "private"}
    )
    assert granted.status_code == 200, granted.text
    assert granted.json()["status"] == "active"
    assert granted.json()["payment"] == "granted"
    assert await _tier(tenant) == "pro"

    # Archived: closed to new subscriptions; the one on it carries on.
    archived = await operator.http.patch(
        f"/v1/plans/{draft['id']}", json={"status": "archived"}, headers=operator.headers
    )
    assert archived.status_code == 200, archived.text
    assert archived.json()["status"] == "archived"
    other = engine_app.tenant()
    assert_problem(await other.post("/v1/subscriptions", {"plan": "private"}), 422,
                   "validation-failed")  # fmt: skip
    assert await _tier(tenant) == "pro"
    patch = await tenant.http.patch(
        f"/v1/plans/{draft['id']}", json={"status": "published"}, headers=tenant.headers
    )
    assert_problem(patch, 403, "forbidden")
    null = await operator.http.patch(
        f"/v1/plans/{draft['id']}", json={"name": None}, headers=operator.headers
    )
    assert_problem(null, 422, "validation-failed")


async def test_a_priced_plan_waits_for_the_operators_grant(
    engine_app: EngineApp, tenant: Tenant
) -> None:
    operator = engine_app.operator()
    await create_catalogue(operator, **ENTERPRISE)
    created = await tenant.post("/v1/subscriptions", {"plan": "enterprise"})
    assert created.status_code == 201, created.text
    sub: dict[str, Any] = created.json()
    assert (sub["status"], sub["tier"], sub["payment"]) == ("incomplete", "free", "none")
    assert await _tier(tenant) == "free"
    # Without Stripe there is nowhere to put a card: 501, and nothing changes.
    answer = await tenant.post("/v1/subscriptions/current/checkout", None)
    assert_problem(answer, 501, "not-configured")

    answer = await operator.post(
        "/v1/subscriptions/grants", {"tenant_id": tenant.id, "plan": "enterprise"}
    )
    assert answer.status_code == 200, answer.text
    granted = answer.json()
    assert granted["id"] == sub["id"]
    assert (granted["status"], granted["tier"], granted["payment"]) == (
        "active", "enterprise", "granted"
    )  # fmt: skip
    assert await _tier(tenant) == "enterprise"


async def test_a_dearer_plan_needs_a_card_on_file(engine_app: EngineApp, tenant: Tenant) -> None:
    operator = engine_app.operator()
    await create_catalogue(operator)  # "pro", 2,900 a month
    await create_catalogue(operator, **FREE)
    await create_catalogue(operator, **ENTERPRISE)
    started = await tenant.post("/v1/subscriptions", {"plan": "starter"})
    assert started.json()["status"] == "active"
    change = await tenant.post("/v1/subscriptions/current/change", {"plan": "enterprise"})
    assert_problem(change, 402, "payment-required")
    assert await _tier(tenant) == "free"

    # Granted pro; enterprise costs more still; a move down needs nothing.
    await operator.post("/v1/subscriptions/grants", {"tenant_id": tenant.id, "plan": "pro"})
    assert await _tier(tenant) == "pro"
    change = await tenant.post("/v1/subscriptions/current/change", {"plan": "enterprise"})
    assert_problem(change, 402, "payment-required")
    down = await tenant.post("/v1/subscriptions/current/change", {"plan": "starter"})
    assert down.status_code == 200, down.text
    assert await _tier(tenant) == "free"


async def test_a_card_saved_through_checkout_starts_the_plan_once(
    synced: tuple[EngineApp, FakeStripe],
) -> None:
    engine_app, fake = synced
    tenant = engine_app.tenant()
    await create_catalogue(engine_app.operator(), **ENTERPRISE)
    await tenant.post("/v1/subscriptions", {"plan": "enterprise"})

    opened = await tenant.post("/v1/subscriptions/current/checkout", None, key="setup-1")
    assert opened.status_code == 201, opened.text
    session_id = opened.json()["stripe_session_id"]
    assert opened.json()["url"].endswith(session_id)
    remote = fake.sessions[session_id]
    assert remote["mode"] == "setup"
    assert remote["currency"] == "usd"
    assert remote["customer"].startswith("cus_")
    assert remote["success_url"].startswith("http://127.0.0.1:4000/")
    # The same key gives the same page back (Stripe replays its first answer).
    again = await tenant.post("/v1/subscriptions/current/checkout", None, key="setup-1")
    assert again.json() == opened.json()
    other = await tenant.post("/v1/subscriptions/current/checkout", None, key="setup-2")
    assert other.json()["stripe_session_id"] != session_id

    # An open session is not a card on file.
    early = await fake.deliver(fake.event_for(session_id))
    assert early.json()["outcome"] == "not-complete"
    assert await _tier(tenant) == "free"

    fake.pay(session_id)
    event = fake.event_for(session_id)
    done = await fake.deliver(event)
    assert done.status_code == 200, done.text
    assert done.json()["outcome"] == "activated"
    assert (await fake.deliver(event)).json()["outcome"] == "duplicate"
    sub = (await tenant.get("/v1/subscriptions/current")).json()
    assert (sub["status"], sub["tier"], sub["payment"]) == ("active", "enterprise", "card")
    assert await _tier(tenant) == "enterprise"

    # Another tenant's subscription id in the metadata does nothing for this one.
    stranger = engine_app.tenant()
    await stranger.post("/v1/subscriptions", {"plan": "enterprise"})
    forged = fake.event_for(session_id)
    forged["data"]["object"]["metadata"]["v100_tenant_id"] = stranger.id
    assert (await fake.deliver(forged)).json()["outcome"] == "unknown-subscription"
    assert await _tier(stranger) == "free"


async def test_plans_tenants_made_before_give_no_tier(
    engine_app: EngineApp, tenant: Tenant
) -> None:
    # A row as the old API left it: the tenant's own enterprise plan, and a subscription on it.
    sessions = engine_app.app.state.runtime.sessions
    async with unit_of_work(sessions) as session:
        plan = Plan(tenant_id=tenant.id, code="mine", name="Mine", status="archived",
                    interval="monthly", base_price=0, currency="USD", trial_days=0,
                    tier="enterprise", included={}, charges=[])  # fmt: skip
        session.add(plan)
        await session.flush()
        start = await session.scalar(select(Plan.created_at).where(Plan.id == plan.id))
        assert start is not None
        session.add(Subscription(tenant_id=tenant.id, plan_id=plan.id, status="active",
                                 payment="none", period_start=start, period_end=start,
                                 cancel_at_period_end=False))  # fmt: skip
    assert await _tier(tenant) == "free"
    assert (await tenant.get("/v1/subscriptions/current")).json()["tier"] == "free"
    assert (await tenant.get("/v1/plans")).json()["items"] == []


async def test_a_grant_after_the_period_ended_changes_the_plan_from_the_next(
    engine_app: EngineApp, tenant: Tenant
) -> None:
    operator = engine_app.operator()
    await create_catalogue(operator)
    await create_catalogue(operator, **ENTERPRISE)
    start = (datetime.now(UTC) - timedelta(days=40)).isoformat()
    first = await operator.post(
        "/v1/subscriptions/grants", {"tenant_id": tenant.id, "plan": "pro", "start": start}
    )
    assert first.status_code == 200, first.text
    # Its month has ended and is not invoiced yet: the change is prorated at the period's
    # end (nothing to credit or charge) and the new plan bills from the next period.
    moved = await operator.post(
        "/v1/subscriptions/grants", {"tenant_id": tenant.id, "plan": "enterprise"}
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["plan"], moved.json()["tier"]) == ("enterprise", "enterprise")
    assert moved.json()["period_end"] == first.json()["period_end"]
