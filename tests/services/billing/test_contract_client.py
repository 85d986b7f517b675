"""The typed client other services use (``v100.contracts.billing``) against the real app."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from v100.contracts.billing import (
    BillingClient,
    BillingError,
    InsufficientCredits,
    spending_for,
)
from v100.kit.auth import Principal
from v100.kit.http import ServiceClient

from .support import Billing, new_tenant


@pytest.fixture
async def client(billing: Billing) -> AsyncIterator[BillingClient]:
    service = ServiceClient(
        "http://billing",
        billing.app.state.runtime.tokens,
        transport=httpx.ASGITransport(app=billing.app),
    )
    yield BillingClient(service)
    await service.aclose()


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
