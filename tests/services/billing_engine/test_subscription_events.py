"""``subscription.changed`` on the bus (what the gateway refreshes a tenant's tier from): published
after the commit of each subscribe, grant (activation), plan change, cancellation and renewal,
with the tier then in force; nothing for a change that was refused. Periods are in 2036, so the
app's own scheduled invoicing run (every 5 minutes, at today's date) never invoices them in the
middle of a test."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from v100.contracts.events import SUBSCRIPTION_CHANGED, SUBSCRIPTIONS_STREAM, SubscriptionChanged
from v100.kit.bus import Bus
from v100.services.billing_engine.invoicing import run_invoicing

from .support import EngineApp, Tenant, assert_problem, subscribe

pytestmark = pytest.mark.time_sensitive


async def _plan(engine_app: EngineApp, code: str, tier: str) -> None:
    """The operator's plan (priced: a subscription to it stands once granted)."""
    body = {"code": code, "name": code, "interval": "monthly", "base_price": 1000,
            "currency": "USD", "tier": tier}  # fmt: skip
    created = await engine_app.operator().post("/v1/plans", body)
    assert created.status_code == 201, created.text


async def _changes(bus: Bus, group: str, tenant_id: str) -> list[dict[str, Any]]:
    """The tenant's events read so far by ``group`` (the stream is shared with other tests)."""
    seen: list[dict[str, Any]] = []
    while messages := await bus.read(SUBSCRIPTIONS_STREAM, group, "test", count=100):
        await bus.ack(SUBSCRIPTIONS_STREAM, group, *(m.id for m in messages))
        for message in messages:
            event = message.event
            if event.tenant_id == tenant_id:
                assert event.type == SUBSCRIPTION_CHANGED
                assert event.source == "billing_engine"
                payload = SubscriptionChanged.model_validate(event.data)
                seen.append(payload.model_dump())
    return seen


async def test_each_change_is_announced_with_the_tier_in_force(
    engine_app: EngineApp, tenant: Tenant
) -> None:
    bus = engine_app.app.state.runtime.bus
    group = f"test-{uuid.uuid4().hex[:8]}"
    await bus.ensure_group(SUBSCRIPTIONS_STREAM, group, from_start=False)
    await _plan(engine_app, "pro", "pro")
    await _plan(engine_app, "business", "business")

    # Subscribed (incomplete, no tier yet), then granted by the operator from October.
    created = await subscribe(engine_app, tenant, "pro", start="2036-10-01T00:00:00Z")
    # Refused (one live subscription per tenant): rolled back, so not announced.
    body = {"plan": "pro", "start": "2036-10-01T00:00:00Z"}
    assert_problem(await tenant.post("/v1/subscriptions", body), 409, "conflict")
    change = {"plan": "business", "proration_date": "2036-10-16T00:00:00Z"}
    assert (await tenant.post("/v1/subscriptions/current/change", change)).status_code == 200
    assert (await tenant.post("/v1/subscriptions/current/cancel", {})).status_code == 200
    sessions = engine_app.app.state.runtime.sessions
    # October is invoiced, and the cancellation applies at its end.
    assert (await run_invoicing(sessions, datetime(2036, 11, 2, tzinfo=UTC), bus=bus)).invoiced

    changes = await _changes(bus, group, tenant.id)
    assert [(c["change"], c["plan"], c["tier"], c["status"]) for c in changes] == [
        ("created", "pro", "free", "incomplete"),
        ("activated", "pro", "pro", "active"),
        ("plan_changed", "business", "business", "active"),
        ("cancel_scheduled", "business", "business", "active"),
        ("canceled", "business", "free", "canceled"),
    ]
    assert {c["subscription_id"] for c in changes} == {created["id"]}
    assert (await tenant.get("/v1/subscriptions/current/tier")).json()["tier"] == "free"


async def test_a_renewal_is_announced(engine_app: EngineApp, tenant: Tenant) -> None:
    bus = engine_app.app.state.runtime.bus
    group = f"test-{uuid.uuid4().hex[:8]}"
    await bus.ensure_group(SUBSCRIPTIONS_STREAM, group, from_start=False)
    await _plan(engine_app, "pro", "pro")
    await subscribe(engine_app, tenant, "pro", start="2036-10-01T00:00:00Z")
    sessions = engine_app.app.state.runtime.sessions
    assert (await run_invoicing(sessions, datetime(2036, 11, 2, tzinfo=UTC), bus=bus)).invoiced
    # Without a bus (as before), nothing is published: the run itself is unchanged.
    assert (await run_invoicing(sessions, datetime(2036, 12, 2, tzinfo=UTC))).invoiced
    changes = await _changes(bus, group, tenant.id)
    assert [(c["change"], c["tier"]) for c in changes] == [
        ("created", "free"),
        ("activated", "pro"),
        ("renewed", "pro"),
    ]
