"""The dispatcher's queries over every tenant's deliveries. Each write is one conditional
statement, so any number of dispatchers (replicas, a process that came back) agree without
locks: a claim takes only rows still due, and an outcome is written only by the claim's holder
(its lease token). A delivery is due when it is pending and its time has come, or when it is
being delivered under a lease that ran out (its dispatcher died mid-attempt)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from v100.services.integration.models import Delivery, Endpoint, Message

__all__ = ["ClaimedDelivery", "DeliveryQueue"]


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

    async def claim(
        self,
        endpoint_id: str,
        now: datetime,
        count: int,
        *,
        ordered: bool,
        token: str,
        lease_until: datetime,
    ) -> list[ClaimedDelivery]:
        """Take up to ``count`` due deliveries of one endpoint, oldest event first (for an
        ordered endpoint, only the earliest open one of each resource)."""
        candidates = (
            select(Delivery.id)
            .where(Delivery.endpoint_id == endpoint_id, _due(now))
            .order_by(Delivery.occurred_at, Delivery.id)
            .limit(count)
        )
        if ordered:
            candidates = candidates.where(
                or_(Delivery.resource_key.is_(None), _head_of_its_resource())
            )
        ids = list((await self.session.execute(candidates)).scalars().all())
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
            .where(Delivery.lease_token == token, Delivery.id.in_(ids))
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

    async def settle(self, delivery_id: str, token: str, **values: Any) -> bool:
        """Write an attempt's outcome, if the claim is still this token's."""
        result = await self.session.execute(
            update(Delivery)
            .where(
                Delivery.id == delivery_id,
                Delivery.lease_token == token,
                Delivery.status == "delivering",
            )
            .values(lease_token=None, lease_until=None, **values)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

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
