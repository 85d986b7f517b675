"""billing's queries: provisioning and locking a tenant's ledger accounts, grants in the order
they are consumed, holds and entries due for expiry, and the filtered, cursor-paginated history
and audit log (stored idempotent answers are kit.idempotency's)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from v100.kit.db import Page, TenantRepository, new_id, utcnow
from v100.services.billing.models import (
    ACCOUNT_KINDS,
    AuditRecord,
    CreditGrant,
    CreditHold,
    JournalEntry,
    LedgerAccount,
    Posting,
)

__all__ = [
    "AuditRepository",
    "GrantRepository",
    "HistoryFilter",
    "HoldRepository",
    "JournalRepository",
    "LedgerRepository",
]


class LedgerRepository(TenantRepository[LedgerAccount]):
    model = LedgerAccount

    async def provision(self, tenant_id: str) -> bool:
        """Create the tenant's accounts if missing; True when this call created them.

        ``ON CONFLICT DO NOTHING`` lets two first requests race: one creates, the other waits
        for it (PostgreSQL) and inserts nothing.
        """
        now = utcnow()
        rows = [
            {
                "id": new_id(),
                "tenant_id": tenant_id,
                "kind": kind,
                "balance": 0,
                "created_at": now,
                "updated_at": now,
            }
            for kind in ACCOUNT_KINDS
        ]
        dialect = postgresql if self.session.get_bind().dialect.name == "postgresql" else sqlite
        statement = (
            dialect.insert(LedgerAccount)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["tenant_id", "kind"])
        )
        result = await self.session.execute(statement)
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def lock(self, tenant_id: str) -> dict[str, LedgerAccount]:
        """Lock the tenant's ledger for this transaction and load its accounts.

        An UPDATE of the available account's row takes its row lock on PostgreSQL (what
        ``SELECT ... FOR UPDATE`` would) and the database write lock on SQLite, where a plain
        SELECT would not serialize two read-then-write transactions. Every writer takes this
        lock first, so operations of one tenant run one after the other.
        """
        await self.session.execute(
            update(LedgerAccount)
            .where(LedgerAccount.tenant_id == tenant_id, LedgerAccount.kind == "available")
            .values(updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        result = await self.session.execute(
            self.select_for(tenant_id).execution_options(populate_existing=True)
        )
        return {account.kind: account for account in result.scalars()}

    async def anything_due(self, tenant_id: str, now: datetime) -> bool:
        """Whether the tenant has a hold or a grant past its expiry (one round trip)."""
        holds = select(CreditHold.id).where(
            CreditHold.tenant_id == tenant_id,
            CreditHold.status == "held",
            CreditHold.expires_at <= now,
        )
        grants = select(CreditGrant.id).where(
            CreditGrant.tenant_id == tenant_id,
            CreditGrant.expires_at <= now,
            CreditGrant.remaining > 0,
        )
        statement = select(or_(exists(holds), exists(grants)))
        return bool(await self.session.scalar(statement))

    async def posting_sums(self, tenant_id: str) -> dict[str, int]:
        """Each account's balance computed from its postings (what the cached column must be)."""
        statement = (
            select(LedgerAccount.kind, func.coalesce(func.sum(Posting.amount), 0))
            .join(Posting, Posting.account_id == LedgerAccount.id, isouter=True)
            .where(LedgerAccount.tenant_id == tenant_id)
            .group_by(LedgerAccount.kind)
        )
        return {kind: int(total) for kind, total in (await self.session.execute(statement))}

    async def grant_sums(self, tenant_id: str, account_id: str) -> dict[str, int]:
        """Each grant's credits on one account, from the postings."""
        statement = (
            select(Posting.grant_id, func.sum(Posting.amount))
            .where(Posting.tenant_id == tenant_id, Posting.account_id == account_id)
            .group_by(Posting.grant_id)
        )
        return {str(g): int(total) for g, total in (await self.session.execute(statement))}

    async def entry_postings(self, entry_id: str, account_id: str) -> Sequence[Posting]:
        statement = (
            select(Posting)
            .where(Posting.entry_id == entry_id, Posting.account_id == account_id)
            .order_by(Posting.id)
        )
        return (await self.session.execute(statement)).scalars().all()

    async def tenants(self) -> Sequence[str]:
        statement = select(LedgerAccount.tenant_id).where(LedgerAccount.kind == "available")
        return (await self.session.execute(statement)).scalars().all()


