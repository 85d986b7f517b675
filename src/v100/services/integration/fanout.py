"""From a platform event to webhooks: the event is stored once as a message (its body fixed
byte for byte, its id the ``webhook-id`` of every attempt), and a pending delivery is added for
each enabled endpoint of its tenant whose filters match, all in one transaction (a batch of
events in a few statements)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from v100.kit.bus import Event
from v100.kit.db import new_id
from v100.services.integration.filters import matches
from v100.services.integration.models import Delivery, Endpoint, Message
from v100.services.integration.repository import EndpointRepository, insert_new, insert_new_many

__all__ = ["add_deliveries", "record_events", "resource_key", "webhook_body"]

# The data field naming the resource an event is about, first found wins.
_RESOURCE_FIELDS = ("recording_id", "subscription_id", "endpoint_id", "id")


def resource_key(event: Event) -> str | None:
    """``<type's first segment>:<id>`` (``video:0193...``): the events of one resource, which an
    ordered endpoint receives one after the other; None when the event names no resource."""
    for field in _RESOURCE_FIELDS:
        value = event.data.get(field)
        if isinstance(value, str) and value:
            return f"{event.type.split('.', 1)[0]}:{value}"[:300]
    return None


def webhook_body(event: Event) -> str:
    """The Standard Webhooks payload: ``type``, ``timestamp`` and ``data``."""
    return orjson.dumps(
        {"type": event.type, "timestamp": event.time.isoformat(), "data": event.data}
    ).decode()


async def record_events(
    session: AsyncSession,
    events: Sequence[Event],
    now: datetime,
    *,
    endpoints: Sequence[Endpoint] | None = None,
) -> list[str]:
    """Store each of ``events`` that belongs to a tenant and was not recorded before (a
    redelivery) as a message, with a delivery to each enabled endpoint of its tenant whose
    filters match: the new messages' ids. A few statements whatever the count: the messages in
    one insert, the deliveries in one batch. ``endpoints``: deliver to these (a test event), not
    to the tenant's matching ones."""
    values = [_message_values(event, now) for event in events if event.tenant_id is not None]
    if not values:
        return []
    rows = {row["id"]: row for row in values}
    recorded = await insert_new_many(session, Message, values, ("tenant_id", "event_id"))
    fresh = [rows[message_id] for message_id in recorded]
    enabled: dict[str, Sequence[Endpoint]] = {}
    deliveries: list[dict[str, object]] = []
    for message in fresh:
        tenant_id = message["tenant_id"]
        if endpoints is not None:
            wanted: Iterable[Endpoint] = endpoints
        else:
            if tenant_id not in enabled:
                enabled[tenant_id] = await EndpointRepository(session).enabled(tenant_id)
            wanted = (
                e for e in enabled[tenant_id] if matches(e.event_types, message["event_type"])
            )
        deliveries += (_delivery_values(message, endpoint.id, now) for endpoint in wanted)
    if deliveries:
        # The messages are new in this transaction: none of them has a delivery yet.
        await session.execute(insert(Delivery), deliveries)
    return [message["id"] for message in fresh]


async def add_deliveries(
    session: AsyncSession, message: Message, endpoints: Iterable[Endpoint], now: datetime
) -> int:
    """A pending delivery of ``message`` to each endpoint that has none yet; how many."""
    values = {
        "id": message.id,
        "tenant_id": message.tenant_id,
        "resource_key": message.resource_key,
        "occurred_at": message.occurred_at,
        "event_type": message.event_type,
    }
    added = 0
    for endpoint in endpoints:
        row = _delivery_values(values, endpoint.id, now)
        if await insert_new(session, Delivery, row, ("message_id", "endpoint_id")):
            added += 1
    return added


def _message_values(event: Event, now: datetime) -> dict[str, Any]:
    return {
        "id": new_id(),
        "tenant_id": event.tenant_id,
        "event_id": event.id,
        "event_type": event.type,
        "source": event.source,
        "resource_key": resource_key(event),
        "occurred_at": event.time,
        "payload": webhook_body(event),
        "created_at": now,
    }


def _delivery_values(message: dict[str, Any], endpoint_id: str, now: datetime) -> dict[str, Any]:
    return {
        "id": new_id(),
        "tenant_id": message["tenant_id"],
        "message_id": message["id"],
        "endpoint_id": endpoint_id,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "resource_key": message["resource_key"],
        "occurred_at": message["occurred_at"],
        "event_type": message["event_type"],
        "created_at": now,
        "updated_at": now,
    }
