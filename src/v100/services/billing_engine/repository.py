"""The billing engine's queries: tenant-scoped repositories per table, the deduplicating bulk
insert of usage events (ON CONFLICT DO NOTHING on the per-tenant idempotency key) and the meter
aggregations computed in SQL."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, distinct, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from v100.kit.db import TenantRepository
from v100.services.billing_engine.models import (
    STANDING,
    Invoice,
    InvoiceLine,
    Meter,
    PendingCharge,
    Plan,
    Subscription,
    UsageEvent,
)

# Rows per INSERT: 11 columns x 500 stays far below both backends' bound-parameter limits.
_INSERT_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Aggregate:
    group: str | None
    value: Decimal
    event_count: int


class PlanRepository(TenantRepository[Plan]):
    model = Plan

    async def by_code(self, tenant_id: str, code: str) -> Plan | None:
        result = await self.session.execute(self.select_for(tenant_id).where(Plan.code == code))
        return result.scalar_one_or_none()


class MeterRepository(TenantRepository[Meter]):
    model = Meter

    async def by_codes(self, tenant_id: str, codes: Iterable[str]) -> dict[str, Meter]:
        statement = self.select_for(tenant_id).where(Meter.code.in_(set(codes)))
        return {m.code: m for m in (await self.session.execute(statement)).scalars()}

    async def by_code(self, tenant_id: str, code: str) -> Meter | None:
        return (await self.by_codes(tenant_id, [code])).get(code)


class UsageEventRepository(TenantRepository[UsageEvent]):
    model = UsageEvent

    async def insert_new(self, rows: Sequence[dict[str, Any]]) -> set[str]:
        """Insert the rows whose (tenant_id, event_id) is new; the event ids inserted.

        The unique constraint decides, so a duplicate is found in any earlier batch and in a
        concurrent one (PostgreSQL waits for the other transaction, then skips the row)."""
        if not rows:
            return set()
        # One global order of keys: two batches sharing ids in different orders would otherwise
        # wait on each other's uncommitted rows and deadlock on PostgreSQL.
        rows = sorted(rows, key=lambda row: str(row["event_id"]))
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        inserted: set[str] = set()
        # Executed with a list of parameter sets: SQLAlchemy's "insertmanyvalues" batches them
        # into multi-row INSERTs from one cached compiled statement (far cheaper than .values()).
        statement = (
            insert(UsageEvent)
            .on_conflict_do_nothing(index_elements=["tenant_id", "event_id"])
            .returning(UsageEvent.event_id)
        )
        for start in range(0, len(rows), _INSERT_CHUNK):
            result = await self.session.execute(statement, rows[start : start + _INSERT_CHUNK])
            inserted.update(result.scalars())
        return inserted

    def _window(
        self, tenant_id: str, meter: str, start: datetime, end: datetime
    ) -> list[ColumnElement[bool]]:
        # Half-open [start, end): an event on the boundary belongs to the next period.
        return [
            UsageEvent.tenant_id == tenant_id,
            UsageEvent.meter_code == meter,
            UsageEvent.timestamp >= start,
            UsageEvent.timestamp < end,
        ]

    async def aggregate(
        self,
        tenant_id: str,
        meter: Meter,
        start: datetime,
        end: datetime,
        *,
        grouped: bool,
    ) -> list[Aggregate]:
        """The meter's aggregation over the window, per group key when ``grouped``."""
        where = self._window(tenant_id, meter.code, start, end)
        group = UsageEvent.group_key if grouped else None
        value: ColumnElement[Any]
        match meter.aggregation:
            case "sum":
                value = func.sum(UsageEvent.value)
            case "count":
                value = func.count()
            case "unique_count":
                value = func.count(distinct(UsageEvent.value_key))
            case "max":
                value = func.max(UsageEvent.value)
            case "latest":
                return await self._latest(where, grouped)
            case other:
                raise ValueError(f"unknown aggregation {other!r}")
        columns: list[ColumnElement[Any]] = [value, func.count()]
        statement: Select[Any] = select(*columns).where(*where)
        if group is not None:
            statement = statement.add_columns(group).group_by(group).order_by(group)
        rows = (await self.session.execute(statement)).all()
        return [
            Aggregate(
                group=row[2] if grouped else None,
                value=Decimal(row[0] or 0),
                event_count=int(row[1]),
            )
            for row in rows
            if int(row[1]) > 0 or not grouped
        ]

    async def _latest(self, where: list[ColumnElement[bool]], grouped: bool) -> list[Aggregate]:
        partition = [UsageEvent.group_key] if grouped else []
        ranked = (
            select(
                UsageEvent.group_key,
                UsageEvent.value,
                func.row_number()
                .over(
                    partition_by=partition or None,
                    order_by=[UsageEvent.timestamp.desc(), UsageEvent.id.desc()],
                )
                .label("rank"),
                func.count().over(partition_by=partition or None).label("events"),
            )
            .where(*where)
            .subquery()
        )
        statement = select(ranked.c.group_key, ranked.c.value, ranked.c.events).where(
            ranked.c.rank == 1
        )
        rows = (await self.session.execute(statement.order_by(ranked.c.group_key))).all()
        if not rows and not grouped:
            return [Aggregate(None, Decimal(0), 0)]
        return [
            Aggregate(row[0] if grouped else None, Decimal(row[1] or 0), int(row[2]))
            for row in rows
        ]


