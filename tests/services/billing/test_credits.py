"""Credits through billing's HTTP API: the free-tier grant, deductions, holds (capture,
release, expiry), validation, idempotency and tenant isolation, with the ledger's invariants
checked after each operation."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from v100.kit.auth import OPERATOR_TENANT_ID, Principal
from v100.kit.db import unit_of_work
from v100.kit.testing.http import auth_headers
from v100.services.billing.service import CreditService

from .support import Billing, key, new_tenant

# One billing app per backend for the module (conftest.py): its tests run on the module's loop.
pytestmark = [pytest.mark.time_sensitive, pytest.mark.asyncio(loop_scope="module")]


def assert_problem(response, status: int, slug: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == f"/problems/{slug}"
    return body


async def test_a_new_tenant_starts_with_its_free_tier_grant_once(billing: Billing) -> None:
    tenant = new_tenant()
    assert await billing.available(tenant) == 1_000
    assert await billing.available(tenant) == 1_000
    body = (await billing.get(tenant, "/v1/credits/balance")).json()
    assert body["held"] == 0
    assert body["by_category"] == {"paid": 0, "promotional": 1_000}
    assert [g["source"] for g in body["grants"]] == ["free_tier"]
    assert (await billing.check_ledger(tenant))["issued"] == -1_000


async def test_deduction_charges_and_insufficient_credits_is_409(billing: Billing) -> None:
    tenant = new_tenant()
    response = await billing.deduct(tenant, 300)
    assert response.status_code == 201, response.text
    assert response.json()["available_after"] == 700
    assert await billing.available(tenant) == 700
    body = assert_problem(await billing.deduct(tenant, 701), 409, "insufficient-credits")
    assert body["available"] == 700
    assert await billing.available(tenant) == 700
    sums = await billing.check_ledger(tenant)
    assert sums["spent"] == 300


@pytest.mark.parametrize("amount", [0, -5, 1.5, "10", None, True, 10**13])
async def test_bad_amounts_are_422(billing: Billing, amount: object) -> None:
    tenant = new_tenant()
    assert_problem(await billing.deduct(tenant, amount), 422, "validation-failed")  # type: ignore[arg-type]
    assert_problem(await billing.reserve(tenant, amount), 422, "validation-failed")  # type: ignore[arg-type]
    assert await billing.available(tenant) == 1_000


async def test_a_hold_expiring_in_the_past_is_422(billing: Billing) -> None:
    tenant = new_tenant()
    past = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
    assert_problem(await billing.reserve(tenant, 10, expires_at=past), 422, "validation-failed")
    naive = await billing.reserve(tenant, 10, expires_at="2030-01-01T00:00:00")
    assert_problem(naive, 422, "validation-failed")
    assert await billing.available(tenant) == 1_000


async def test_idempotency_key_is_required(billing: Billing) -> None:
    tenant = new_tenant()
    response = await billing.http.post(
        "/v1/credits/deductions",
        json={"amount": 1, "reason": "x"},
        headers=billing.headers(tenant),
    )
    assert_problem(response, 422, "validation-failed")


async def test_hold_capture_returns_the_rest(billing: Billing) -> None:
    tenant = new_tenant()
    response = await billing.reserve(tenant, 400, reference="job-1")
    assert response.status_code == 201, response.text
    hold = response.json()
    assert hold["status"] == "held"
    balance = (await billing.get(tenant, "/v1/credits/balance")).json()
    assert (balance["available"], balance["held"]) == (600, 400)
    await billing.check_ledger(tenant)
    captured = await billing.post(
        tenant, f"/v1/credits/holds/{hold['id']}/capture", {"amount": 250}
    )
    assert captured.status_code == 200, captured.text
    assert captured.json()["status"] == "captured"
    assert captured.json()["captured_amount"] == 250
    balance = (await billing.get(tenant, "/v1/credits/balance")).json()
    assert (balance["available"], balance["held"]) == (750, 0)
    assert (await billing.check_ledger(tenant))["spent"] == 250


async def test_capture_above_the_hold_is_409(billing: Billing) -> None:
    tenant = new_tenant()
    hold = (await billing.reserve(tenant, 100)).json()
    path = f"/v1/credits/holds/{hold['id']}/capture"
    assert_problem(await billing.post(tenant, path, {"amount": 101}), 409, "capture-exceeds-hold")
    assert (await billing.get(tenant, f"/v1/credits/holds/{hold['id']}")).json()["status"] == "held"
    await billing.check_ledger(tenant)


async def test_double_capture_is_409_and_a_retry_replays(billing: Billing) -> None:
    tenant = new_tenant()
    hold = (await billing.reserve(tenant, 100)).json()
    path = f"/v1/credits/holds/{hold['id']}/capture"
    k = key()
    first = await billing.post(tenant, path, {"amount": 60}, idempotency_key=k)
    retry = await billing.post(tenant, path, {"amount": 60}, idempotency_key=k)
    assert retry.status_code == first.status_code == 200
    assert retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    assert_problem(await billing.post(tenant, path, {"amount": 60}), 409, "hold-closed")
    release = await billing.post(tenant, f"/v1/credits/holds/{hold['id']}/release")
    assert_problem(release, 409, "hold-closed")
    assert await billing.available(tenant) == 940
    assert (await billing.check_ledger(tenant))["spent"] == 60


async def test_release_returns_everything(billing: Billing) -> None:
    tenant = new_tenant()
    hold = (await billing.reserve(tenant, 999)).json()
    assert await billing.available(tenant) == 1
    response = await billing.post(tenant, f"/v1/credits/holds/{hold['id']}/release")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "released"
    assert await billing.available(tenant) == 1_000
    assert (await billing.check_ledger(tenant))["spent"] == 0


async def test_an_expired_hold_releases_itself_on_read(billing: Billing) -> None:
    tenant = new_tenant()
    soon = datetime.now(UTC) + timedelta(seconds=1)
    hold = (await billing.reserve(tenant, 500, expires_at=soon.isoformat())).json()
    assert await billing.available(tenant) == 500
    await asyncio.sleep(1.1)
    assert await billing.available(tenant) == 1_000
    got = (await billing.get(tenant, f"/v1/credits/holds/{hold['id']}")).json()
    assert got["status"] == "expired"
    capture = await billing.post(tenant, f"/v1/credits/holds/{hold['id']}/capture", {"amount": 1})
    assert_problem(capture, 409, "hold-closed")
    await billing.check_ledger(tenant)


async def test_the_expiry_job_releases_holds_of_every_tenant(billing: Billing) -> None:
    tenants = [new_tenant(), new_tenant()]
    soon = datetime.now(UTC) + timedelta(seconds=1)
    for tenant in tenants:
        assert (await billing.reserve(tenant, 300, expires_at=soon.isoformat())).status_code == 201
    await asyncio.sleep(1.1)
    async with unit_of_work(billing.app.state.runtime.sessions) as session:
        # The queue may have swept already (it runs at start-up and every minute).
        await CreditService(session, billing.settings).expire_all_due()
    for tenant in tenants:
        sums = await billing.check_ledger(tenant)
        assert (sums["available"], sums["held"]) == (1_000, 0)


async def test_idempotent_replay_and_conflict(billing: Billing) -> None:
    tenant = new_tenant()
    k = key()
    first = await billing.deduct(tenant, 10, idempotency_key=k)
    again = await billing.deduct(tenant, 10, idempotency_key=k)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert await billing.available(tenant) == 990
    other = await billing.deduct(tenant, 11, idempotency_key=k)
    assert_problem(other, 409, "idempotency-key-reused")
    # The same key on another operation is a conflict too.
    assert_problem(await billing.reserve_with_key(tenant, 10, k), 409, "idempotency-key-reused")
    # Keys are per tenant: another tenant's identical key is its own call.
    stranger = new_tenant()
    assert (await billing.deduct(stranger, 10, idempotency_key=k)).status_code == 201
    assert await billing.available(stranger) == 990
    assert await billing.available(tenant) == 990


async def test_a_failed_call_is_not_stored(billing: Billing) -> None:
    tenant = new_tenant()
    k = key()
    assert_problem(
        await billing.deduct(tenant, 5_000, idempotency_key=k), 409, "insufficient-credits"
    )
    assert (await billing.deduct(tenant, 5_000, idempotency_key=k)).status_code == 409
    assert (await billing.deduct(tenant, 50, idempotency_key=k)).status_code == 201
    assert await billing.available(tenant) == 950
    await billing.check_ledger(tenant)


async def test_another_tenants_hold_is_404(billing: Billing) -> None:
    owner, stranger = new_tenant(), new_tenant()
    hold = (await billing.reserve(owner, 100)).json()
    for response in (
        await billing.get(stranger, f"/v1/credits/holds/{hold['id']}"),
        await billing.post(stranger, f"/v1/credits/holds/{hold['id']}/capture", {"amount": 1}),
        await billing.post(stranger, f"/v1/credits/holds/{hold['id']}/release"),
    ):
        assert_problem(response, 404, "not-found")
    assert await billing.available(owner) == 900
    assert await billing.available(stranger) == 1_000


async def test_requests_without_an_internal_token_are_401(billing: Billing) -> None:
    response = await billing.http.get("/v1/credits/balance")
    assert_problem(response, 401, "unauthorized")


@pytest.mark.parametrize("scopes", [{"*"}, {"credits:*"}, {"videos:read"}])
async def test_no_tenant_credential_can_spend_or_hold_credits(
    billing: Billing, scopes: set[str]
) -> None:
    # Spending is reported by the platform's services (service:credits), never by a tenant's
    # key, whatever its scopes: a key with "*" got 201 here before.
    tenant = new_tenant()
    caller = auth_headers(billing.app, Principal(tenant_id=tenant, scopes=frozenset(scopes)))
    for path, body in [
        ("/v1/credits/deductions", {"amount": 5, "reason": "x"}),
        ("/v1/credits/holds", {"amount": 5, "reason": "x"}),
    ]:
        answer = await billing.http.post(
            path, json=body, headers={**caller, "Idempotency-Key": key()}
        )
        assert_problem(answer, 403, "forbidden")
    assert await billing.available(tenant) == 1_000


async def test_reading_credits_needs_credits_read(billing: Billing) -> None:
    tenant = new_tenant()
    reader = auth_headers(
        billing.app, Principal(tenant_id=tenant, scopes=frozenset({"credits:read"}))
    )
    other = auth_headers(
        billing.app, Principal(tenant_id=tenant, scopes=frozenset({"videos:read"}))
    )
    for path in ("/v1/credits/balance", "/v1/credits/transactions", "/v1/credits/audit"):
        assert (await billing.http.get(path, headers=reader)).status_code == 200
        assert_problem(await billing.http.get(path, headers=other), 403, "forbidden")


@pytest.mark.parametrize(
    "body",
    [
        {"amount": 5, "reason": "x", "expires_in_seconds": 1_000_000_000_000},  # 500 before
        {"amount": 5, "reason": "nul \x00 inside"},  # stored verbatim before
        {"amount": 5, "reason": "ok", "reference": "line\nbreak"},
    ],
)
async def test_bad_hold_requests_are_422(billing: Billing, body: dict[str, object]) -> None:
    tenant = new_tenant()
    answer = await billing.post(tenant, "/v1/credits/holds", body)
    assert_problem(answer, 422, "validation-failed")
    assert await billing.available(tenant) == 1_000


async def test_only_the_operator_grants_credits(billing: Billing) -> None:
    # ADR 0027: credit grants are the operator's; a tenant's "*" gets none for itself.
    tenant = new_tenant()
    operator = auth_headers(
        billing.app,
        Principal(
            tenant_id=OPERATOR_TENANT_ID, scopes=frozenset({"operator:billing"}), role="operator"
        ),
    )
    body = {"tenant_id": tenant, "amount": 250, "reference": "launch promo"}
    for scopes in ({"*"}, {"credits:*"}, {"*", "service:credits"}):
        caller = auth_headers(billing.app, Principal(tenant_id=tenant, scopes=frozenset(scopes)))
        answer = await billing.http.post(
            "/v1/credits/grants", json=body, headers={**caller, "Idempotency-Key": key()}
        )
        assert_problem(answer, 403, "forbidden")
    assert await billing.available(tenant) == 1_000

    k = key()
    granted = await billing.http.post(
        "/v1/credits/grants", json=body, headers={**operator, "Idempotency-Key": k}
    )
    assert granted.status_code == 201, granted.text
    assert (granted.json()["amount"], granted.json()["source"]) == (250, "operator")
    assert granted.json()["category"] == "promotional"
    again = await billing.http.post(
        "/v1/credits/grants", json=body, headers={**operator, "Idempotency-Key": k}
    )
    assert again.json() == granted.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await billing.available(tenant) == 1_250
    await billing.check_ledger(tenant)

    for bad in (
        {**body, "expires_at": "2000-01-01T00:00:00Z"},
        {**body, "amount": 0},
        {**body, "tenant_id": "not a tenant"},
        {**body, "tenant_id": OPERATOR_TENANT_ID},
    ):
        answer = await billing.http.post(
            "/v1/credits/grants", json=bad, headers={**operator, "Idempotency-Key": key()}
        )
        assert_problem(answer, 422, "validation-failed")
    assert await billing.available(tenant) == 1_250