class GrantRepository(TenantRepository[CreditGrant]):
    model = CreditGrant

    async def spendable(self, tenant_id: str, now: datetime) -> Sequence[CreditGrant]:
        """Grants with credits left, in the order they are consumed: priority (lower first),
        then the earliest expiry (never-expiring last), then the oldest."""
        statement = (
            self.select_for(tenant_id)
            .where(
                CreditGrant.remaining > 0,
                CreditGrant.expired_at.is_(None),
                (CreditGrant.expires_at.is_(None)) | (CreditGrant.expires_at > now),
            )
            .order_by(
                CreditGrant.priority,
                CreditGrant.expires_at.is_(None),
                CreditGrant.expires_at,
                CreditGrant.id,
            )
        )
        return (await self.session.execute(statement)).scalars().all()

    async def due(self, tenant_id: str, now: datetime) -> Sequence[CreditGrant]:
        statement = self.select_for(tenant_id).where(
            CreditGrant.expires_at <= now, CreditGrant.remaining > 0
        )
        return (await self.session.execute(statement)).scalars().all()

    async def active(self, tenant_id: str) -> Sequence[CreditGrant]:
        statement = (
            self.select_for(tenant_id)
            .where(CreditGrant.remaining > 0)
            .order_by(CreditGrant.priority, CreditGrant.expires_at, CreditGrant.id)
        )
        return (await self.session.execute(statement)).scalars().all()

    async def tenants_due(self, now: datetime) -> Sequence[str]:
        statement = (
            select(CreditGrant.tenant_id)
            .where(CreditGrant.expires_at <= now, CreditGrant.remaining > 0)
            .distinct()
        )
        return (await self.session.execute(statement)).scalars().all()


class HoldRepository(TenantRepository[CreditHold]):
    model = CreditHold

    async def due(self, tenant_id: str, now: datetime) -> Sequence[CreditHold]:
        statement = self.select_for(tenant_id).where(
            CreditHold.status == "held", CreditHold.expires_at <= now
        )
        return (await self.session.execute(statement)).scalars().all()

    async def tenants_due(self, now: datetime) -> Sequence[str]:
        statement = (
            select(CreditHold.tenant_id)
            .where(CreditHold.status == "held", CreditHold.expires_at <= now)
            .distinct()
        )
        return (await self.session.execute(statement)).scalars().all()


@dataclass(frozen=True, slots=True)
class HistoryFilter:
    """The filters the transaction history and the audit log share."""

    since: datetime | None = None
    until: datetime | None = None
    kinds: tuple[str, ...] = ()
    actor: str | None = None
    reference: str | None = None


class JournalRepository(TenantRepository[JournalEntry]):
    model = JournalEntry

    async def page(
        self, tenant_id: str, filters: HistoryFilter, *, limit: int, cursor: str | None
    ) -> Page[JournalEntry]:
        where: list[ColumnElement[bool]] = []
        if filters.since is not None:
            where.append(JournalEntry.created_at >= filters.since)
        if filters.until is not None:
            where.append(JournalEntry.created_at < filters.until)
        if filters.kinds:
            where.append(JournalEntry.kind.in_(filters.kinds))
        if filters.actor is not None:
            where.append(JournalEntry.actor == filters.actor)
        if filters.reference is not None:
            where.append(JournalEntry.reference == filters.reference)
        return await self.list(tenant_id, limit=limit, cursor=cursor, where=where)


class AuditRepository(TenantRepository[AuditRecord]):
    model = AuditRecord

    async def page(
        self, tenant_id: str, filters: HistoryFilter, *, limit: int, cursor: str | None
    ) -> Page[AuditRecord]:
        where: list[ColumnElement[bool]] = []
        if filters.since is not None:
            where.append(AuditRecord.created_at >= filters.since)
        if filters.until is not None:
            where.append(AuditRecord.created_at < filters.until)
        if filters.kinds:
            where.append(AuditRecord.action.in_(filters.kinds))
        if filters.actor is not None:
            where.append(AuditRecord.actor == filters.actor)
        if filters.reference is not None:
            where.append(AuditRecord.reference == filters.reference)
        return await self.list(tenant_id, limit=limit, cursor=cursor, where=where)