class SubscriptionRepository(TenantRepository[Subscription]):
    model = Subscription

    async def current(self, tenant_id: str) -> Subscription | None:
        """The tenant's live subscription: incomplete, trialing or active."""
        statement = (
            self.select_for(tenant_id)
            .where(Subscription.status != "canceled")
            .order_by(Subscription.id.desc())
            .limit(1)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def due(self, now: datetime, limit: int = 100) -> list[Subscription]:
        """Standing subscriptions of every tenant whose period has ended (the invoicing run);
        an incomplete one has nothing to bill."""
        statement = (
            select(Subscription)
            .where(Subscription.status.in_(STANDING), Subscription.period_end <= now)
            .order_by(Subscription.period_end, Subscription.id)
            .limit(limit)
        )
        return list((await self.session.execute(statement)).scalars())

    async def lock(self, subscription: Subscription) -> Subscription | None:
        """Re-read the row under FOR UPDATE (PostgreSQL), so two runs move it one at a time."""
        statement = (
            select(Subscription)
            .where(Subscription.id == subscription.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()


class PendingChargeRepository(TenantRepository[PendingCharge]):
    model = PendingCharge

    async def open_for(self, tenant_id: str, subscription_id: str) -> list[PendingCharge]:
        statement = (
            self.select_for(tenant_id)
            .where(
                PendingCharge.subscription_id == subscription_id,
                PendingCharge.invoice_id.is_(None),
            )
            .order_by(PendingCharge.id)
        )
        return list((await self.session.execute(statement)).scalars())

    async def attach(self, ids: Sequence[str], invoice_id: str) -> None:
        if ids:
            await self.session.execute(
                update(PendingCharge).where(PendingCharge.id.in_(ids)).values(invoice_id=invoice_id)
            )


class InvoiceRepository(TenantRepository[Invoice]):
    model = Invoice

    async def for_period(self, subscription_id: str, period_start: datetime) -> Invoice | None:
        statement = select(Invoice).where(
            Invoice.subscription_id == subscription_id, Invoice.period_start == period_start
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def billed_through(self, tenant_id: str) -> datetime | None:
        """The end of the tenant's latest invoiced period: usage before it is billed already."""
        statement = select(func.max(Invoice.period_end)).where(Invoice.tenant_id == tenant_id)
        value: datetime | None = (await self.session.execute(statement)).scalar_one_or_none()
        return value

    async def lines(self, tenant_id: str, invoice_id: str) -> list[InvoiceLine]:
        statement = (
            select(InvoiceLine)
            .where(InvoiceLine.tenant_id == tenant_id, InvoiceLine.invoice_id == invoice_id)
            .order_by(InvoiceLine.position)
        )
        return list((await self.session.execute(statement)).scalars())
