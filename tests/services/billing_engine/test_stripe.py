"""Stripe sync against the local fake Stripe (real HTTP, the official SDK): each issued invoice is
pushed by a durable job (the tenant's customer once, one item per line, finalized), retried
through an outage without duplicates, resumed after Stripe forgot the idempotency keys; signed
webhooks move the payment status once, whatever the repeats and the order; with no Stripe key,
invoices stay local."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from v100.kit.db import unit_of_work
from v100.kit.jobs import JobRecord, JobStatus, enqueue
from v100.kit.jobs._table import JOBS
from v100.kit.testing.fakes.stripe import FakeStripe
from v100.kit.testing.jobs import wait_for_job
from v100.services.billing_engine import tasks
from v100.services.billing_engine.invoicing import run_invoicing
from v100.services.billing_engine.providers.stripe import StripeInvoicing
from v100.services.billing_engine.stripe_api import WEBHOOK_PATH
from v100.services.billing_engine.stripe_sync import push_invoice

from .support import (
    AFTER_PERIOD,
    SUBSCRIPTION_START,
    WEBHOOK_SECRET,
    EngineApp,
    Tenant,
    assert_problem,
    create_catalogue,
    report_usage,
    setup_subscription,
    subscribe,
)

pytestmark = pytest.mark.time_sensitive


async def push_job(engine_app: EngineApp, invoice_id: str, within: float = 30) -> JobRecord:
    sessions = engine_app.app.state.runtime.sessions
    async with sessions() as session:
        statement = select(JOBS.c.id).where(JOBS.c.dedupe_key == f"stripe-push:{invoice_id}")
        job_id = (await session.execute(statement)).scalar_one()
    return await wait_for_job(sessions, job_id, within=within)


async def invoice_and_push(engine_app: EngineApp, tenant: Tenant) -> dict[str, Any]:
    """Invoice the tenant's October; its push job has succeeded; the invoice as now."""
    sessions = engine_app.app.state.runtime.sessions
    run = await run_invoicing(sessions, AFTER_PERIOD, on_invoice=tasks.enqueue_stripe_push)
    assert run.invoiced == 1
    (listed,) = (await tenant.get("/v1/invoices")).json()["items"]
    job = await push_job(engine_app, listed["id"])
    assert job.status == JobStatus.SUCCEEDED, job
    invoice: dict[str, Any] = (await tenant.get(f"/v1/invoices/{listed['id']}")).json()
    return invoice


async def test_an_issued_invoice_is_pushed_once_with_its_lines(
    synced: tuple[EngineApp, FakeStripe],
) -> None:
    engine_app, fake = synced
    tenant = engine_app.tenant()
    await setup_subscription(engine_app, tenant)
    await report_usage(engine_app, tenant)
    invoice = await invoice_and_push(engine_app, tenant)

    (customer,) = fake.customers.values()
    assert customer["metadata"] == {"v100_tenant_id": tenant.id}
    remote = fake.invoice_for(invoice["id"])
    assert remote["customer"] == customer["id"]
    assert remote["currency"] == "usd"
    assert remote["status"] == "open"
    assert remote["number"]  # given at finalization
    assert remote["total"] == invoice["total"] == 2900 + 130 + 900
    amounts = [line["amount"] for line in remote["lines"]["data"]]
    assert amounts == [line["amount"] for line in invoice["lines"]]
    assert invoice["stripe_invoice_id"] == remote["id"]
    assert invoice["stripe_synced_at"] is not None
    assert invoice["status"] == "open"
    # What reached Stripe: form-encoded, every create under a key derived from our ids.
    keys = fake.idempotency_keys
    assert f"v100-customer-{tenant.id}" in keys
    assert f"v100-invoice-{invoice['id']}" in keys
    assert f"v100-invoice-{invoice['id']}-fin" in keys
    creates = [p for method, path, p in fake.requests if path == "/v1/invoices"]
    assert creates[0]["pending_invoice_items_behavior"] == "exclude"

    # Running the job again (a redelivery) changes nothing at Stripe.
    async with unit_of_work(engine_app.app.state.runtime.sessions) as session:
        again = await enqueue(session, tasks.push_invoice_to_stripe, invoice["id"])
    job = await wait_for_job(engine_app.app.state.runtime.sessions, again, within=30)
    assert job.status == JobStatus.SUCCEEDED
    assert len(fake.invoices) == 1
    assert len(fake.invoice_items) == len(invoice["lines"])


