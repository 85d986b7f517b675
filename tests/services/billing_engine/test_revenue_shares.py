"""Revenue shares: percent of a meter's overage or of the whole invoice, a fixed amount per event,
computed once per invoice (a rerun adds nothing). Shares and their statements are the operator's
(ADR 0027): each names the tenant whose invoices it shares."""

from __future__ import annotations

import pytest

from v100.services.billing_engine.invoicing import run_invoicing

from .support import (
    AFTER_PERIOD,
    SUBSCRIPTION_START,
    EngineApp,
    Tenant,
    assert_problem,
    report_usage,
    setup_subscription,
    subscribe,
)

pytestmark = pytest.mark.time_sensitive


async def share(engine_app: EngineApp, tenant: Tenant, **body: object) -> str:
    """The operator's revenue share of ``tenant``'s invoices."""
    response = await engine_app.operator().post(
        "/v1/revenue-shares", {"tenant_id": tenant.id, **body}
    )
    assert response.status_code == 201, response.text
    assert response.json()["tenant_id"] == tenant.id
    share_id: str = response.json()["id"]
    return share_id


async def test_revenue_share_statements(engine_app: EngineApp, tenant: Tenant) -> None:
    await setup_subscription(engine_app, tenant)
    await report_usage(engine_app, tenant)
    whole = await share(engine_app, tenant, partner="Reseller", basis="percent", percent="12.5")
    calls = await share(
        engine_app, tenant, partner="API partner", basis="percent", percent="50", meter="api_calls"
    )
    per_event = await share(
        engine_app,
        tenant,
        partner="Storage partner",
        basis="per_event",
        amount_per_event="2.5",
        meter="storage",
    )
    sessions = engine_app.app.state.runtime.sessions
    assert (await run_invoicing(sessions, AFTER_PERIOD)).invoiced == 1
    assert (await run_invoicing(sessions, AFTER_PERIOD)).invoiced == 0  # nothing twice

    operator = engine_app.operator()
    statement = (await operator.get(f"/v1/revenue-shares/{whole}/statements")).json()
    assert statement["revenue_share"]["tenant_id"] == tenant.id
    (entry,) = statement["entries"]
    assert entry["basis_amount"] == 3930  # the invoice total: 2900 + 130 + 900
    assert entry["amount"] == 491  # 12.5 % of 3930 = 491.25
    assert statement["totals"] == {"USD": 491}

    (entry,) = (await operator.get(f"/v1/revenue-shares/{calls}/statements")).json()["entries"]
    assert (entry["basis_amount"], entry["amount"]) == (130, 65)

    answer = await operator.get(f"/v1/revenue-shares/{per_event}/statements")
    (entry,) = answer.json()["entries"]
    assert (entry["event_count"], entry["amount"]) == (2, 5)

    # Statements are the operator's: no tenant reads one, not even the one shared.
    for reader in (tenant, engine_app.tenant()):
        answer = await reader.get(f"/v1/revenue-shares/{whole}/statements")
        assert_problem(answer, 403, "forbidden")
    answer = await operator.get("/v1/revenue-shares/no-such-share/statements")
    assert_problem(answer, 404, "not-found")


async def test_another_tenants_invoices_are_not_shared(
    engine_app: EngineApp, tenant: Tenant
) -> None:
    await setup_subscription(engine_app, tenant)
    other = engine_app.tenant()
    await subscribe(engine_app, other, start=SUBSCRIPTION_START)
    mine = await share(engine_app, tenant, partner="Reseller", basis="percent", percent="10")
    sessions = engine_app.app.state.runtime.sessions
    assert (await run_invoicing(sessions, AFTER_PERIOD)).invoiced == 2
    statement = (await engine_app.operator().get(f"/v1/revenue-shares/{mine}/statements")).json()
    (entry,) = statement["entries"]  # the tenant's invoice, not the other's
    (invoice,) = (await tenant.get("/v1/invoices")).json()["items"]
    assert entry["invoice_id"] == invoice["id"]


async def test_bad_revenue_shares(engine_app: EngineApp, tenant: Tenant) -> None:
    operator = engine_app.operator()
    for body in (
        {"partner": "p", "basis": "percent"},
        {"partner": "p", "basis": "percent", "percent": "101"},
        {"partner": "p", "basis": "per_event", "amount_per_event": "1"},
        {"partner": "p", "basis": "per_event", "amount_per_event": "1", "meter": "nope"},
    ):
        response = await operator.post("/v1/revenue-shares", {"tenant_id": tenant.id, **body})
        assert_problem(response, 422, "validation-failed")
    good = {"partner": "p", "basis": "percent", "percent": "10"}
    # Whose invoices: required, and an id.
    for tenant_id in ({}, {"tenant_id": "not a tenant id"}):
        response = await operator.post("/v1/revenue-shares", {**tenant_id, **good})
        assert_problem(response, 422, "validation-failed")
    # A tenant makes none, not even of its own invoices.
    response = await tenant.post("/v1/revenue-shares", {"tenant_id": tenant.id, **good})
    assert_problem(response, 403, "forbidden")
