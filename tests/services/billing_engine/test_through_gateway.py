"""billing_engine's Stripe sync, PDF and idempotent POSTs through the real gateway: the operator
(its key made on the host) publishes a plan, a tenant signs up and subscribes (a retried POST
with its Idempotency-Key replays), the operator grants the subscription, its invoice is pushed
to the fake Stripe, Stripe's signed ``invoice.paid`` reaches billing_engine through the gateway's
public webhook path (a forged one does not), and the paid invoice downloads as a PDF."""

from __future__ import annotations

import io
import uuid
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pypdf
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from v100.contracts.topology import SERVICES
from v100.kit.jobs import JobStatus
from v100.kit.jobs._table import JOBS
from v100.kit.settings import PlatformSettings
from v100.kit.testing.fakes.stripe import FakeStripe
from v100.kit.testing.jobs import wait_for_job
from v100.kit.testing.servers import dead_url, serving
from v100.services.billing_engine import tasks
from v100.services.billing_engine.app import create_app as create_billing_engine
from v100.services.billing_engine.invoicing import run_invoicing
from v100.services.billing_engine.settings import BillingEngineSettings
from v100.services.billing_engine.stripe_api import WEBHOOK_PATH
from v100.services.gateway.app import create_app as create_gateway
from v100.services.gateway.identity.admin import create_operator_key
from v100.services.gateway.settings import GatewaySettings
from v100.services.gateway.testing import UNTHROTTLED

from .support import AFTER_PERIOD, INTERNAL_SECRET, SUBSCRIPTION_START

pytestmark = pytest.mark.time_sensitive

WEBHOOK_SECRET = "whsec_test_engine_gateway"


async def test_stripe_sync_pdf_and_idempotency_through_the_gateway(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite only: the path through the gateway is what is tested here; the engine's own tests
    # run every part of it on PostgreSQL too.
    monkeypatch.delenv("V100_REDIS_URL", raising=False)

    def platform(name: str) -> PlatformSettings:
        # The invoicing is run by hand below: no schedule of the engine's own to race it.
        return PlatformSettings(
            var_dir=tmp_path / name, internal_token_secret=INTERNAL_SECRET, run_schedules=False
        )

    stripe = FakeStripe(webhook_secret=WEBHOOK_SECRET)
    async with AsyncExitStack() as stack:
        stripe_url = await stack.enter_async_context(serving(stripe.app))
        engine = create_billing_engine(
            BillingEngineSettings(
                platform=platform("billing_engine"),
                database_url=f"sqlite+aiosqlite:///{tmp_path}/billing_engine.db",
                stripe_api_key=SecretStr("sk_test_gateway"),
                stripe_webhook_secret=SecretStr(WEBHOOK_SECRET),
                stripe_api_base=stripe_url,
            )
        )
        engine_url = await stack.enter_async_context(serving(engine, ready=True))
        upstreams = {info.name: dead_url() for info in SERVICES if info.name != "gateway"}
        upstreams["billing_engine"] = engine_url
        gateway_settings = GatewaySettings(
            platform=platform("gateway"),
            database_url=f"sqlite+aiosqlite:///{tmp_path}/gateway.db",
            jwt_secret="gateway-jwt-secret-for-the-engine-gateway-test-0123",
            password_time_cost=1,
            password_memory_kib=1024,
            password_parallelism=1,
            upstreams=upstreams,
            **UNTHROTTLED,
        )
        gateway = create_gateway(gateway_settings)
        gateway_url = await stack.enter_async_context(serving(gateway, ready=True))
        stripe.webhook_url = f"{gateway_url}{WEBHOOK_PATH}"
        http = await stack.enter_async_context(
            httpx.AsyncClient(base_url=gateway_url, trust_env=False, timeout=30)
        )

        signup = await http.post(
            "/v1/auth/signup",
            json={"email": "eve@example.com", "password": "correct horse battery staple",
                  "tenant_name": "Eve Audio"},
        )  # fmt: skip
        assert signup.status_code == 201, signup.text
        me = {"Authorization": f"Bearer {signup.json()['access_token']}"}
        tenant_id = signup.json()["tenant"]["id"]
        # The operator's key, made on the host; it publishes the plan.
        _, secret = await create_operator_key(
            gateway_settings, name="billing ops", scopes=["operator:billing"]
        )
        operator = {"X-API-Key": secret}
        plan = {"code": "pro", "name": "Pro", "interval": "monthly", "base_price": 2900,
                "currency": "USD", "tier": "pro"}  # fmt: skip
        created = await http.post("/v1/plans", json=plan, headers=operator)
        assert created.status_code == 201, created.text
        keyed = me | {"Idempotency-Key": f"subscribe-{uuid.uuid4()}"}
        body = {"plan": "pro"}
        first = await http.post("/v1/subscriptions", json=body, headers=keyed)
        again = await http.post("/v1/subscriptions", json=body, headers=keyed)
        assert first.status_code == again.status_code == 201, again.text
        assert again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true"
        assert first.json()["status"] == "incomplete"  # a priced plan: until granted
        grant = {"tenant_id": tenant_id, "plan": "pro", "start": SUBSCRIPTION_START}
        granted = await http.post("/v1/subscriptions/grants", json=grant, headers=operator)
        assert granted.status_code == 200, granted.text
        assert (granted.json()["id"], granted.json()["status"]) == (first.json()["id"], "active")

        sessions = engine.state.runtime.sessions
        run = await run_invoicing(sessions, AFTER_PERIOD, on_invoice=tasks.enqueue_stripe_push)
        assert run.invoiced == 1
        (invoice,) = (await http.get("/v1/invoices", headers=me)).json()["items"]
        async with sessions() as session:
            statement = select(JOBS.c.id).where(JOBS.c.dedupe_key == f"stripe-push:{invoice['id']}")
            job_id = (await session.execute(statement)).scalar_one()
        assert (await wait_for_job(sessions, job_id, within=30)).status == JobStatus.SUCCEEDED
        remote = stripe.invoice_for(invoice["id"])

        event = stripe.transition(remote["id"], "paid")
        forged = await stripe.deliver(event, secret="whsec_wrong")
        assert forged.status_code == 400, forged.text
        paid = await stripe.deliver(event)  # to the gateway, with no credential but the signature
        assert paid.status_code == 200, paid.text
        assert paid.json()["outcome"] == "now-paid"
        got = (await http.get(f"/v1/invoices/{invoice['id']}", headers=me)).json()
        assert (got["status"], got["stripe_invoice_id"]) == ("paid", remote["id"])

        pdf = await http.get(f"/v1/invoices/{invoice['id']}.pdf", headers=me)
        assert pdf.status_code == 200, pdf.text
        assert pdf.headers["content-type"] == "application/pdf"
        text = pypdf.PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
        assert f"Invoice {invoice['id']}" in text
        assert "Status: paid" in text
        assert "Total: 29.00 USD" in text