async def test_the_scheduled_run_pushes_and_the_customer_is_reused(
    synced: tuple[EngineApp, FakeStripe],
) -> None:
    engine_app, fake = synced
    tenant = engine_app.tenant()
    await setup_subscription(engine_app, tenant, start="2026-09-01T00:00:00Z")
    sessions = engine_app.app.state.runtime.sessions
    async with unit_of_work(sessions) as session:
        job_id = await enqueue(session, tasks.invoice_due_subscriptions)
    assert (await wait_for_job(sessions, job_id, within=30)).status == JobStatus.SUCCEEDED
    invoices = (await tenant.get("/v1/invoices")).json()["items"]
    assert len(invoices) >= 2  # September and October at least (now is later)
    for invoice in invoices:
        assert (await push_job(engine_app, invoice["id"])).status == JobStatus.SUCCEEDED
    assert len(fake.customers) == 1  # one customer per tenant, found in our mapping
    assert sorted(i["metadata"]["v100_invoice_id"] for i in fake.invoices.values()) == sorted(
        i["id"] for i in invoices
    )


async def test_an_outage_is_retried_without_duplicates(
    synced: tuple[EngineApp, FakeStripe],
) -> None:
    engine_app, fake = synced
    tenant = engine_app.tenant()
    await setup_subscription(engine_app, tenant)
    # Three 500s: the SDK's own retries (2) are spent, so the job's first attempt fails and
    # its retry (after the backoff) completes the push.
    fake.fail_next(3)
    invoice = await invoice_and_push(engine_app, tenant)
    job = await push_job(engine_app, invoice["id"])
    assert job.attempts == 2, job
    assert len(fake.invoices) == len(fake.customers) == 1
    assert invoice["stripe_invoice_id"] == fake.invoice_for(invoice["id"])["id"]


async def test_a_push_resumes_after_stripe_forgot_the_keys(
    synced: tuple[EngineApp, FakeStripe],
) -> None:
    engine_app, fake = synced
    tenant = engine_app.tenant()
    await setup_subscription(engine_app, tenant)
    await report_usage(engine_app, tenant)
    sessions = engine_app.app.state.runtime.sessions
    await run_invoicing(sessions, AFTER_PERIOD)  # Stripe off for this run: no job
    (listed,) = (await tenant.get("/v1/invoices")).json()["items"]
    stripe = engine_app.app.state.runtime.get(StripeInvoicing)
    # A first push died after the invoice and one item existed at Stripe: fail its 3rd item.
    original = stripe.add_item
    added = 0

    async def dies_on_the_third(**kwargs: Any) -> None:
        nonlocal added
        if added == 2:
            raise RuntimeError("the process died here")
        added += 1
        await original(**kwargs)

    stripe.add_item = dies_on_the_third
    with pytest.raises(RuntimeError):
        await push_invoice(sessions, stripe, listed["id"])
    stripe.add_item = original
    fake.forget_idempotency_keys()  # more than 24 hours later
    assert await push_invoice(sessions, stripe, listed["id"]) == "synced"
    assert len(fake.invoices) == 1
    remote = fake.invoice_for(listed["id"])
    lines = (await tenant.get(f"/v1/invoices/{listed['id']}")).json()["lines"]
    assert [line["amount"] for line in remote["lines"]["data"]] == [
        line["amount"] for line in lines
    ]
    assert remote["status"] == "open"
    assert await push_invoice(sessions, stripe, listed["id"]) == "already-synced"


