"""Stripe Checkout top-ups against the local fake Stripe (real HTTP, the official SDK): a
session per pack, signed webhooks that grant once (repeated and reordered events), and
refused signatures and stale timestamps."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from pydantic import SecretStr

from v100.kit.settings import PlatformSettings
from v100.kit.testing.fakes.stripe import FakeStripe
from v100.kit.testing.http import running_app
from v100.kit.testing.servers import serving
from v100.services.billing.app import create_app
from v100.services.billing.checkout_api import WEBHOOK_PATH
from v100.services.billing.settings import BillingSettings

from .support import INTERNAL_SECRET, Billing, key, new_tenant

# One billing app per backend for the module (conftest.py): its tests run on the module's loop.
pytestmark = [pytest.mark.time_sensitive, pytest.mark.asyncio(loop_scope="module")]

WEBHOOK_SECRET = "whsec_test_billing"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fake_stripe() -> AsyncIterator[tuple[FakeStripe, str]]:
    fake = FakeStripe(webhook_secret=WEBHOOK_SECRET)
    async with serving(fake.app) as base_url:
        yield fake, base_url


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shop(
    module_database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    fake_stripe: tuple[FakeStripe, str],
) -> AsyncIterator[tuple[Billing, FakeStripe]]:
    """Billing with Stripe on, one per module and backend (the tests stay apart by tenant)."""
    fake, base_url = fake_stripe
    settings = BillingSettings(
        platform=PlatformSettings(
            var_dir=tmp_path_factory.mktemp("shop"), internal_token_secret=INTERNAL_SECRET
        ),
        database_url=module_database_url,
        stripe_api_key=SecretStr("sk_test_billing"),
        stripe_webhook_secret=SecretStr(WEBHOOK_SECRET),
        stripe_api_base=base_url,
    )
    app = create_app(settings)
    async with running_app(app) as http:
        fake.webhook_client, fake.webhook_url = http, WEBHOOK_PATH
        yield Billing(app=app, http=http, settings=settings), fake


async def _checkout(billing: Billing, tenant: str, pack: str = "small") -> dict:  # type: ignore[type-arg]
    response = await billing.post(tenant, "/v1/checkout/sessions", {"pack": pack})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_checkout_then_signed_webhook_grants_once(shop: tuple[Billing, FakeStripe]) -> None:
    billing, fake = shop
    tenant = new_tenant()
    checkout = await _checkout(billing, tenant)
    assert checkout["credits"] == 1_000
    assert checkout["amount_total"] == 1_000
    assert checkout["url"].startswith("https://")
    # What reached Stripe: form-encoded line items, metadata and the tenant as reference.
    method, path, params = fake.requests[-1]
    assert (method, path) == ("POST", "/v1/checkout/sessions")
    assert params["mode"] == "payment"
    assert params["client_reference_id"] == tenant
    assert params["metadata"] == {"tenant_id": tenant, "pack": "small", "credits": "1000"}
    assert params["line_items"][0]["price_data"]["unit_amount"] == "1000"

    response = await fake.complete(checkout["stripe_session_id"])
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "granted"
    assert await billing.available(tenant) == 2_000
    balance = (await billing.get(tenant, "/v1/credits/balance")).json()
    assert balance["by_category"] == {"paid": 1_000, "promotional": 1_000}
    # Stripe repeats the event, and sends another for the same session: nothing more.
    repeat = await fake.deliver(fake.events[-1])
    assert repeat.json()["outcome"] == "duplicate"
    again = await fake.deliver(fake.event_for(checkout["stripe_session_id"]))
    assert again.json()["outcome"] == "already-granted"
    assert await billing.available(tenant) == 2_000
    got = (await billing.get(tenant, f"/v1/checkout/sessions/{checkout['id']}")).json()
    assert got["status"] == "completed"
    assert (await billing.check_ledger(tenant))["issued"] == -2_000
    # Another tenant cannot see it.
    stranger = await billing.get(new_tenant(), f"/v1/checkout/sessions/{checkout['id']}")
    assert stranger.status_code == 404


async def test_reordered_and_concurrent_events_grant_once(
    shop: tuple[Billing, FakeStripe],
) -> None:
    billing, fake = shop
    tenant = new_tenant()
    checkout = await _checkout(billing, tenant, "medium")
    sid = checkout["stripe_session_id"]
    unpaid = fake.event_for(sid)  # completed while the payment is still pending
    fake.pay(sid)
    succeeded = fake.event_for(sid, "checkout.session.async_payment_succeeded")
    # The later event arrives first, several times at once; the older one after it.
    answers = await asyncio.gather(*(fake.deliver(succeeded) for _ in range(5)))
    outcomes = sorted(a.json()["outcome"] for a in answers)
    assert outcomes == ["duplicate"] * 4 + ["granted"]
    assert (await fake.deliver(unpaid)).json()["outcome"] == "unpaid"
    assert await billing.available(tenant) == 6_000
    await billing.check_ledger(tenant)


async def test_unknown_and_unpaid_sessions_are_ignored(shop: tuple[Billing, FakeStripe]) -> None:
    billing, fake = shop
    tenant = new_tenant()
    checkout = await _checkout(billing, tenant)
    unpaid = await fake.deliver(fake.event_for(checkout["stripe_session_id"]))
    assert unpaid.json()["outcome"] == "unpaid"
    fake.sessions["cs_test_other"] = {**fake.sessions[checkout["stripe_session_id"]],
                                      "id": "cs_test_other", "payment_status": "paid"}  # fmt: skip
    unknown = await fake.deliver(fake.event_for("cs_test_other"))
    assert unknown.status_code == 200
    assert unknown.json()["outcome"] == "unknown-session"
    other = await fake.deliver(fake.event_for(checkout["stripe_session_id"], "customer.created"))
    assert other.json()["outcome"] == "ignored"
    assert await billing.available(tenant) == 1_000


async def test_bad_signatures_and_stale_events_are_refused(
    shop: tuple[Billing, FakeStripe],
) -> None:
    billing, fake = shop
    tenant = new_tenant()
    checkout = await _checkout(billing, tenant)
    fake.pay(checkout["stripe_session_id"])
    event = fake.event_for(checkout["stripe_session_id"])
    for response in (
        await fake.deliver(event, secret="whsec_wrong"),
        await fake.deliver(event, timestamp=int(time.time()) - 3_600),
        await fake.deliver(event, signature="t=1,v1=deadbeef"),
        await billing.http.post(WEBHOOK_PATH, content=b"{}"),
    ):
        assert response.status_code == 400, response.text
        assert response.json()["type"] == "/problems/invalid-webhook"
    assert await billing.available(tenant) == 1_000
    # The genuine delivery still works afterwards.
    assert (await fake.deliver(event)).json()["outcome"] == "granted"


async def test_checkout_is_idempotent_and_validates_packs(
    shop: tuple[Billing, FakeStripe],
) -> None:
    billing, fake = shop
    tenant = new_tenant()
    k = key()
    first = await billing.post(
        tenant, "/v1/checkout/sessions", {"pack": "large"}, idempotency_key=k
    )
    again = await billing.post(
        tenant, "/v1/checkout/sessions", {"pack": "large"}, idempotency_key=k
    )
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    mine = [s for s in fake.sessions.values() if s["client_reference_id"] == tenant]
    assert len(mine) == 1
    conflict = await billing.post(tenant, "/v1/checkout/sessions", {"pack": "small"},
                                  idempotency_key=k)  # fmt: skip
    assert conflict.status_code == 409
    unknown = await billing.post(tenant, "/v1/checkout/sessions", {"pack": "huge"})
    assert unknown.status_code == 404


async def test_fake_stripe_speaks_stripes_errors(fake_stripe: tuple[FakeStripe, str]) -> None:
    import httpx

    _, base_url = fake_stripe
    async with httpx.AsyncClient(base_url=base_url) as client:
        no_key = await client.post("/v1/checkout/sessions", data={"mode": "payment"})
        assert no_key.status_code == 401
        assert no_key.json()["error"]["type"] == "invalid_request_error"
        auth = {"Authorization": "Bearer sk_test_x"}
        missing = await client.post("/v1/checkout/sessions", data={"mode": "payment"}, headers=auth)
        assert missing.status_code == 400
        assert missing.json()["error"] | {} == {
            "type": "invalid_request_error",
            "code": "parameter_missing",
            "param": "success_url",
            "message": "Missing required param: success_url.",
        }
        gone = await client.get("/v1/checkout/sessions/cs_nope", headers=auth)
        assert gone.status_code == 404
        assert gone.json()["error"]["code"] == "resource_missing"


async def test_checkout_without_stripe_keys_is_501(billing: Billing) -> None:
    # 501, not 503: asking again cannot help, and the gateway must not count it against
    # billing's health (a burst of 503s opened its breaker for every tenant).
    response = await billing.post(new_tenant(), "/v1/checkout/sessions", {"pack": "small"})
    assert response.status_code == 501
    assert response.json()["type"] == "/problems/not-configured"
