"""From a platform event to webhooks: the event is stored once as a message (its body fixed
byte for byte, its id the ``webhook-id`` of every attempt), and a pending delivery is added for
each enabled endpoint of its tenant whose filters match, all in one transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from v100.kit.bus import Event
from v100.kit.db import new_id
from v100.services.integration.filters import matches
from v100.services.integration.models import Delivery, Endpoint, Message
from v100.services.integration.repository import EndpointRepository, MessageRepository, insert_new

__all__ = ["add_deliveries", "record_event", "resource_key", "webhook_body"]

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


async def record_event(
    session: AsyncSession,
    event: Event,
    now: datetime,
    *,
    endpoints: Sequence[Endpoint] | None = None,
) -> tuple[Message, int] | None:
    """Store ``event`` of its tenant as a message with its deliveries: (message, deliveries
    added), or None when it belongs to no tenant or was recorded before (a redelivery).
    ``endpoints``: deliver to these (a test event), not to the tenant's matching ones."""
    if event.tenant_id is None:
        return None
    message_id = new_id()
    values = {
        "id": message_id,
        "tenant_id": event.tenant_id,
        "event_id": event.id,
        "event_type": event.type,
        "source": event.source,
        "resource_key": resource_key(event),
        "occurred_at": event.time,
        "payload": webhook_body(event),
        "created_at": now,
    }
    if not await insert_new(session, Message, values, ("tenant_id", "event_id")):
        return None
    message = await MessageRepository(session).get(event.tenant_id, message_id)
    assert message is not None
    if endpoints is None:
        enabled = await EndpointRepository(session).enabled(event.tenant_id)
        wanted = [e for e in enabled if matches(e.event_types, event.type)]
    else:
        wanted = list(endpoints)
    added = await add_deliveries(session, message, wanted, now)
    return message, added


async def add_deliveries(
    session: AsyncSession, message: Message, endpoints: Iterable[Endpoint], now: datetime
) -> int:
    """A pending delivery of ``message`` to each endpoint that has none yet; how many."""
    added = 0
    for endpoint in endpoints:
        values = {
            "id": new_id(),
            "tenant_id": message.tenant_id,
            "message_id": message.id,
            "endpoint_id": endpoint.id,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "resource_key": message.resource_key,
            "occurred_at": message.occurred_at,
            "event_type": message.event_type,
            "created_at": now,
            "updated_at": now,
        }
        if await insert_new(session, Delivery, values, ("message_id", "endpoint_id")):
            added += 1
    return added
