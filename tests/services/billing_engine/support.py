"""Helpers for the billing engine's tests: a tenant that sends requests with a real internal
token, the running app, and the problem+json assertion."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI

from v100.kit.auth import OPERATOR_TENANT_ID, Principal
from v100.kit.db import unit_of_work
from v100.kit.testing.http import auth_headers
from v100.services.billing_engine.settings import BillingEngineSettings
from v100.services.billing_engine.stripe_sync import CARD_SAVED, handle_event

INTERNAL_SECRET = "internal-secret-for-billing-engine-tests-0123"
WEBHOOK_SECRET = "whsec_test_billing_engine"


@dataclass
class Tenant:
    id: str
    http: httpx.AsyncClient
    headers: dict[str, str]

    async def post(self, path: str, body: Any, *, key: str | None = None) -> httpx.Response:
        """POST as this tenant; with ``key``, as an idempotent call (``Idempotency-Key``)."""
        headers = self.headers if key is None else {**self.headers, "Idempotency-Key": key}
        return await self.http.post(path, json=body, headers=headers)

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.http.get(path, params=params, headers=self.headers)


@dataclass
class EngineApp:
    app: FastAPI
    http: httpx.AsyncClient
    settings: BillingEngineSettings

    def tenant(self, tenant_id: str | None = None, scopes: tuple[str, ...] = ("*",)) -> Tenant:
        tenant_id = tenant_id or str(uuid.uuid4())
        principal = Principal(tenant_id=tenant_id, user_id="u1", scopes=frozenset(scopes))
        return Tenant(tenant_id, self.http, auth_headers(self.app, principal))

    def operator(self) -> Tenant:
        """The platform's operator, as the gateway passes on an operator key (ADR 0027)."""
        principal = Principal(
            tenant_id=OPERATOR_TENANT_ID, scopes=frozenset({"operator:billing"}), role="operator"
        )
        return Tenant(OPERATOR_TENANT_ID, self.http, auth_headers(self.app, principal))

    def service(self, tenant: Tenant) -> Tenant:
        """A platform service reporting usage for ``tenant`` with its internal identity."""
        principal = Principal(tenant_id=tenant.id, scopes=frozenset({"service:usage"}))
        return Tenant(tenant.id, self.http, auth_headers(self.app, principal))


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    """``response`` is an RFC 9457 problem with this status and stable type."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == f"/problems/{slug}"
    return body


# --- a subscription with usage, for the invoice and revenue-share tests ----------------

SUBSCRIPTION_START = "2026-10-01T00:00:00Z"
AFTER_PERIOD = datetime(2026, 11, 1, 1, tzinfo=UTC)


async def create_catalogue(operator: Tenant, **plan: Any) -> dict[str, Any]:
    """The operator's meters and its "pro" plan (``plan`` overrides its fields)."""
    for body in (
        {"code": "api_calls", "name": "API calls", "aggregation": "count"},
        {"code": "storage", "aggregation": "max", "property": "gb"},
    ):
        created = await operator.post("/v1/usage/meters", body)
        assert created.status_code in (201, 409), created.text
    plan_body = {
        "code": "pro",
        "name": "Pro <b>plan</b>",
        "interval": "monthly",
        "base_price": 2900,
        "currency": "USD",
        "tier": "pro",
        "included": {"api_calls": "100", "storage": "10"},
        "charges": [
            {
                "meter": "api_calls",
                "rate_card": {
                    "type": "graduated",
                    "tiers": [{"up_to": 50, "unit_price": "2"}, {"unit_price": "1"}],
                },
            },
            {
                "meter": "storage",
                "rate_card": {"type": "package", "package_size": 5, "package_price": 300},
            },
        ],
        **plan,
    }
    created = await operator.post("/v1/plans", plan_body)
    assert created.status_code == 201, created.text
    return dict(created.json())


async def subscribe(
    engine: EngineApp, tenant: Tenant, plan: str = "pro", *, start: str | None = None
) -> dict[str, Any]:
    """``tenant`` subscribes to ``plan``; a priced plan stands once the operator grants it
    (from ``start``)."""
    created = await tenant.post("/v1/subscriptions", {"plan": plan})
    assert created.status_code == 201, created.text
    sub: dict[str, Any] = created.json()
    if sub["status"] != "incomplete":
        return sub
    grant = {"tenant_id": tenant.id, "plan": plan, **({"start": start} if start else {})}
    granted = await engine.operator().post("/v1/subscriptions/grants", grant)
    assert granted.status_code == 200, granted.text
    result: dict[str, Any] = granted.json()
    assert result["id"] == sub["id"]
    return result


async def card_on_file(engine: EngineApp, tenant: Tenant) -> None:
    """Stripe reports the tenant's Checkout (setup mode) completed, as its signed webhook would
    (``handle_event``, without Stripe): a card is on file for the tenant's subscription."""
    current = await tenant.get("/v1/subscriptions/current")
    assert current.status_code == 200, current.text
    metadata = {"v100_subscription_id": current.json()["id"], "v100_tenant_id": tenant.id}
    session_object = {"object": "checkout.session", "mode": "setup", "status": "complete",
                      "metadata": metadata}  # fmt: skip
    event = {"id": f"evt_{uuid.uuid4().hex}", "type": CARD_SAVED,
             "data": {"object": session_object}}  # fmt: skip
    runtime = engine.app.state.runtime
    async with unit_of_work(runtime.sessions) as session:
        outcome = await handle_event(session, event, runtime.bus)
    assert outcome in ("activated", "card-on-file"), outcome
    assert (await tenant.get("/v1/subscriptions/current")).json()["payment"] == "card"


async def setup_subscription(
    engine: EngineApp, tenant: Tenant, *, start: str = SUBSCRIPTION_START, **plan: Any
) -> dict[str, Any]:
    await create_catalogue(engine.operator(), **plan)
    return await subscribe(engine, tenant, start=start)


async def report_usage(engine: EngineApp, tenant: Tenant) -> None:
    events = [
        {"id": f"call-{i}", "meter": "api_calls", "timestamp": "2026-10-10T00:00:00Z"}
        for i in range(180)
    ]
    events += [
        {
            "id": "s1",
            "meter": "storage",
            "timestamp": "2026-10-05T00:00:00Z",
            "properties": {"gb": 12},
        },
        {
            "id": "s2",
            "meter": "storage",
            "timestamp": "2026-10-20T00:00:00Z",
            "properties": {"gb": "21.5"},
        },
        # Next period: not on this invoice.
        {
            "id": "s3",
            "meter": "storage",
            "timestamp": "2026-11-01T00:00:00Z",
            "properties": {"gb": 90},
        },
        {"id": "late", "meter": "api_calls", "timestamp": "2026-11-01T00:00:00Z"},
    ]
    response = await engine.service(tenant).post("/v1/usage/events", {"events": events})
    assert response.json()["accepted"] == len(events)
