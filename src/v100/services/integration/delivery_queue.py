"""The dispatcher's queries over every tenant's deliveries. Each write is one conditional
statement, so any number of dispatchers (replicas, a process that came back) agree without
locks: a claim takes only rows still due, and an outcome is written only by the claim's holder
(its lease token). A delivery is due when it is pending and its time has come, or when it is
being delivered under a lease that ran out (its dispatcher died mid-attempt)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    bindparam,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from v100.services.integration.models import Delivery, Endpoint, Message

__all__ = ["ClaimedDelivery", "DeliveryQueue", "Settlement"]


@dataclass(frozen=True, slots=True)
class Settlement:
    """What an attempt's outcome writes on its delivery (``delivered_at``/``failed_at``: None
    keeps the value there)."""

    id: str
    token: str
    status: str
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    failed_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    id: str
    tenant_id: str
    message_id: str
    endpoint_id: str
    event_type: str
    attempt: int
    token: str
    payload: str


def _due(now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(Delivery.status == "pending", Delivery.next_attempt_at <= now),
        and_(Delivery.status == "delivering", Delivery.lease_until < now),
    )


def _head_of_its_resource() -> ColumnElement[bool]:
    """No earlier delivery of the same resource to the same endpoint is still open."""
    earlier = aliased(Delivery)
    return ~exists().where(
        earlier.endpoint_id == Delivery.endpoint_id,
        earlier.resource_key == Delivery.resource_key,
        earlier.status.in_(("pending", "delivering")),
        or_(
            earlier.occurred_at < Delivery.occurred_at,
            and_(earlier.occurred_at == Delivery.occurred_at, earlier.id < Delivery.id),
        ),
    )


class DeliveryQueue:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def due_endpoints(self, now: datetime, limit: int) -> list[str]:
        """Endpoints with at least one due delivery (oldest due first)."""
        pending = (
            select(Delivery.endpoint_id)
            .where(Delivery.status == "pending", Delivery.next_attempt_at <= now)
            .group_by(Delivery.endpoint_id)
            .order_by(Delivery.endpoint_id)
            .limit(limit)
        )
        stale = (
            select(Delivery.endpoint_id)
            .where(Delivery.status == "delivering", Delivery.lease_until < now)
            .group_by(Delivery.endpoint_id)
            .limit(limit)
        )
        found = list((await self.session.execute(pending)).scalars().all())
        found += (await self.session.execute(stale)).scalars().all()
        return list(dict.fromkeys(found))

    async def endpoints(self, ids: Sequence[str]) -> dict[str, Endpoint]:
        rows = await self.session.execute(select(Endpoint).where(Endpoint.id.in_(ids)))
        return {endpoint.id: endpoint for endpoint in rows.scalars().all()}

    async def due_ranked(
        self, now: datetime, endpoint_ids: Sequence[str], ordered: Sequence[str], most: int
    ) -> dict[str, list[str]]:
        """Up to ``most`` due deliveries of each endpoint, oldest event first: endpoint ->
        delivery ids (for an ``ordered`` endpoint, only the earliest open one of each
        resource). One query whatever the number of endpoints."""
        due = [Delivery.endpoint_id.in_(endpoint_ids), _due(now)]
        if ordered:
            due.append(
                or_(
                    Delivery.endpoint_id.not_in(ordered),
                    Delivery.resource_key.is_(None),
                    _head_of_its_resource(),
                )
            )
        rank = func.row_number().over(
            partition_by=Delivery.endpoint_id, order_by=(Delivery.occurred_at, Delivery.id)
        )
        ranked = select(Delivery.id, Delivery.endpoint_id, rank.label("rank")).where(*due)
        inner = ranked.subquery()
        statement = (
            select(inner.c.id, inner.c.endpoint_id)
            .where(inner.c.rank <= most)
            .order_by(inner.c.endpoint_id, inner.c.rank)
        )
        found: dict[str, list[str]] = {}
        for delivery_id, endpoint_id in (await self.session.execute(statement)).all():
            found.setdefault(endpoint_id, []).append(delivery_id)
        return found

    async def claim(
        self, ids: Sequence[str], now: datetime, *, token: str, lease_until: datetime
    ) -> list[ClaimedDelivery]:
        """Take those of ``ids`` still due (another dispatcher may have taken some since they
        were found) under the lease ``token``, with their messages' bodies."""
        if not ids:
            return []
        await self.session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids), _due(now))
            .values(
                status="delivering",
                lease_token=token,
                lease_until=lease_until,
                attempts=Delivery.attempts + 1,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        rows = await self.session.execute(
            select(Delivery, Message.payload)
            .join(Message, Message.id == Delivery.message_id)
            .where(Delivery.lease_token == token)
            .order_by(Delivery.occurred_at, Delivery.id)
        )
        return [
            ClaimedDelivery(
                id=delivery.id,
                tenant_id=delivery.tenant_id,
                message_id=delivery.message_id,
                endpoint_id=delivery.endpoint_id,
                event_type=delivery.event_type,
                attempt=delivery.attempts,
                token=token,
                payload=payload,
            )
            for delivery, payload in rows.all()
        ]

    async def settle(self, outcomes: Sequence[Settlement], marker: str) -> set[str]:
        """Write attempts' outcomes, each only if its claim is still its token's; the ids of
        those written. One batched update whatever the count: the rows it changes are stamped
        with ``marker`` (unique to this call), read back, and their lease cleared."""
        # The table, not the mapped class: an update with a list of parameters on the class
        # would be the ORM's bulk update by primary key, which takes no other criteria.
        table = cast(Table, Delivery.__table__)
        statement = (
            update(table)
            .where(
                table.c.id == bindparam("s_id"),
                table.c.lease_token == bindparam("s_token"),
                table.c.status == "delivering",
            )
            .values(
                status=bindparam("s_status"),
                next_attempt_at=bindparam("s_next_attempt_at"),
                delivered_at=func.coalesce(bindparam("s_delivered_at"), table.c.delivered_at),
                failed_at=func.coalesce(bindparam("s_failed_at"), table.c.failed_at),
                last_status_code=bindparam("s_last_status_code"),
                last_error=bindparam("s_last_error"),
                updated_at=bindparam("s_updated_at"),
                lease_token=marker,
                lease_until=None,
            )
        )
        params = [
            {f"s_{name}": value for name, value in asdict(outcome).items()} for outcome in outcomes
        ]
        await self.session.execute(statement, params)
        stamped = select(table.c.id).where(table.c.lease_token == marker)
        written = set((await self.session.execute(stamped)).scalars().all())
        await self.session.execute(
            update(table).where(table.c.lease_token == marker).values(lease_token=None)
        )
        return written

    async def fail_open(self, endpoint_id: str, now: datetime, error: str) -> int:
        """Dead-letter the deliveries of a disabled or deleted endpoint that are waiting (not
        those being attempted under a live lease: their outcome is recorded as it comes)."""
        waiting = or_(
            Delivery.status == "pending",
            and_(Delivery.status == "delivering", Delivery.lease_until < now),
        )
        result = await self.session.execute(
            update(Delivery)
            .where(Delivery.endpoint_id == endpoint_id, waiting)
            .values(status="failed", failed_at=now, next_attempt_at=None, last_error=error,
                    lease_token=None, lease_until=None, updated_at=now)
            .execution_options(synchronize_session=False)
        )  # fmt: skip
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def next_due(self) -> datetime | None:
        """When the earliest pending delivery falls due."""
        statement = select(Delivery.next_attempt_at).where(Delivery.status == "pending")
        statement = statement.order_by(Delivery.next_attempt_at).limit(1)
        return (await self.session.execute(statement)).scalar_one_or_none()
