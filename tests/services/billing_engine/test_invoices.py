"""Invoices: base price plus overage per meter above the included units, lines traceable to usage,
prorations carried over, exactly one invoice per period whatever runs it, HTML escaped, and
another tenant's invoice is 404."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from v100.kit.db import unit_of_work
from v100.kit.jobs import JobStatus, enqueue
from v100.kit.testing.jobs import wait_for_job
from v100.services.billing_engine.invoicing import run_invoicing
from v100.services.billing_engine.models import Invoice
from v100.services.billing_engine.tasks import invoice_due_subscriptions, jobs

from .support import (
    AFTER_PERIOD,
    SUBSCRIPTION_START,
    EngineApp,
    Tenant,
    assert_problem,
    card_on_file,
    create_catalogue,
    report_usage,
    setup_subscription,
    subscribe,
)

pytestmark = pytest.mark.time_sensitive


async def count_invoices(engine_app: EngineApp) -> int:
    async with engine_app.app.state.runtime.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(Invoice))).scalar_one())


async def test_invoice_with_overage(engine_app: EngineApp, tenant: Tenant) -> None:
    sub = await setup_subscription(engine_app, tenant)
    await report_usage(engine_app, tenant)
    run = await run_invoicing(engine_app.app.state.runtime.sessions, AFTER_PERIOD)
    assert run.invoiced == 1

    (listed,) = (await tenant.get("/v1/invoices")).json()["items"]
    invoice = (await tenant.get(f"/v1/invoices/{listed['id']}")).json()
    base, calls, storage = invoice["lines"]
    assert base["amount"] == 2900
    # 180 calls, 100 included: 80 billable, graduated 50 x 2 + 30 x 1 = 130 cents.
    assert (calls["meter_code"], calls["event_count"]) == ("api_calls", 180)
    assert Decimal(calls["quantity"]) == 180
    assert Decimal(calls["billable_quantity"]) == 80
    assert calls["amount"] == 130
    # Max 21.5 GB, 10 included: 11.5 GB in packages of 5 -> 3 packages x 300.
    assert Decimal(storage["billable_quantity"]) == Decimal("11.5")
    assert (storage["amount"], storage["event_count"]) == (900, 2)
    assert invoice["total"] == 2900 + 130 + 900
    assert invoice["period_start"].startswith("2026-10-01")
    assert invoice["period_end"].startswith("2026-11-01")

    # Renewed: the next period starts where this one ended.
    current = (await tenant.get("/v1/subscriptions/current")).json()
    assert current["id"] == sub["id"]
    assert current["period_start"].startswith("2026-11-01")
    assert current["period_end"].startswith("2026-12-01")


async def test_invoicing_twice_issues_one_invoice(engine_app: EngineApp, tenant: Tenant) -> None:
    await setup_subscription(engine_app, tenant)
    sessions = engine_app.app.state.runtime.sessions
    assert (await run_invoicing(sessions, AFTER_PERIOD)).invoiced == 1
    assert (await run_invoicing(sessions, AFTER_PERIOD)).invoiced == 0
    assert await count_invoices(engine_app) == 1


async def test_concurrent_runs_issue_one_invoice(engine_app: EngineApp) -> None:
    tenants = [engine_app.tenant() for _ in range(3)]
    await create_catalogue(engine_app.operator())  # one catalogue for every tenant
    for tenant in tenants:
        await subscribe(engine_app, tenant, start=SUBSCRIPTION_START)
    sessions = engine_app.app.state.runtime.sessions
    runs = await asyncio.gather(*(run_invoicing(sessions, AFTER_PERIOD) for _ in range(4)))
    assert sum(run.invoiced for run in runs) == 3
    assert await count_invoices(engine_app) == 3


async def test_catch_up_after_downtime_and_cancel(engine_app: EngineApp, tenant: Tenant) -> None:
    await setup_subscription(engine_app, tenant)
    sessions = engine_app.app.state.runtime.sessions
    # Down for three months: one invoice per missed period, each period once.
    run = await run_invoicing(sessions, datetime(2027, 1, 15, tzinfo=UTC))
    assert run.invoiced == 3
    periods = [i["period_start"][:10] for i in (await tenant.get("/v1/invoices")).json()["items"]]
    assert sorted(periods) == ["2026-10-01", "2026-11-01", "2026-12-01"]
    await tenant.post("/v1/subscriptions/current/cancel", {})
    assert (await run_invoicing(sessions, datetime(2027, 2, 2, tzinfo=UTC))).invoiced == 1
    assert_problem(await tenant.get("/v1/subscriptions/current"), 404, "not-found")
    assert (await tenant.get("/v1/subscriptions/current/tier")).json()["tier"] == "free"
    assert (await run_invoicing(sessions, datetime(2027, 6, 1, tzinfo=UTC))).invoiced == 0


async def test_trial_invoice_is_free_and_proration_is_carried(
    engine_app: EngineApp, tenant: Tenant
) -> None:
    await setup_subscription(engine_app, tenant, trial_days=10)
    await report_usage(engine_app, tenant)
    sessions = engine_app.app.state.runtime.sessions
    assert (await run_invoicing(sessions, datetime(2026, 10, 11, 1, tzinfo=UTC))).invoiced == 1
    (trial,) = (await tenant.get("/v1/invoices")).json()["items"]
    assert trial["total"] == 0
    # Paid period Oct 11 - Nov 11; upgrade half way through to a plan twice the price.
    body = {**(await tenant.get("/v1/plans")).json()["items"][0], "code": "max", "base_price": 5800}
    body = {
        k: body[k]
        for k in (
            "code",
            "name",
            "interval",
            "base_price",
            "currency",
            "included",
            "charges",
            "tier",
        )
    }
    assert (await engine_app.operator().post("/v1/plans", body)).status_code == 201
    await card_on_file(engine_app, tenant)  # the upgrade to a dearer plan needs one
    change = {"plan": "max", "proration_date": "2026-10-26T12:00:00Z"}
    changed = (await tenant.post("/v1/subscriptions/current/change", change)).json()
    assert changed["proration"] == {"credit": -1450, "charge": 2900, "fraction": "0.5"}
    assert (await run_invoicing(sessions, datetime(2026, 11, 11, 1, tzinfo=UTC))).invoiced == 1
    newest = (await tenant.get("/v1/invoices")).json()["items"][0]
    lines = (await tenant.get(f"/v1/invoices/{newest['id']}")).json()["lines"]
    assert [line["kind"] for line in lines] == ["base", "usage", "usage", "proration", "proration"]
    assert lines[0]["amount"] == 5800
    assert [line["amount"] for line in lines[3:]] == [-1450, 2900]


async def test_html_is_escaped_and_invoices_are_per_tenant(
    engine_app: EngineApp, tenant: Tenant
) -> None:
    await setup_subscription(engine_app, tenant)
    await run_invoicing(engine_app.app.state.runtime.sessions, AFTER_PERIOD)
    (invoice,) = (await tenant.get("/v1/invoices")).json()["items"]
    page = await tenant.get(f"/v1/invoices/{invoice['id']}.html")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "Pro &lt;b&gt;plan&lt;/b&gt;" in page.text
    assert "<b>plan</b>" not in page.text
    assert "29.00 USD" in page.text

    stranger = engine_app.tenant()
    assert_problem(await stranger.get(f"/v1/invoices/{invoice['id']}"), 404, "not-found")
    assert_problem(await stranger.get(f"/v1/invoices/{invoice['id']}.html"), 404, "not-found")
    assert (await stranger.get("/v1/invoices")).json()["items"] == []


def test_the_invoicing_run_is_scheduled() -> None:
    task = jobs.get("billing_engine.invoice_due_subscriptions")
    assert task is not None
    assert task.cron == "*/5 * * * *"


async def test_the_scheduled_job_invoices_ended_periods(
    engine_app: EngineApp, tenant: Tenant
) -> None:
    # The job runs on the app's own queue (embedded), as the scheduler's tick would start it.
    await setup_subscription(engine_app, tenant)  # its first period (October 2026) has ended
    sessions = engine_app.app.state.runtime.sessions
    async with unit_of_work(sessions) as session:
        job_id = await enqueue(session, invoice_due_subscriptions)
    job = await wait_for_job(sessions, job_id, within=30)
    assert job.status == JobStatus.SUCCEEDED, job
    periods = [i["period_start"][:10] for i in (await tenant.get("/v1/invoices")).json()["items"]]
    assert "2026-10-01" in periods
    assert len(periods) == len(set(periods))


async def test_issued_invoices_are_announced_once_after_commit(
    engine_app: EngineApp, tenant: Tenant
) -> None:
    await setup_subscription(engine_app, tenant)
    issued: list[tuple[str, str]] = []

    async def on_issued(tenant_id: str, invoice_id: str) -> None:
        issued.append((tenant_id, invoice_id))

    sessions = engine_app.app.state.runtime.sessions
    for _ in range(2):
        await run_invoicing(sessions, AFTER_PERIOD, on_issued=on_issued)
    (listed,) = (await tenant.get("/v1/invoices")).json()["items"]
    assert issued == [(tenant.id, listed["id"])]


async def test_usage_for_an_invoiced_period_is_rejected_not_lost(
    engine_app: EngineApp, tenant: Tenant
) -> None:
    await setup_subscription(engine_app, tenant)
    await run_invoicing(engine_app.app.state.runtime.sessions, AFTER_PERIOD)
    late = {"id": "too-late", "meter": "api_calls", "timestamp": "2026-10-31T23:59:59Z"}
    on_time = {"id": "next-period", "meter": "api_calls", "timestamp": "2026-11-01T00:00:00Z"}
    service = engine_app.service(tenant)
    answer = (await service.post("/v1/usage/events", {"events": [late, on_time]})).json()
    (rejected, accepted) = answer["results"]
    assert rejected["status"] == "rejected"
    assert "already invoiced" in rejected["error"]
    assert accepted["status"] == "accepted"
