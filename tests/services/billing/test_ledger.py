"""The ledger under random operations (hypothesis), grants consumed in priority then expiry
order, grant expiry through the ledger, and concurrent duplicate deductions."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from v100.kit.db import unit_of_work
from v100.kit.errors import Conflict
from v100.services.billing.service import CreditService

from .support import Billing, key, new_tenant

# One billing app per backend for the module (conftest.py): its tests run on the module's loop.
pytestmark = [pytest.mark.time_sensitive, pytest.mark.asyncio(loop_scope="module")]

amounts = st.integers(min_value=1, max_value=1_500)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("deduct"), amounts),
        st.tuples(st.just("reserve"), amounts),
        st.tuples(st.just("capture"), st.integers(0, 10), amounts),
        st.tuples(st.just("release"), st.integers(0, 10)),
        st.tuples(
            st.just("grant"),
            amounts,
            st.sampled_from(["paid", "promotional"]),
            st.integers(0, 100),
        ),
    ),
    max_size=25,
)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=operations)
async def test_the_ledger_balances_after_every_operation(billing: Billing, ops: list) -> None:  # type: ignore[type-arg]
    tenant = new_tenant()
    sessions = billing.app.state.runtime.sessions
    available, held, spent = 1_000, 0, 0
    holds: list[tuple[str, int]] = []
    assert await billing.available(tenant) == available
    for op in ops:
        try:
            async with unit_of_work(sessions) as session:
                credits = CreditService(session, billing.settings)
                if op[0] == "deduct":
                    await credits.deduct(tenant, op[1], reason="p")
                    available, spent = available - op[1], spent + op[1]
                elif op[0] == "reserve":
                    hold = await credits.reserve(tenant, op[1], reason="p")
                    holds.append((hold.id, op[1]))
                    available, held = available - op[1], held + op[1]
                elif op[0] == "capture" and op[1] < len(holds):
                    hold_id, amount = holds[op[1]]
                    await credits.capture(tenant, hold_id, op[2])
                    holds.pop(op[1])
                    available, held, spent = (
                        available + amount - op[2],
                        held - amount,
                        spent + op[2],
                    )
                elif op[0] == "release" and op[1] < len(holds):
                    hold_id, amount = holds.pop(op[1])
                    await credits.release(tenant, hold_id)
                    available, held = available + amount, held - amount
                elif op[0] == "grant":
                    await credits.grant(
                        tenant, op[1], category=op[2], priority=op[3], source="test"
                    )
                    available += op[1]
                else:
                    await credits.open(tenant)
        except Conflict as exc:
            # Refused operations change nothing, and are refused only for a reason.
            refused = exc.slug
            assert refused in {"insufficient-credits", "capture-exceeds-hold"}
            if op[0] == "capture":
                assert op[2] > holds[op[1]][1]
            else:
                assert op[1] > available
        sums = await billing.check_ledger(tenant)
        assert (sums["available"], sums["held"], sums["spent"]) == (available, held, spent)


async def _grant(billing: Billing, tenant: str, amount: int, **kwargs: object) -> str:
    async with unit_of_work(billing.app.state.runtime.sessions) as session:
        grant = await CreditService(session, billing.settings).grant(
            tenant,
            amount,
            source="test",
            **kwargs,  # type: ignore[arg-type]
        )
        return grant.id


async def test_grants_are_consumed_by_priority_then_earliest_expiry(billing: Billing) -> None:
    tenant = new_tenant()
    later = datetime.now(UTC) + timedelta(days=30)
    sooner = datetime.now(UTC) + timedelta(days=3)
    paid = await _grant(billing, tenant, 500, category="paid", priority=50)
    promo_late = await _grant(billing, tenant, 200, category="promotional", priority=20,
                              expires_at=later)  # fmt: skip
    promo_soon = await _grant(billing, tenant, 200, category="promotional", priority=20,
                              expires_at=sooner)  # fmt: skip

    async def remaining() -> dict[str, int]:
        body = (await billing.get(tenant, "/v1/credits/balance")).json()
        return {g["id"]: g["remaining"] for g in body["grants"]}

    # The free tier (priority 10) goes first, then the sooner-expiring of two priority-20 grants.
    assert (await billing.deduct(tenant, 1_100)).status_code == 201
    left = await remaining()
    assert (left[promo_soon], left[promo_late], left[paid]) == (100, 200, 500)
    assert (await billing.deduct(tenant, 100)).status_code == 201
    left = await remaining()
    assert promo_soon not in left
    assert (left[promo_late], left[paid]) == (200, 500)
    assert (await billing.deduct(tenant, 250)).status_code == 201
    left = await remaining()
    assert list(left) == [paid]
    assert left[paid] == 450
    body = (await billing.get(tenant, "/v1/credits/balance")).json()
    assert body["by_category"] == {"paid": 450, "promotional": 0}
    await billing.check_ledger(tenant)


async def test_expired_grants_leave_through_the_ledger(billing: Billing) -> None:
    tenant = new_tenant()
    soon = datetime.now(UTC) + timedelta(seconds=1)
    await _grant(billing, tenant, 250, category="promotional", priority=0, expires_at=soon)
    assert await billing.available(tenant) == 1_250
    # Held credits of an expiring grant come back after the hold and then expire.
    hold = (await billing.reserve(tenant, 1_100)).json()
    await asyncio.sleep(1.1)
    assert await billing.available(tenant) == 150
    release = await billing.post(tenant, f"/v1/credits/holds/{hold['id']}/release")
    assert release.status_code == 200
    assert await billing.available(tenant) == 1_000
    sums = await billing.check_ledger(tenant)
    assert sums["expired"] == 250
    kinds = (await billing.get(tenant, "/v1/credits/transactions")).json()["items"]
    assert [t["kind"] for t in kinds][:2] == ["expiry", "release"]


async def test_concurrent_duplicate_deductions_end_exact(billing: Billing) -> None:
    tenant = new_tenant()
    assert await billing.available(tenant) == 1_000
    keys = [key() for _ in range(50)]
    calls = [billing.deduct(tenant, 7, idempotency_key=k) for k in keys for _ in range(2)]
    responses = await asyncio.gather(*calls)
    assert [r.status_code for r in responses] == [201] * 100, {r.text for r in responses}
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 50
    assert await billing.available(tenant) == 1_000 - 50 * 7
    history = (await billing.get(tenant, "/v1/credits/transactions",
                                 params={"kind": "deduction", "limit": 200})).json()  # fmt: skip
    assert len(history["items"]) == 50
    await billing.check_ledger(tenant)


async def test_concurrent_first_use_grants_the_free_tier_once(billing: Billing) -> None:
    tenant = new_tenant()
    responses = await asyncio.gather(*(billing.deduct(tenant, 1) for _ in range(10)))
    assert [r.status_code for r in responses] == [201] * 10
    assert await billing.available(tenant) == 990
    assert (await billing.check_ledger(tenant))["issued"] == -1_000


async def test_one_batch_answers_each_call_on_its_own(billing: Billing) -> None:
    tenant = new_tenant()
    assert await billing.available(tenant) == 1_000
    shared = key()
    calls = [
        billing.deduct(tenant, 600),
        billing.deduct(tenant, 600),  # one of the two 600s cannot be covered
        billing.deduct(tenant, 5, idempotency_key=shared),
        billing.deduct(tenant, 6, idempotency_key=shared),  # same key, another body
        billing.deduct(tenant, 5, idempotency_key=shared),
    ]
    big_a, big_b, first, other, same = await asyncio.gather(*calls)
    assert sorted([big_a.status_code, big_b.status_code]) == [201, 409]
    refused = big_a if big_a.status_code == 409 else big_b
    assert refused.json()["type"] == "/problems/insufficient-credits"
    # Whichever body reached billing first wins the key; the other body is a conflict.
    if other.status_code == 201:
        winners, losers, charged = [other], [first, same], 6
    else:
        winners, losers, charged = [first, same], [other], 5
    assert [r.status_code for r in winners] == [201] * len(winners)
    assert len({r.json()["id"] for r in winners}) == 1
    for loser in losers:
        assert loser.status_code == 409
        assert loser.json()["type"] == "/problems/idempotency-key-reused"
    assert await billing.available(tenant) == 1_000 - 600 - charged
    await billing.check_ledger(tenant)
