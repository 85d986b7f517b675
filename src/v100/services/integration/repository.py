"""integration's tenant-scoped queries: endpoints, messages, deliveries and attempts of one
tenant (another tenant's id is simply not found), with the filters the API pages by."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from v100.kit.db import Page, TenantRepository, utcnow
from v100.services.integration.models import (
    Attempt,
    Delivery,
    Endpoint,
    Message,
    Notification,
)

__all__ = [
    "AttemptRepository",
    "DeliveryRepository",
    "EndpointRepository",
    "MessageRepository",
    "NotificationRepository",
    "insert_new",
    "insert_new_many",
]


async def insert_new(
    session: AsyncSession, model: type[Any], values: dict[str, Any], keys: Sequence[str]
) -> bool:
    """Insert a row unless one with the same ``keys`` exists (ON CONFLICT DO NOTHING, so the
    transaction stays usable on PostgreSQL); whether it was inserted."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    maker = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = maker(model).values(**values).on_conflict_do_nothing(index_elements=list(keys))
    result = await session.execute(statement)
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def insert_new_many(
    session: AsyncSession,
    model: type[Any],
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    *,
    chunk: int = 200,
) -> list[str]:
    """Insert the rows whose ``keys`` are not taken yet (by an earlier row, or one before them
    in ``rows``), ``chunk`` rows to a statement; the ids of those inserted."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    maker = postgresql_insert if dialect == "postgresql" else sqlite_insert
    inserted: list[str] = []
    for start in range(0, len(rows), chunk):
        statement = (
            maker(model)
            .values(list(rows[start : start + chunk]))
            .on_conflict_do_nothing(index_elements=list(keys))
            .returning(model.id)
        )
        inserted += (await session.execute(statement)).scalars().all()
    return inserted


def _range(
    column: Any, since: datetime | None, until: datetime | None
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if since is not None:
        where.append(column >= since)
    if until is not None:
        where.append(column < until)
    return where


class EndpointRepository(TenantRepository[Endpoint]):
    model = Endpoint

    async def enabled(self, tenant_id: str) -> Sequence[Endpoint]:
        statement = self.select_for(tenant_id).where(Endpoint.enabled.is_(True))
        return (await self.session.execute(statement)).scalars().all()

    async def fresh(self, tenant_id: str, endpoint_id: str) -> Endpoint | None:
        statement = (
            self.select_for(tenant_id)
            .where(Endpoint.id == endpoint_id)
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()


class MessageRepository(TenantRepository[Message]):
    model = Message

    async def by_event(self, tenant_id: str, event_id: str) -> Message | None:
        statement = self.select_for(tenant_id).where(Message.event_id == event_id)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def page(
        self,
        tenant_id: str,
        *,
        event_types: Sequence[str],
        since: datetime | None,
        until: datetime | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Message]:
        where = _range(Message.occurred_at, since, until)
        if event_types:
            where.append(Message.event_type.in_(event_types))
        return await self.list(tenant_id, limit=limit, cursor=cursor, where=where)

    async def in_range(
        self, tenant_id: str, since: datetime, until: datetime, *, after_id: str | None, limit: int
    ) -> Sequence[Message]:
        """Messages that occurred in [since, until), in id order, after ``after_id``."""
        statement = self.select_for(tenant_id).where(*_range(Message.occurred_at, since, until))
        if after_id is not None:
            statement = statement.where(Message.id > after_id)
        statement = statement.order_by(Message.id).limit(limit)
        return (await self.session.execute(statement)).scalars().all()


class DeliveryRepository(TenantRepository[Delivery]):
    model = Delivery

    async def of_message(self, tenant_id: str, message_id: str) -> Sequence[Delivery]:
        statement = self.select_for(tenant_id).where(Delivery.message_id == message_id)
        return (await self.session.execute(statement.order_by(Delivery.id))).scalars().all()

    async def dead_letters(
        self,
        tenant_id: str,
        *,
        endpoint_id: str | None,
        since: datetime | None,
        until: datetime | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Delivery]:
        where = [Delivery.status == "failed", *_range(Delivery.failed_at, since, until)]
        if endpoint_id is not None:
            where.append(Delivery.endpoint_id == endpoint_id)
        return await self.list(tenant_id, limit=limit, cursor=cursor, where=where)

    async def reopen(
        self, tenant_id: str, where: Sequence[ColumnElement[bool]], now: datetime
    ) -> int:
        """Queue the matching deliveries again from their first attempt (same message id, so
        receivers still dedupe); those in flight are left alone. How many were reopened."""
        statement = (
            update(Delivery)
            .where(
                Delivery.tenant_id == tenant_id,
                Delivery.status.in_(("failed", "succeeded")),
                *where,
            )
            .values(
                status="pending",
                attempts=0,
                next_attempt_at=now,
                lease_token=None,
                lease_until=None,
                failed_at=None,
                updated_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        )
        result = await self.session.execute(statement)
        return int(result.rowcount)  # type: ignore[attr-defined]


class AttemptRepository(TenantRepository[Attempt]):
    model = Attempt

    async def page(
        self,
        tenant_id: str,
        *,
        message_id: str | None = None,
        endpoint_id: str | None = None,
        outcome: str | None = None,
        status_code: int | None = None,
        event_type: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int,
        cursor: str | None,
    ) -> Page[Attempt]:
        where = _range(Attempt.created_at, since, until)
        for column, value in (
            (Attempt.message_id, message_id),
            (Attempt.endpoint_id, endpoint_id),
            (Attempt.outcome, outcome),
            (Attempt.status_code, status_code),
            (Attempt.event_type, event_type),
        ):
            if value is not None:
                where.append(column == value)
        return await self.list(tenant_id, limit=limit, cursor=cursor, where=where)


class NotificationRepository(TenantRepository[Notification]):
    model = Notification

    async def page(self, tenant_id: str, *, limit: int, cursor: str | None) -> Page[Notification]:
        return await self.list(tenant_id, limit=limit, cursor=cursor)
