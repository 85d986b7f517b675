"""Revenue shares: percent of a meter's overage or of the whole invoice, a fixed amount per event,
computed once per invoice (a rerun adds nothing), and statements per tenant."""

from __future__ import annotations

import pytest
from billing_engine_support import (
    AFTER_PERIOD,
    EngineApp,
    Tenant,
    assert_problem,
    report_usage,
    setup_subscription,
)

from v100.services.billing_engine.invoicing import run_invoicing

pytestmark = pytest.mark.time_sensitive


async def share(tenant: Tenant, **body: object) -> str:
    response = await tenant.post("/v1/revenue-shares", body)
    assert response.status_code == 201, response.text
    share_id: str = response.json()["id"]
    return share_id


async def test_revenue_share_statements(engine_app: EngineApp, tenant: Tenant) -> None:
    await setup_subscription(tenant)
    await report_usage(tenant)
    whole = await share(tenant, partner="Reseller", basis="percent", percent="12.5")
    calls = await share(
        tenant, partner="API partner", basis="percent", percent="50", meter="api_calls"
    )
    per_event = await share(
        tenant,
        partner="Storage partner",
        basis="per_event",
        amount_per_event="2.5",
        meter="storage",
    )
    sessions = engine_app.app.state.runtime.sessions
    assert (await run_invoicing(sessions, AFTER_PERIOD)).invoiced == 1
    assert (await run_invoicing(sessions, AFTER_PERIOD)).invoiced == 0  # nothing twice

    statement = (await tenant.get(f"/v1/revenue-shares/{whole}/statements")).json()
    (entry,) = statement["entries"]
    assert entry["basis_amount"] == 3930  # the invoice total: 2900 + 130 + 900
    assert entry["amount"] == 491  # 12.5 % of 3930 = 491.25
    assert statement["totals"] == {"USD": 491}

    (entry,) = (await tenant.get(f"/v1/revenue-shares/{calls}/statements")).json()["entries"]
    assert (entry["basis_amount"], entry["amount"]) == (130, 65)

    (entry,) = (await tenant.get(f"/v1/revenue-shares/{per_event}/statements")).json()["entries"]
    assert (entry["event_count"], entry["amount"]) == (2, 5)

    stranger = engine_app.tenant()
    assert_problem(await stranger.get(f"/v1/revenue-shares/{whole}/statements"), 404, "not-found")


async def test_bad_revenue_shares(tenant: Tenant) -> None:
    for body in (
        {"partner": "p", "basis": "percent"},
        {"partner": "p", "basis": "percent", "percent": "101"},
        {"partner": "p", "basis": "per_event", "amount_per_event": "1"},
        {"partner": "p", "basis": "per_event", "amount_per_event": "1", "meter": "nope"},
    ):
        assert_problem(await tenant.post("/v1/revenue-shares", body), 422, "validation-failed")
