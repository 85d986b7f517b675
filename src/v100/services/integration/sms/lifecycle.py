"""A message's moves. Statuses only go forward: a callback that arrives late (``sent`` after
``delivered``) changes nothing. Each move is a conditional update that says whether it won, and
each status with an event publishes ``sms.<status>`` after commit.

    scheduled | pending -> submitting -> queued -> sent -> delivered | undelivered | failed
    scheduled | pending -> canceled         submitting -> pending (retry) | failed
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from v100.contracts.events import SMS_STATUS_EVENTS, SMS_STREAM, SmsMessageChanged
from v100.kit.bus import Bus, Event
from v100.kit.db import session_hooks
from v100.kit.errors import BackendUnavailable
from v100.kit.observability import get_logger
from v100.services.integration.sms.models import SmsMessage
from v100.services.integration.sms.repository import MessageRepository

__all__ = ["RANK", "from_twilio", "move"]

_log = get_logger("v100.integration.sms")

RANK: dict[str, int] = {
    "scheduled": 0, "pending": 0, "submitting": 1, "queued": 2, "sent": 3,
    "delivered": 4, "undelivered": 4, "failed": 4, "canceled": 4,
}  # fmt: skip
# Twilio's statuses of an outbound message, as ours.
_TWILIO: dict[str, str] = {
    "accepted": "queued", "scheduled": "queued", "queued": "queued", "sending": "queued",
    "sent": "sent", "delivered": "delivered", "read": "delivered",
    "undelivered": "undelivered", "failed": "failed", "canceled": "canceled",
}  # fmt: skip
_ON_ITS_WAY = ("queued", "sent", "delivered")
_STAMPS = {
    "delivered": "delivered_at", "undelivered": "failed_at", "failed": "failed_at",
    "canceled": "canceled_at",
}  # fmt: skip


def from_twilio(status: str) -> str | None:
    """Our status for one of Twilio's (None: not an outbound message's)."""
    return _TWILIO.get(status.lower())


def earlier_than(status: str) -> list[str]:
    return [name for name, rank in RANK.items() if rank < RANK[status]]


async def move(
    session: AsyncSession,
    bus: Bus,
    message_id: str,
    status: str,
    now: datetime,
    *,
    from_statuses: list[str] | None = None,
    lease_token: str | None = None,
    **values: Any,
) -> SmsMessage | None:
    """Move the message to ``status`` if it stands before it (or in ``from_statuses``), with
    ``values``; the message when this move won, None when it had moved on already."""
    changes: dict[str, Any] = {"status": status, **values}
    if status in _STAMPS:
        changes.setdefault(_STAMPS[status], now)
    if status not in ("submitting",):
        changes.setdefault("lease_token", None)
        changes.setdefault("lease_until", None)
    if status in _ON_ITS_WAY:
        # Twilio has it: what a try before this one ran into (a 429) is history.
        changes.setdefault("error_code", None)
        changes.setdefault("error_message", None)
    allowed = from_statuses if from_statuses is not None else earlier_than(status)
    won = await MessageRepository(session).move(
        message_id, allowed, changes, lease_token=lease_token
    )
    if not won:
        return None
    message = await session.get(SmsMessage, message_id, populate_existing=True)
    assert message is not None
    announce(session, bus, message)
    return message


def announce(session: AsyncSession, bus: Bus, message: SmsMessage) -> None:
    """Publish ``sms.<status>`` after commit, for the statuses that have one."""
    event_type = SMS_STATUS_EVENTS.get(message.status)
    if event_type is None:
        return
    data = SmsMessageChanged(
        id=message.id, status=message.status, to=message.to,
        from_number=message.from_number, messaging_service_sid=message.messaging_service_sid,
        sender_id=message.sender_id, reference=message.reference,
        twilio_sid=message.twilio_sid, error_code=message.error_code,
        error_message=message.error_message,
    )  # fmt: skip
    publish_after_commit(
        session, bus, Event(type=event_type, source="integration", tenant_id=message.tenant_id,
                            data=data.model_dump(mode="json"))
    )  # fmt: skip


def publish_after_commit(session: AsyncSession, bus: Bus, event: Event) -> None:
    async def publish() -> None:
        try:
            await bus.publish(SMS_STREAM, event)
        except BackendUnavailable as exc:
            _log.warning("sms event not published", type=event.type, error=str(exc))

    session_hooks(session).after_commit(publish)
