"""Issue 4's "done means", through the real gateway in front of the real billing and billing_engine
services (each on its own loopback port, database and migrations; one in-process bus), with the
fake Stripe server for the vendor: a tenant signs up with 1,000 credits, tops up through a
Checkout session completed by a signed webhook delivered to the gateway's public webhook path;
the operator (its key made on the host, ADR 0027) publishes a plan; a platform service reports
the tenant's usage beyond the plan's included units; the tenant subscribes to the plan and the
operator grants it (from 40 days ago), and the invoicing job issues an invoice with the exact
overage; the gateway's rate limit for the tenant moves to the plan's tier as soon as the
subscription stands. On SQLite, and on PostgreSQL when
V100_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from v100.contracts.topology import SERVICES
from v100.kit.auth import Principal
from v100.kit.db import drop_database, unit_of_work
from v100.kit.jobs import JobStatus, enqueue
from v100.kit.settings import PlatformSettings
from v100.kit.testing.db import POSTGRES_URL_ENV, fresh_postgres_url, postgres_admin_url
from v100.kit.testing.fakes.stripe import FakeStripe
from v100.kit.testing.http import auth_headers
from v100.kit.testing.jobs import wait_for_job
from v100.kit.testing.servers import dead_url, serving
from v100.services.billing.app import create_app as create_billing
from v100.services.billing.checkout_api import WEBHOOK_PATH
from v100.services.billing.settings import BillingSettings
from v100.services.billing_engine.app import create_app as create_billing_engine
from v100.services.billing_engine.settings import BillingEngineSettings
from v100.services.billing_engine.tasks import invoice_due_subscriptions
from v100.services.gateway.app import create_app as create_gateway
from v100.services.gateway.identity.admin import create_operator_key
from v100.services.gateway.settings import GatewaySettings
from v100.services.gateway.testing import UNTHROTTLED

pytestmark = pytest.mark.time_sensitive

INTERNAL_SECRET = "internal-secret-for-the-billing-e2e-test-0123456"
JWT_SECRET = "gateway-jwt-secret-for-the-billing-e2e-test-01234"
WEBHOOK_SECRET = "whsec_test_e2e"
PASSWORD = "correct horse battery staple"

# The plan: 29.00 USD a month with 100 API calls included, each call beyond at 0.03 USD.
BASE_PRICE = 2_900
INCLUDED_CALLS = 100
OVERAGE_UNIT_PRICE = 3
CALLS_REPORTED = 180


@dataclass
class Platform:
    gateway_url: str
    gateway_settings: GatewaySettings
    billing_engine: FastAPI
    billing_engine_url: str
    stripe: FakeStripe


@pytest.fixture(params=["sqlite", "postgres"])
async def database_urls(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[dict[str, str]]:
    """One empty database per service (each runs its own migrations into it)."""
    names = ("gateway", "billing", "billing_engine")
    if request.param == "sqlite":
        yield {name: f"sqlite+aiosqlite:///{tmp_path}/{name}.db" for name in names}
        return
    admin_url = postgres_admin_url()
    if admin_url is None:
        pytest.skip(f"{POSTGRES_URL_ENV} is not set (scripts/services/postgres.sh start)")
    urls = {name: fresh_postgres_url(admin_url, f"v100_e2e_{name}") for name in names}
    try:
        yield urls
    finally:
        for url in urls.values():
            await drop_database(url)


async def _ready(url: str) -> None:
    async with httpx.AsyncClient(base_url=url, trust_env=False) as http:
        for _ in range(600):
            if (await http.get("/ready")).status_code == 200:
                return
            await asyncio.sleep(0.05)
    raise AssertionError(f"{url} did not become ready")


@asynccontextmanager
async def platform(
    tmp_path: Path, urls: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Platform]:
    # Embedded: the services share the process's bus and run their own job queues.
    monkeypatch.delenv("V100_REDIS_URL", raising=False)

    def platform_settings(name: str) -> PlatformSettings:
        return PlatformSettings(var_dir=tmp_path / name, internal_token_secret=INTERNAL_SECRET)

    stripe = FakeStripe(webhook_secret=WEBHOOK_SECRET)
    async with AsyncExitStack() as stack:
        stripe_url = await stack.enter_async_context(serving(stripe.app))
        billing_url = await stack.enter_async_context(
            serving(
                create_billing(
                    BillingSettings(
                        platform=platform_settings("billing"),
                        database_url=urls["billing"],
                        stripe_api_key=SecretStr("sk_test_e2e"),
                        stripe_webhook_secret=SecretStr(WEBHOOK_SECRET),
                        stripe_api_base=stripe_url,
                    )
                )
            )
        )
        engine_app = create_billing_engine(
            BillingEngineSettings(
                platform=platform_settings("billing_engine"), database_url=urls["billing_engine"]
            )
        )
        engine_url = await stack.enter_async_context(serving(engine_app))
        nowhere = dead_url()
        upstreams = {info.name: nowhere for info in SERVICES if info.name != "gateway"}
        upstreams |= {"billing": billing_url, "billing_engine": engine_url}
        gateway_settings = GatewaySettings(
            platform=platform_settings("gateway"),
            database_url=urls["gateway"],
            jwt_secret=JWT_SECRET,
            password_time_cost=1,
            password_memory_kib=1024,
            password_parallelism=1,
            upstreams=upstreams,
            **UNTHROTTLED,
        )
        gateway = create_gateway(gateway_settings)
        gateway_url = await stack.enter_async_context(serving(gateway))
        for url in (billing_url, engine_url, gateway_url):
            await _ready(url)
        # Stripe delivers its webhooks to the platform's public address: the gateway.
        stripe.webhook_url = f"{gateway_url}{WEBHOOK_PATH}"
        yield Platform(gateway_url, gateway_settings, engine_app, engine_url, stripe)


async def _tenant_policy_becomes(
    http: httpx.AsyncClient, headers: dict[str, str], limit: str, within: float = 10.0
) -> httpx.Response:
    """The gateway applies a subscription change when its event arrives: poll briefly (at most
    100 requests, well within the free tier's 300 a minute)."""
    deadline = time.monotonic() + within
    while True:
        answer = await http.get("/v1/subscriptions/current", headers=headers)
        assert answer.status_code == 200, answer.text
        if answer.headers["ratelimit-limit"] == limit or time.monotonic() > deadline:
            return answer
        await asyncio.sleep(0.1)


async def test_signup_top_up_subscribe_usage_invoice_and_tier(
    database_urls: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with (
        platform(tmp_path, database_urls, monkeypatch) as running,
        httpx.AsyncClient(base_url=running.gateway_url, trust_env=False, timeout=30) as http,
    ):
        # --- signs up: 1,000 free-tier credits -------------------------------------------
        signup = await http.post(
            "/v1/auth/signup",
            json={"email": "ada@example.com", "password": PASSWORD, "tenant_name": "Ada Films"},
        )
        assert signup.status_code == 201, signup.text
        me = {"Authorization": f"Bearer {signup.json()['access_token']}"}
        tenant_id = signup.json()["tenant"]["id"]
        balance = await http.get("/v1/credits/balance", headers=me)
        assert balance.status_code == 200, balance.text
        assert balance.json()["available"] == 1_000
        assert balance.json()["by_category"] == {"paid": 0, "promotional": 1_000}

        # --- tops up: Checkout, paid, completed by Stripe's signed webhook ------------------
        checkout = await http.post(
            "/v1/checkout/sessions",
            json={"pack": "small"},
            headers=me | {"Idempotency-Key": f"top-up-{uuid.uuid4()}"},
        )
        assert checkout.status_code == 201, checkout.text
        assert checkout.json()["credits"] == 1_000
        completed = await running.stripe.complete(checkout.json()["stripe_session_id"])
        assert completed.status_code == 200, completed.text  # answered through the gateway
        assert completed.json()["outcome"] == "granted"
        balance = (await http.get("/v1/credits/balance", headers=me)).json()
        assert balance["available"] == 2_000
        assert balance["by_category"] == {"paid": 1_000, "promotional": 1_000}
        # A forged webhook does not pass the gateway's public path into a grant.
        forged = await running.stripe.deliver(running.stripe.events[-1], secret="whsec_wrong")
        assert forged.status_code == 400, forged.text
        assert (await http.get("/v1/credits/balance", headers=me)).json()["available"] == 2_000

        # --- the free tier's limits before subscribing ---------------------------------------
        free = await http.get("/v1/subscriptions/current/tier", headers=me)
        assert free.status_code == 200, free.text
        assert free.json() == {"tier": "free", "subscription_id": None}
        assert free.headers["ratelimit-limit"] == "300"
        assert 'name="tenant";group="default"' in free.headers["ratelimit-policy"]
        assert free.headers["ratelimit-policy"].startswith("300;w=60;")

        # --- the operator's plan, with included units and an overage price -------------------
        _, secret = await create_operator_key(
            running.gateway_settings, name="billing ops", scopes=["operator:billing"]
        )
        operator = {"X-API-Key": secret}
        meter = {"code": "api_calls", "name": "API calls", "aggregation": "count"}
        created_meter = await http.post("/v1/usage/meters", json=meter, headers=operator)
        assert created_meter.status_code == 201, created_meter.text
        plan = {
            "code": "pro",
            "name": "Pro",
            "interval": "monthly",
            "base_price": BASE_PRICE,
            "currency": "USD",
            "tier": "pro",
            "included": {"api_calls": str(INCLUDED_CALLS)},
            "charges": [
                {
                    "meter": "api_calls",
                    "rate_card": {"type": "per_unit", "unit_price": str(OVERAGE_UNIT_PRICE)},
                }
            ],
        }
        # Not the tenant's to make, even as its owner.
        assert (await http.post("/v1/plans", json=plan, headers=me)).status_code == 403
        created_plan = await http.post("/v1/plans", json=plan, headers=operator)
        assert created_plan.status_code == 201, created_plan.text
        # Backdated (like Stripe's backdate_start_date), so its first period has already ended
        # and today's invoicing run bills it.
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=40)

        # --- a platform service reports usage beyond the included amount -----------------------
        # Before the subscription stands: billing_engine's own invoicing tick (every 5 minutes,
        # in this process) may then bill the backdated period at any moment after it, and
        # always with its usage in.
        used_at = (start + timedelta(days=3)).isoformat()
        events = [
            {"id": f"call-{i}", "meter": "api_calls", "timestamp": used_at}
            for i in range(CALLS_REPORTED)
        ]
        # The tenant reports none itself (through the gateway): the platform's services do,
        # straight to billing_engine with their internal token for the tenant.
        refused = await http.post("/v1/usage/events", json={"events": events[:1]}, headers=me)
        assert refused.status_code == 403, refused.text
        service = auth_headers(
            running.billing_engine,
            Principal(tenant_id=tenant_id, scopes=frozenset({"service:usage"})),
        )
        async with httpx.AsyncClient(
            base_url=running.billing_engine_url, trust_env=False, timeout=30
        ) as engine:
            reported = await engine.post(
                "/v1/usage/events", json={"events": events}, headers=service
            )
            assert reported.status_code == 200, reported.text
            accepted = (reported.json()["accepted"], reported.json()["duplicates"])
            assert accepted == (CALLS_REPORTED, 0)
            # A service's retry of the same events counts nothing twice.
            retried = await engine.post(
                "/v1/usage/events", json={"events": events[:10]}, headers=service
            )
            assert retried.json()["duplicates"] == 10

        # --- subscribes; the operator grants it, from 40 days ago ---------------------------------
        subscribed = await http.post("/v1/subscriptions", json={"plan": "pro"}, headers=me)
        assert subscribed.status_code == 201, subscribed.text
        # A priced plan: no tier until it is paid for or granted.
        assert (subscribed.json()["tier"], subscribed.json()["status"]) == ("free", "incomplete")
        grant = {"tenant_id": tenant_id, "plan": "pro", "start": start.isoformat()}
        granted = await http.post("/v1/subscriptions/grants", json=grant, headers=operator)
        assert granted.status_code == 200, granted.text
        subscription = granted.json()
        assert subscription["id"] == subscribed.json()["id"]
        assert (subscription["tier"], subscription["status"]) == ("pro", "active")
        period_start = datetime.fromisoformat(subscription["period_start"])
        period_end = datetime.fromisoformat(subscription["period_end"])
        assert period_end < datetime.now(UTC) - timedelta(minutes=15)

        # --- the gateway's limits follow the plan's tier ---------------------------------------
        pro = await _tenant_policy_becomes(http, me, "3000")
        assert pro.headers["ratelimit-limit"] == "3000", pro.headers
        assert pro.headers["ratelimit-policy"] == '3000;w=60;name="tenant";group="default"'
        assert int(pro.headers["ratelimit-remaining"]) > 300

        # --- the scheduled invoicing run (its job, as the scheduler's tick starts it) ----------
        sessions = running.billing_engine.state.runtime.sessions
        async with unit_of_work(sessions) as session:
            job_id = await enqueue(session, invoice_due_subscriptions)
        job = await wait_for_job(sessions, job_id, within=30)
        assert job.status == JobStatus.SUCCEEDED, job

        invoices = await http.get("/v1/invoices", headers=me)
        assert invoices.status_code == 200, invoices.text
        (listed,) = invoices.json()["items"]
        invoice = (await http.get(f"/v1/invoices/{listed['id']}", headers=me)).json()
        overage = (CALLS_REPORTED - INCLUDED_CALLS) * OVERAGE_UNIT_PRICE
        assert overage == 240
        assert invoice["currency"] == "USD"
        assert invoice["plan_code"] == "pro"
        assert datetime.fromisoformat(invoice["period_start"]) == period_start
        assert datetime.fromisoformat(invoice["period_end"]) == period_end
        assert invoice["total"] == BASE_PRICE + overage == 3_140
        lines = {line["kind"]: line for line in invoice["lines"]}
        assert set(lines) == {"base", "usage"}
        assert lines["base"]["amount"] == BASE_PRICE
        usage = lines["usage"]
        assert usage["meter_code"] == "api_calls"
        assert float(usage["quantity"]) == CALLS_REPORTED
        assert usage["event_count"] == CALLS_REPORTED
        assert usage["amount"] == overage
        # Renewed into the next period, still on the plan's tier.
        current = await _tenant_policy_becomes(http, me, "3000")
        assert datetime.fromisoformat(current.json()["period_start"]) == period_end
        assert current.headers["ratelimit-limit"] == "3000"
