"""Idempotency-Key on every billing_engine POST that creates or charges: a retry with the same key
and body gets the first answer (status, body, ``Idempotent-Replayed``) and changes nothing; the
same key with another body is 409; concurrent duplicates create one thing; a refused call
stores nothing; keys are per tenant."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from v100.kit.auth import OPERATOR_TENANT_ID
from v100.services.billing_engine.models import (
    PendingCharge,
    Plan,
    RevenueShare,
    Subscription,
    UsageEvent,
)

from .support import (
    SUBSCRIPTION_START,
    EngineApp,
    Tenant,
    assert_problem,
    card_on_file,
    setup_subscription,
)

pytestmark = pytest.mark.time_sensitive

# Stands for the tenant's id in a body (a revenue share names whose invoices it shares).
TENANT = "<tenant>"


def key() -> str:
    return uuid.uuid4().hex


async def _meter(operator: Tenant) -> None:
    body = {"code": "calls", "name": "Calls", "aggregation": "count"}
    assert (await operator.post("/v1/usage/meters", body)).status_code == 201


async def _plan(operator: Tenant, code: str = "basic", price: int = 1000) -> None:
    body = {"code": code, "name": code, "interval": "monthly", "base_price": price,
            "currency": "USD", "tier": "pro"}  # fmt: skip
    assert (await operator.post("/v1/plans", body)).status_code == 201


async def _count(engine_app: EngineApp, model: Any, tenant_id: str) -> int:
    async with engine_app.app.state.runtime.sessions() as session:
        statement = select(func.count()).select_from(model).where(model.tenant_id == tenant_id)
        return int((await session.execute(statement)).scalar_one())


# (path, first body, another body, the model a replay must not add to, setup, who calls: the
# operator for its catalogue and revenue shares, a platform service for usage, else the tenant)
CASES: list[tuple[str, dict[str, Any], dict[str, Any], Any, str, str]] = [
    (
        "/v1/plans",
        {"code": "p1", "name": "P", "interval": "monthly", "base_price": 500, "currency": "USD",
         "tier": "pro"},
        {"code": "p1", "name": "P", "interval": "monthly", "base_price": 600, "currency": "USD",
         "tier": "pro"},
        Plan,
        "",
        "operator",
    ),
    (
        "/v1/usage/events",
        {"events": [{"id": "e1", "meter": "calls", "timestamp": "2026-10-02T00:00:00Z"}]},
        {"events": [{"id": "e2", "meter": "calls", "timestamp": "2026-10-02T00:00:00Z"}]},
        UsageEvent,
        "meter",
        "service",
    ),
    (
        "/v1/subscriptions",
        {"plan": "basic", "start": SUBSCRIPTION_START},
        {"plan": "basic", "start": "2026-10-02T00:00:00Z"},
        Subscription,
        "plan",
        "tenant",
    ),
    (
        "/v1/revenue-shares",
        {"tenant_id": TENANT, "partner": "acme", "basis": "percent", "percent": "10"},
        {"tenant_id": TENANT, "partner": "acme", "basis": "percent", "percent": "20"},
        RevenueShare,
        "",
        "operator",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("path", "body", "other", "model", "setup", "who"), CASES)
async def test_a_retry_gets_the_first_answer_and_another_body_is_409(
    engine_app: EngineApp,
    tenant: Tenant,
    path: str,
    body: dict[str, Any],
    other: dict[str, Any],
    model: Any,
    setup: str,
    who: str,
) -> None:
    operator = engine_app.operator()
    if setup == "meter":
        await _meter(operator)
    if setup == "plan":
        await _plan(operator)
    caller = {"operator": operator, "service": engine_app.service(tenant), "tenant": tenant}[who]
    body, other = (
        {k: tenant.id if v == TENANT else v for k, v in b.items()} for b in (body, other)
    )
    # Whose rows: the operator's plans, the tenant's usage, subscription and revenue shares.
    owner = OPERATOR_TENANT_ID if model is Plan else tenant.id
    k = key()
    first = await caller.post(path, body, key=k)
    assert first.status_code in (200, 201), first.text
    rows = await _count(engine_app, model, owner)
    again = await caller.post(path, body, key=k)
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await _count(engine_app, model, owner) == rows
    conflict = assert_problem(await caller.post(path, other, key=k), 409, "idempotency-key-reused")
    assert k in conflict["detail"]
    assert await _count(engine_app, model, owner) == rows


async def test_usage_replay_says_accepted_again_not_duplicate(
    engine_app: EngineApp, tenant: Tenant
) -> None:
    await _meter(engine_app.operator())
    service = engine_app.service(tenant)
    body = {"events": [{"id": "u1", "meter": "calls", "timestamp": "2026-10-02T00:00:00Z"}]}
    k = key()
    first = (await service.post("/v1/usage/events", body, key=k)).json()
    assert first["accepted"] == 1
    # Same key: the first answer. No key: the event id still deduplicates.
    assert (await service.post("/v1/usage/events", body, key=k)).json() == first
    assert (await service.post("/v1/usage/events", body)).json()["duplicates"] == 1


async def test_plan_change_and_cancel_happen_once(engine_app: EngineApp, tenant: Tenant) -> None:
    await setup_subscription(engine_app, tenant)
    await _plan(engine_app.operator(), "max", 5800)
    await card_on_file(engine_app, tenant)  # a dearer plan needs one
    change = {"plan": "max", "proration_date": "2026-10-16T12:00:00Z"}
    k = key()
    first = await tenant.post("/v1/subscriptions/current/change", change, key=k)
    assert first.status_code == 200, first.text
    again = await tenant.post("/v1/subscriptions/current/change", change, key=k)
    assert again.json() == first.json()
    # Without the key, the same change is refused: it is a second change, not a retry.
    assert_problem(await tenant.post("/v1/subscriptions/current/change", change), 409, "conflict")
    assert await _count(engine_app, PendingCharge, tenant.id) == 2  # one credit, one charge
    k = key()
    canceled = await tenant.post("/v1/subscriptions/current/cancel", {}, key=k)
    assert canceled.json()["cancel_at_period_end"] is True
    replay = await tenant.post("/v1/subscriptions/current/cancel", {}, key=k)
    assert (replay.status_code, replay.json()) == (200, canceled.json())


async def test_concurrent_duplicates_create_one_subscription(
    engine_app: EngineApp, tenant: Tenant
) -> None:
    await _plan(engine_app.operator())
    k = key()
    body = {"plan": "basic", "start": SUBSCRIPTION_START}
    answers = await asyncio.gather(
        *(tenant.post("/v1/subscriptions", body, key=k) for _ in range(6))
    )
    ok = [a for a in answers if a.status_code == 201]
    assert ok, [a.text for a in answers]
    assert len({a.json()["id"] for a in ok}) == 1
    for other in answers:
        if other.status_code != 201:  # only while the first is running, and it says so
            assert_problem(other, 409, "idempotency-key-in-use")
    assert await _count(engine_app, Subscription, tenant.id) == 1


async def test_a_refused_call_stores_nothing_and_keys_are_per_tenant(
    engine_app: EngineApp, tenant: Tenant
) -> None:
    k = key()
    body = {"plan": "basic", "start": SUBSCRIPTION_START}
    # No plan yet: refused, and the key stays free.
    assert_problem(await tenant.post("/v1/subscriptions", body, key=k), 422, "validation-failed")
    await _plan(engine_app.operator())
    assert (await tenant.post("/v1/subscriptions", body, key=k)).status_code == 201
    # Another tenant's identical key and body (the same operator plan) is its own call.
    other = engine_app.tenant()
    created = await other.post("/v1/subscriptions", body, key=k)
    assert created.status_code == 201
    assert "idempotent-replayed" not in created.headers


async def test_bad_keys_are_refused(engine_app: EngineApp, tenant: Tenant) -> None:
    body = {"tenant_id": tenant.id, "partner": "acme", "basis": "percent", "percent": "10"}
    operator = engine_app.operator()
    for bad in ("", "x" * 256, "has space"):
        assert_problem(await operator.post("/v1/revenue-shares", body, key=bad), 422,
                       "validation-failed")  # fmt: skip
    # Only the bad key was wrong: the same call with a good one is taken.
    assert (await operator.post("/v1/revenue-shares", body, key=key())).status_code == 201
