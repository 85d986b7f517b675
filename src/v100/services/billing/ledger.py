"""The double-entry core: a tenant's locked accounts and the one way to move credits between
them, a journal entry whose postings sum to zero. Cached balances (account and grant) change
here only, in the same transaction as the postings that justify them.

Entries, postings and audit lines are buffered as plain rows and written with one multi-row
INSERT per table (``write``), not as ORM objects: a batch of deductions is a few statements,
not a few hundred tracked objects. The service writes before it reads postings and before it
returns, so the transaction never commits an unwritten entry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from v100.kit.db import new_id, utcnow
from v100.services.billing.models import (
    AuditRecord,
    CreditGrant,
    JournalEntry,
    LedgerAccount,
    Posting,
)

__all__ = ["LedgerImbalanceError", "Leg", "PostedEntry", "TenantLedger"]


class LedgerImbalanceError(AssertionError):
    """A journal entry whose postings do not sum to zero: a bug, never a user error."""


@dataclass(frozen=True, slots=True)
class Leg:
    """One posting to be made: ``amount`` credits (signed) on the tenant's ``account``."""

    account: str
    amount: int
    grant: CreditGrant | None = None


@dataclass(frozen=True, slots=True)
class PostedEntry:
    """A journal entry as posted in this transaction (its row is written by ``write``)."""

    id: str
    kind: str
    amount: int
    available_delta: int
    available_after: int
    reason: str | None
    reference: str | None
    actor: str | None
    hold_id: str | None
    grant_id: str | None
    created_at: datetime


class TenantLedger:
    """One tenant's accounts, locked for the current transaction."""

    def __init__(
        self, session: AsyncSession, tenant_id: str, accounts: dict[str, LedgerAccount]
    ) -> None:
        self.session = session
        self.tenant_id = tenant_id
        self.accounts = accounts
        # The available balance when the lock was taken: events compare against it.
        self.opening_available = accounts["available"].balance
        # The grants credits are taken from, in order, loaded once per transaction; dropped
        # whenever credits flow back into the available account (a grant, a release).
        self.spendable: list[CreditGrant] | None = None
        self._entries: list[dict[str, Any]] = []
        self._postings: list[dict[str, Any]] = []
        self._audit: list[dict[str, Any]] = []

    @property
    def available(self) -> int:
        return self.accounts["available"].balance

    @property
    def held(self) -> int:
        return self.accounts["held"].balance

    def post(
        self,
        kind: str,
        amount: int,
        legs: Sequence[Leg],
        *,
        reason: str | None = None,
        reference: str | None = None,
        actor: str | None = None,
        hold_id: str | None = None,
        grant_id: str | None = None,
    ) -> PostedEntry:
        """Record one balanced entry and apply it to the cached balances."""
        legs = [leg for leg in legs if leg.amount != 0]
        if not legs:
            raise LedgerImbalanceError(f"{kind}: an entry needs postings")
        total = sum(leg.amount for leg in legs)
        if total != 0:
            raise LedgerImbalanceError(f"{kind}: postings sum to {total}, not 0")
        for leg in legs:
            if not isinstance(leg.amount, int) or isinstance(leg.amount, bool):
                raise LedgerImbalanceError(f"{kind}: credits are integers")
        delta = sum(leg.amount for leg in legs if leg.account == "available")
        if any(leg.account == "available" and leg.amount > 0 for leg in legs):
            self.spendable = None
        entry = PostedEntry(
            id=new_id(),
            kind=kind,
            amount=amount,
            available_delta=delta,
            available_after=self.available + delta,
            reason=reason,
            reference=reference,
            actor=actor,
            hold_id=hold_id,
            grant_id=grant_id,
            created_at=utcnow(),
        )
        self._entries.append(
            {
                "id": entry.id,
                "tenant_id": self.tenant_id,
                "kind": kind,
                "amount": amount,
                "available_delta": delta,
                "available_after": entry.available_after,
                "reason": reason,
                "reference": reference,
                "actor": actor,
                "hold_id": hold_id,
                "grant_id": grant_id,
                "created_at": entry.created_at,
            }
        )
        for leg in legs:
            account = self.accounts[leg.account]
            account.balance += leg.amount
            if leg.grant is not None and leg.account == "available":
                leg.grant.remaining += leg.amount
            self._postings.append(
                {
                    "tenant_id": self.tenant_id,
                    "entry_id": entry.id,
                    "account_id": account.id,
                    "grant_id": leg.grant.id if leg.grant is not None else None,
                    "amount": leg.amount,
                }
            )
        return entry

    def audit(
        self,
        action: str,
        actor: str | None,
        reference: str | None,
        subject_id: str | None,
        amount: int | None,
        details: dict[str, object],
    ) -> None:
        """Add a line to the tenant's audit log (written with the entries)."""
        self._audit.append(
            {
                "id": new_id(),
                "tenant_id": self.tenant_id,
                "action": action,
                "actor": actor,
                "reference": reference,
                "subject_id": subject_id,
                "amount": amount,
                "details": details,
                "created_at": utcnow(),
            }
        )

    async def write(self) -> None:
        """Write the buffered entries, postings and audit lines (one INSERT per table); the
        cached balances are ORM attributes, flushed with the transaction."""
        if self._entries:
            entries, self._entries = self._entries, []
            await self.session.execute(insert(JournalEntry), entries)
        if self._postings:
            postings, self._postings = self._postings, []
            await self.session.execute(insert(Posting), postings)
        if self._audit:
            audit, self._audit = self._audit, []
            await self.session.execute(insert(AuditRecord), audit)