async def test_payment_events_apply_once_and_never_go_back(
    synced: tuple[EngineApp, FakeStripe],
) -> None:
    engine_app, fake = synced
    tenant = engine_app.tenant()
    await setup_subscription(engine_app, tenant)
    invoice = await invoice_and_push(engine_app, tenant)
    stripe_id = invoice["stripe_invoice_id"]
    path = f"/v1/invoices/{invoice['id']}"

    failed = await fake.fail_invoice_payment(stripe_id)
    assert failed.json()["outcome"] == "payment-failed"
    after_failure = (await tenant.get(path)).json()
    assert after_failure["status"] == "open"
    assert after_failure["payment_error"] == "payment failed (attempt 1)"
    late_failure = fake.invoice_event(stripe_id, "invoice.payment_failed")

    paid_event = fake.transition(stripe_id, "paid")
    answers = await asyncio.gather(*(fake.deliver(paid_event) for _ in range(5)))
    assert sorted(a.json()["outcome"] for a in answers) == ["duplicate"] * 4 + ["now-paid"]
    paid = (await tenant.get(path)).json()
    assert paid["status"] == "paid"
    assert paid["paid_at"] is not None
    # Older events arriving now do not take it back: a failure, a finalization, a void.
    assert (await fake.deliver(late_failure)).json()["outcome"] == "stale"
    finalized = [e for e in fake.events if e["type"] == "invoice.finalized"][-1]
    assert (await fake.deliver(finalized)).json()["outcome"] == "stale"
    voided = fake.invoice_event(stripe_id, "invoice.voided")
    assert (await fake.deliver(voided)).json()["outcome"] == "stale"
    succeeded = fake.invoice_event(stripe_id, "invoice.payment_succeeded")
    assert (await fake.deliver(succeeded)).json()["outcome"] == "unchanged"
    assert (await tenant.get(path)).json()["status"] == "paid"


async def test_void_and_uncollectible(synced: tuple[EngineApp, FakeStripe]) -> None:
    engine_app, fake = synced
    first, second = engine_app.tenant(), engine_app.tenant()
    await create_catalogue(engine_app.operator())  # one catalogue for both tenants
    for tenant in (first, second):
        await subscribe(engine_app, tenant, start=SUBSCRIPTION_START)
    sessions = engine_app.app.state.runtime.sessions
    await run_invoicing(sessions, AFTER_PERIOD, on_invoice=tasks.enqueue_stripe_push)
    ids = {}
    for tenant in (first, second):
        (listed,) = (await tenant.get("/v1/invoices")).json()["items"]
        assert (await push_job(engine_app, listed["id"])).status == JobStatus.SUCCEEDED
        ids[tenant.id] = fake.invoice_for(listed["id"])["id"], listed["id"]
    stripe_id, ours = ids[first.id]
    assert (await fake.void_invoice(stripe_id)).json()["outcome"] == "now-void"
    assert (await first.get(f"/v1/invoices/{ours}")).json()["status"] == "void"
    stripe_id, ours = ids[second.id]
    marked = await fake.deliver(fake.transition(stripe_id, "uncollectible"))
    assert marked.json()["outcome"] == "now-uncollectible"
    # Uncollectible may still be paid later (Stripe allows it).
    assert (await fake.pay_invoice(stripe_id)).json()["outcome"] == "now-paid"
    assert (await second.get(f"/v1/invoices/{ours}")).json()["status"] == "paid"


async def test_refused_and_unknown_webhooks(synced: tuple[EngineApp, FakeStripe]) -> None:
    engine_app, fake = synced
    tenant = engine_app.tenant()
    await setup_subscription(engine_app, tenant)
    invoice = await invoice_and_push(engine_app, tenant)
    event = fake.transition(invoice["stripe_invoice_id"], "paid")
    for response in (
        await fake.deliver(event, secret="whsec_wrong"),
        await fake.deliver(event, timestamp=int(time.time()) - 3_600),
        await fake.deliver(event, signature="t=1,v1=deadbeef"),
        await engine_app.http.post(WEBHOOK_PATH, content=b"{}"),
    ):
        assert_problem(response, 400, "invalid-webhook")
    assert (await tenant.get(f"/v1/invoices/{invoice['id']}")).json()["status"] == "open"
    # An invoice V100 never issued, and an event type it does not act on.
    stranger = {**event, "id": "evt_other", "data": {"object": {"object": "invoice",
                "id": "in_unknown", "metadata": {}}}}  # fmt: skip
    assert (await fake.deliver(stranger)).json()["outcome"] == "unknown-invoice"
    other = {**event, "id": "evt_customer", "type": "customer.created"}
    assert (await fake.deliver(other)).json()["outcome"] == "ignored"
    # The genuine delivery still works afterwards.
    assert (await fake.deliver(event)).json()["outcome"] == "now-paid"


