"""The typed client other services use (``v100.contracts.billing``) against the real app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
import pytest_asyncio

from v100.contracts.billing import (
    BillingClient,
    BillingError,
    InsufficientCredits,
    spending_for,
)
from v100.contracts.credit_holds import MAX_HOLD_LIFETIME, HoldTerms, hold_lifetime
from v100.kit.auth import Principal
from v100.kit.db import utcnow
from v100.kit.http import ServiceClient

from .support import Billing, new_tenant

# One billing app per backend for the module (conftest.py): its tests run on the module's loop.
on_the_modules_loop = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(billing: Billing) -> AsyncIterator[BillingClient]:
    service = ServiceClient(
        "http://billing",
        billing.app.state.runtime.tokens,
        transport=httpx.ASGITransport(app=billing.app),
    )
    yield BillingClient(service)
    await service.aclose()


@on_the_modules_loop
async def test_reserve_capture_release_deduct_balance(client: BillingClient) -> None:
    # A service's identity for billing: the tenant it works for, allowed only to spend.
    caller = spending_for(new_tenant())
    hold = await client.reserve(caller, 300, reason="transcode", reference="v1",
                                idempotency_key="v1:hold")  # fmt: skip
    assert hold.status == "held"
    again = await client.reserve(caller, 300, reason="transcode", reference="v1",
                                 idempotency_key="v1:hold")  # fmt: skip
    assert again == hold
    captured = await client.capture(caller, hold.id, 120, idempotency_key="v1:capture")
    assert (captured.status, captured.captured_amount) == ("captured", 120)
    other = await client.reserve(caller, 50, reason="llm", idempotency_key="l1:hold")
    released = await client.release(caller, other.id, idempotency_key="l1:release")
    assert released.status == "released"
    deduction = await client.deduct(caller, 80, reason="tokens", idempotency_key="t1")
    assert deduction.available_after == 800
    reader = Principal(tenant_id=caller.tenant_id, scopes=frozenset({"credits:read"}))
    balance = await client.balance(reader)
    assert (balance.available, balance.held) == (800, 0)
    assert balance.grants[0].source == "free_tier"

    with pytest.raises(InsufficientCredits) as refused:
        await client.deduct(caller, 801, reason="tokens", idempotency_key="t2")
    assert refused.value.available == 800
    with pytest.raises(BillingError) as conflict:
        await client.capture(caller, hold.id, 10, idempotency_key="v1:capture-2")
    assert conflict.value.status == 409
    assert conflict.value.problem["type"] == "/problems/hold-closed"


class WorkFailed(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code, self.detail = code, detail


SAMPLE = HoldTerms(
    kind="sample",
    reason="sample.work",
    work="the sample",
    lifetime=hold_lifetime(600, attempts=2),
    failure=WorkFailed,
)


@on_the_modules_loop
async def test_hold_terms_hold_capture_and_release_once_per_work(client: BillingClient) -> None:
    """The flow media_processor and video_processing share (contracts.credit_holds): every
    request is keyed by the work, so running it again is charged once."""
    tenant, created = new_tenant(), utcnow()
    hold = {"work_id": "w1", "tenant_id": tenant, "created_at": created, "amount": 3}
    hold_id = await SAMPLE.reserve(client, **hold, last_attempt=False)
    assert hold_id is not None
    assert await SAMPLE.reserve(client, **hold, last_attempt=True) == hold_id  # a rerun
    settle = {"work_id": "w1", "tenant_id": tenant, "hold_id": hold_id, "amount": 2}
    assert await SAMPLE.capture(client, **settle) == 2
    assert await SAMPLE.capture(client, **settle) == 2  # replayed, not charged again
    other = await SAMPLE.reserve(
        client, work_id="w2", tenant_id=tenant, created_at=created, amount=5, last_attempt=False
    )
    assert other is not None
    await SAMPLE.release(client, work_id="w2", tenant_id=tenant, hold_id=other)
    await SAMPLE.release(client, work_id="w2", tenant_id=tenant, hold_id=other)  # replayed
    reader = Principal(tenant_id=tenant, scopes=frozenset({"credits:read"}))
    balance = await client.balance(reader)
    assert (balance.available, balance.held) == (998, 0)

    with pytest.raises(WorkFailed) as refused:
        await SAMPLE.reserve(
            client, work_id="w3", tenant_id=tenant, created_at=created, amount=5000,
            last_attempt=False,
        )  # fmt: skip
    assert refused.value.code == "insufficient-credits"
    assert refused.value.detail == "the sample needs 5000 credits; 998 are available"
    # Without billing (off, or free) nothing is held and nothing charged.
    assert await SAMPLE.reserve(None, **hold, last_attempt=False) is None
    assert await SAMPLE.capture(None, **settle) is None


def test_a_hold_outlives_every_attempt_within_billings_bounds() -> None:
    assert hold_lifetime(3 * 3600, attempts=3) == timedelta(hours=10)
    assert hold_lifetime(6 * 3600, attempts=100) == MAX_HOLD_LIFETIME
