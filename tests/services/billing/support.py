"""Helpers for billing's tests: a running billing app with per-tenant headers, calls that
carry a fresh Idempotency-Key, and the ledger invariants checked straight from the database."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from v100.kit.auth import Principal
from v100.kit.bus import Event
from v100.kit.db import unit_of_work
from v100.kit.testing.bus import published
from v100.kit.testing.http import auth_headers
from v100.services.billing.models import CreditGrant, Posting
from v100.services.billing.repository import LedgerRepository
from v100.services.billing.settings import BillingSettings

INTERNAL_SECRET = "internal-secret-for-billing-tests-0123456789"


def new_tenant() -> str:
    return str(uuid.uuid4())


def key() -> str:
    return uuid.uuid4().hex


@dataclass
class Billing:
    app: FastAPI
    http: httpx.AsyncClient
    settings: BillingSettings

    def headers(self, tenant_id: str, *, idempotency_key: str | None = None) -> dict[str, str]:
        headers = auth_headers(
            self.app,
            Principal(
                tenant_id=tenant_id, user_id="u1", scopes=frozenset({"*", "service:credits"})
            ),
        )
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    async def post(
        self, tenant_id: str, path: str, body: dict[str, Any] | None = None, *,
        idempotency_key: str | None = None,
    ) -> httpx.Response:  # fmt: skip
        headers = self.headers(tenant_id, idempotency_key=idempotency_key or key())
        return await self.http.post(path, json=body, headers=headers)

    async def get(self, tenant_id: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers(tenant_id), **kwargs.pop("headers", {})}
        return await self.http.get(path, headers=headers, **kwargs)

    async def available(self, tenant_id: str) -> int:
        response = await self.get(tenant_id, "/v1/credits/balance")
        assert response.status_code == 200, response.text
        return int(response.json()["available"])

    async def deduct(self, tenant_id: str, amount: int, **kwargs: Any) -> httpx.Response:
        body = {"amount": amount, "reason": "test", **kwargs.pop("body", {})}
        return await self.post(tenant_id, "/v1/credits/deductions", body, **kwargs)

    async def reserve(self, tenant_id: str, amount: int, **extra: Any) -> httpx.Response:
        body = {"amount": amount, "reason": "test", **extra}
        return await self.post(tenant_id, "/v1/credits/holds", body)

    async def reserve_with_key(self, tenant_id: str, amount: int, k: str) -> httpx.Response:
        body = {"amount": amount, "reason": "test"}
        return await self.post(tenant_id, "/v1/credits/holds", body, idempotency_key=k)

    async def check_ledger(self, tenant_id: str) -> dict[str, int]:
        """Every invariant of the tenant's ledger; returns the balances by account."""
        return await check_ledger(self.app.state.runtime.sessions, tenant_id)


async def check_ledger(
    sessions: async_sessionmaker[AsyncSession], tenant_id: str
) -> dict[str, int]:
    """Every invariant of a tenant's ledger, read straight from the database: the cached account
    balances equal the sums of their postings, all accounts sum to zero, every journal entry
    balances on its own, each grant's cached remainder equals its postings, nothing is negative.
    Returns the balances by account."""
    async with unit_of_work(sessions) as session:
        repo = LedgerRepository(session)
        accounts = await repo.lock(tenant_id)
        sums = await repo.posting_sums(tenant_id)
        # Cached balances equal the postings, and all accounts sum to zero.
        assert {k: a.balance for k, a in accounts.items()} == sums
        assert sum(sums.values()) == 0
        # Every journal entry balances on its own.
        unbalanced = await session.execute(
            select(Posting.entry_id)
            .where(Posting.tenant_id == tenant_id)
            .group_by(Posting.entry_id)
            .having(func.sum(Posting.amount) != 0)
        )
        assert unbalanced.all() == []
        # Each grant's cached remainder equals its postings on the available account.
        by_grant = await repo.grant_sums(tenant_id, accounts["available"].id)
        grants = (
            await session.execute(select(CreditGrant).where(CreditGrant.tenant_id == tenant_id))
        ).scalars()
        for grant in grants:
            assert grant.remaining == by_grant.get(grant.id, 0), grant.id
            assert grant.remaining >= 0
        assert sums["available"] >= 0
        assert sums["held"] >= 0
        return sums


async def events_for(app: FastAPI, tenant_id: str, stream: str = "credits") -> list[Event]:
    """The events published so far for one tenant."""
    bus = app.state.runtime.bus
    return await published(bus, stream, lambda event: event.tenant_id == tenant_id)
