"""Two billing replicas on one database (each with its own process-local batcher and pool): the
copies of each deduction go to different replicas at once, and still exactly one is charged and
both get the same answer. The ledger lock, not the process, is what makes it exact."""

from __future__ import annotations

import asyncio

import pytest

from v100.kit.testing.http import running_app
from v100.services.billing.app import create_app
from v100.services.billing.settings import BillingSettings

from .support import Billing, check_ledger, key, new_tenant

# The module's billing app (conftest.py) lives on the module's loop; the replica joins it there.
pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_duplicates_split_across_replicas_charge_once(
    billing: Billing, billing_settings: BillingSettings
) -> None:
    other = create_app(billing_settings)
    async with running_app(other) as other_http:
        replica = Billing(app=other, http=other_http, settings=billing_settings)
        tenant = new_tenant()
        assert await billing.available(tenant) == 1_000
        keys = [key() for _ in range(80)]
        calls = [
            side.deduct(tenant, 3, idempotency_key=k) for k in keys for side in (billing, replica)
        ]
        responses = await asyncio.gather(*calls)
        assert [r.status_code for r in responses] == [201] * 160, {r.text for r in responses}
        for first, second in zip(responses[::2], responses[1::2], strict=True):
            assert first.json() == second.json()
        assert {r.headers.get("Idempotent-Replayed") for r in responses} == {None, "true"}
        assert await replica.available(tenant) == 1_000 - 80 * 3
        sums = await check_ledger(other.state.runtime.sessions, tenant)
        assert sums["spent"] == 80 * 3