async def test_without_a_stripe_key_invoices_stay_local(
    engine_app: EngineApp, tenant: Tenant
) -> None:
    assert engine_app.app.state.runtime.find(StripeInvoicing) is None
    await setup_subscription(engine_app, tenant)
    sessions = engine_app.app.state.runtime.sessions
    async with unit_of_work(sessions) as session:
        job_id = await enqueue(session, tasks.invoice_due_subscriptions)
    assert (await wait_for_job(sessions, job_id, within=30)).status == JobStatus.SUCCEEDED
    (invoice,) = (await tenant.get("/v1/invoices")).json()["items"][-1:]
    assert invoice["stripe_invoice_id"] is None
    async with sessions() as session:
        pushes = select(JOBS.c.id).where(JOBS.c.task == "billing_engine.push_invoice_to_stripe")
        assert (await session.execute(pushes)).all() == []
    response = await engine_app.http.post(WEBHOOK_PATH, content=b"{}")
    assert_problem(response, 501, "not-configured")


async def test_the_fake_speaks_stripes_invoice_wire_format() -> None:
    fake = FakeStripe(webhook_secret=WEBHOOK_SECRET)
    auth = {"Authorization": "Bearer sk_test_x"}
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://stripe") as client:
        missing = await client.post("/v1/invoices", data={"customer": "cus_nope"}, headers=auth)
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "resource_missing"
        customer = (await client.post("/v1/customers", data={}, headers=auth)).json()
        keyed = auth | {"Idempotency-Key": "k1"}
        body = {"customer": customer["id"], "currency": "usd", "metadata[v100_invoice_id]": "i1"}
        draft = (await client.post("/v1/invoices", data=body, headers=keyed)).json()
        assert draft["metadata"] == {"v100_invoice_id": "i1"}
        assert (await client.post("/v1/invoices", data=body, headers=keyed)).json() == draft
        other = await client.post("/v1/invoices", data={**body, "currency": "eur"}, headers=keyed)
        assert (other.status_code, other.json()["error"]["type"]) == (400, "idempotency_error")
        item = {"customer": customer["id"], "invoice": draft["id"], "currency": "usd"}
        for amount in ("1500", "-500"):
            added = await client.post("/v1/invoiceitems", data=item | {"amount": amount},
                                      headers=auth)  # fmt: skip
            assert added.status_code == 200, added.text
        bad = await client.post("/v1/invoiceitems", data=item | {"amount": "1.5"}, headers=auth)
        assert bad.json()["error"]["code"] == "parameter_invalid_integer"
        page = await client.get("/v1/invoiceitems", params={"invoice": draft["id"], "limit": 1},
                                headers=auth)  # fmt: skip
        assert (len(page.json()["data"]), page.json()["has_more"]) == (1, True)
        final = await client.post(f"/v1/invoices/{draft['id']}/finalize", headers=auth)
        assert (final.json()["status"], final.json()["amount_due"]) == ("open", 1000)
        late = await client.post("/v1/invoiceitems", data=item | {"amount": "1"}, headers=auth)
        assert late.json()["error"]["code"] == "invoice_not_editable"
        again = await client.post(f"/v1/invoices/{draft['id']}/finalize", headers=auth)
        assert again.json()["error"]["code"] == "invoice_unexpected_status"
        fake.fail_next(1)
        down = await client.get(f"/v1/invoices/{draft['id']}", headers=auth)
        assert (down.status_code, down.json()["error"]["type"]) == (500, "api_error")
        paid = await client.post(f"/v1/invoices/{draft['id']}/pay", headers=auth)
        assert paid.json()["status"] == "paid"
    assert [e["type"] for e in fake.events] == [
        "invoice.created", "invoice.finalized", "invoice.paid",
    ]  # fmt: skip
