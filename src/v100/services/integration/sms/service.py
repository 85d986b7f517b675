"""The SMS domain: a tenant's senders (one default), messages written first and handed to Twilio
by the outbox after commit, cancellation of scheduled ones, opt-outs, and what Twilio's signed
callbacks change (status, STOP and START). No HTTP objects in here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from v100.contracts.events import SMS_OPTED_IN, SMS_OPTED_OUT, SmsOptOutChanged
from v100.kit.bus import Bus, Event
from v100.kit.db import Page, new_id, session_hooks
from v100.kit.observability import get_logger
from v100.services.integration.clock import Clock
from v100.services.integration.sms.callbacks import OPT_OUT_KEYWORDS, keyword_of
from v100.services.integration.sms.errors import (
    MessageNotCancelable,
    NoSender,
    RecipientOptedOut,
    SenderExists,
    SenderNotFound,
    SmsMessageNotFound,
)
from v100.services.integration.sms.lifecycle import from_twilio, move, publish_after_commit
from v100.services.integration.sms.models import OPEN_STATUSES, SmsMessage, SmsOptOut, SmsSender
from v100.services.integration.sms.repository import (
    MessageRepository,
    OptOutRepository,
    SenderRepository,
)

__all__ = ["SmsService", "record_opt_out", "twilio_error_text"]

_log = get_logger("v100.integration.sms")

# What Twilio's delivery error codes mean (its callbacks carry the code alone).
_ERRORS = {
    30001: "Queue overflow", 30002: "Account suspended",
    30003: "Unreachable destination handset", 30004: "Message blocked",
    30005: "Unknown destination handset", 30006: "Landline or unreachable carrier",
    30007: "Message filtered by the carrier", 30008: "Unknown error",
    21610: "The recipient unsubscribed (texted STOP)",
}  # fmt: skip


def twilio_error_text(code: int | None) -> str | None:
    if code is None:
        return None
    return _ERRORS.get(code, f"Twilio error {code}")


def address_of(sender: SmsSender) -> str:
    address = sender.phone_number or sender.messaging_service_sid
    assert address is not None
    return address


async def record_opt_out(
    session: AsyncSession,
    bus: Bus,
    *,
    tenant_id: str,
    sender_address: str,
    sender_id: str | None,
    phone_number: str,
    keyword: str,
    now: datetime,
) -> bool:
    """Record that ``phone_number`` opted out of ``sender_address`` (once: ``sms.opted_out``
    is published when it is new)."""
    recorded = await OptOutRepository(session).record(
        {"id": new_id(), "tenant_id": tenant_id, "sender_address": sender_address,
         "sender_id": sender_id, "phone_number": phone_number, "keyword": keyword,
         "created_at": now}
    )  # fmt: skip
    if recorded:
        _announce_opt(session, bus, SMS_OPTED_OUT, tenant_id, sender_address, sender_id,
                      phone_number, keyword)  # fmt: skip
    return recorded


def _announce_opt(session: AsyncSession, bus: Bus, event_type: str, tenant_id: str,
                  sender_address: str, sender_id: str | None, phone_number: str,
                  keyword: str) -> None:  # fmt: skip
    data = SmsOptOutChanged(
        phone_number=phone_number,
        sender_address=sender_address,
        sender_id=sender_id,
        keyword=keyword,
    )
    event = Event(type=event_type, source="integration", tenant_id=tenant_id,
                  data=data.model_dump(mode="json"))  # fmt: skip
    publish_after_commit(session, bus, event)


class SmsService:
    """One per request: the clock, the bus events go out on, and what wakes the outbox."""

    def __init__(self, clock: Clock, bus: Bus, wake: Callable[[], None]) -> None:
        self.clock = clock
        self.bus = bus
        self.wake = wake

    # -- senders ----------------------------------------------------------------------------

    async def create_sender(
        self,
        session: AsyncSession,
        tenant_id: str,
        *,
        phone_number: str | None,
        messaging_service_sid: str | None,
        description: str,
        default: bool,
    ) -> SmsSender:
        senders = SenderRepository(session)
        if await senders.address_taken(phone_number, messaging_service_sid):
            raise SenderExists(
                f"{phone_number or messaging_service_sid} is registered as a sender already."
            )
        current = await senders.default(tenant_id)
        if default and current is not None:
            await senders.clear_default(tenant_id)
        sender = SmsSender(
            tenant_id=tenant_id, phone_number=phone_number,
            messaging_service_sid=messaging_service_sid, description=description,
            is_default=default or current is None,
        )  # fmt: skip
        return await senders.add(sender)

    async def sender(self, session: AsyncSession, tenant_id: str, sender_id: str) -> SmsSender:
        sender = await SenderRepository(session).get(tenant_id, sender_id)
        if sender is None:
            raise SenderNotFound(f"SMS sender {sender_id} does not exist.")
        return sender

    async def senders(
        self, session: AsyncSession, tenant_id: str, *, limit: int, cursor: str | None
    ) -> Page[SmsSender]:
        return await SenderRepository(session).list(tenant_id, limit=limit, cursor=cursor)

    async def update_sender(
        self,
        session: AsyncSession,
        tenant_id: str,
        sender_id: str,
        *,
        description: str | None,
        default: bool | None,
    ) -> SmsSender:
        sender = await self.sender(session, tenant_id, sender_id)
        if description is not None:
            sender.description = description
        if default and not sender.is_default:
            await SenderRepository(session).clear_default(tenant_id)
            sender.is_default = True
        await session.flush()
        return sender

    async def delete_sender(self, session: AsyncSession, tenant_id: str, sender_id: str) -> None:
        """Delete a sender (its messages keep the number they were sent from, and its opt-outs
        stay with the number); the default moves to the oldest other sender."""
        senders = SenderRepository(session)
        sender = await self.sender(session, tenant_id, sender_id)
        was_default = sender.is_default
        await session.delete(sender)
        await session.flush()
        if was_default and (successor := await senders.first_other(tenant_id, sender_id)):
            successor.is_default = True
            await session.flush()

    # -- messages ---------------------------------------------------------------------------

    async def create_message(
        self,
        session: AsyncSession,
        tenant_id: str,
        *,
        to: str,
        body: str,
        sender_id: str | None,
        send_at: datetime | None,
        reference: str | None,
    ) -> SmsMessage:
        """Write the message; the outbox hands it to Twilio after commit (or at ``send_at``).
        Refused at once when the recipient opted out of the sender."""
        senders = SenderRepository(session)
        if sender_id is not None:
            sender = await self.sender(session, tenant_id, sender_id)
        elif (default := await senders.default(tenant_id)) is not None:
            sender = default
        else:
            raise NoSender("Register a sender (POST /v1/sms/senders) or name one.")
        if await OptOutRepository(session).opted_out(address_of(sender), to):
            raise RecipientOptedOut(
                f"{to} opted out of messages from {address_of(sender)}; nothing is sent to "
                "them until they text START."
            )
        now = self.clock.now()
        later = send_at is not None and send_at > now
        message = SmsMessage(
            tenant_id=tenant_id, sender_id=sender.id, from_number=sender.phone_number,
            messaging_service_sid=sender.messaging_service_sid, to=to, body=body,
            reference=reference, status="scheduled" if later else "pending",
            send_at=send_at if later else None, next_attempt_at=send_at if later else now,
            attempts=0,
        )  # fmt: skip
        await MessageRepository(session).add(message)
        if not later:
            session_hooks(session).after_commit(self.wake)
        return message

    async def message(self, session: AsyncSession, tenant_id: str, message_id: str) -> SmsMessage:
        message = await MessageRepository(session).get(tenant_id, message_id)
        if message is None:
            raise SmsMessageNotFound(f"SMS message {message_id} does not exist.")
        return message

    async def messages(
        self,
        session: AsyncSession,
        tenant_id: str,
        *,
        statuses: list[str],
        limit: int,
        cursor: str | None,
    ) -> Page[SmsMessage]:
        return await MessageRepository(session).page(
            tenant_id, statuses=statuses, limit=limit, cursor=cursor
        )

    async def cancel(self, session: AsyncSession, tenant_id: str, message_id: str) -> SmsMessage:
        """Cancel a message not yet handed to Twilio (a scheduled reminder, or one waiting for
        a retry)."""
        message = await self.message(session, tenant_id, message_id)
        if message.status == "canceled":
            return message
        moved = await move(
            session, self.bus, message.id, "canceled", self.clock.now(),
            from_statuses=list(OPEN_STATUSES),
        )  # fmt: skip
        if moved is None:
            raise MessageNotCancelable(
                f"SMS message {message_id} is {message.status}: it was handed to Twilio already."
            )
        return moved

    async def opt_outs(
        self,
        session: AsyncSession,
        tenant_id: str,
        *,
        phone_number: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page[SmsOptOut]:
        return await OptOutRepository(session).page(
            tenant_id, phone_number=phone_number, limit=limit, cursor=cursor
        )

    # -- Twilio's callbacks (their signature checked by the API) ----------------------------

    async def status_changed(
        self, session: AsyncSession, message_id: str, params: Mapping[str, str]
    ) -> bool:
        """A status callback for our message: move it forward (never back); whether it moved."""
        message = await MessageRepository(session).any_tenant(message_id)
        if message is None:
            raise SmsMessageNotFound(f"SMS message {message_id} does not exist.")
        status = from_twilio(params.get("MessageStatus") or params.get("SmsStatus") or "")
        if status is None:
            return False
        values: dict[str, Any] = {}
        sid = params.get("MessageSid") or params.get("SmsSid")
        if sid and message.twilio_sid is None:
            values["twilio_sid"] = sid[:34]
        code = params.get("ErrorCode")
        if code and code.isdigit() and status in ("undelivered", "failed"):
            values["error_code"] = int(code)
            values["error_message"] = twilio_error_text(int(code))
        moved = await move(session, self.bus, message.id, status, self.clock.now(), **values)
        if moved is None and "twilio_sid" in values:
            # Moved on already (by a later callback); the SID is still worth keeping.
            await MessageRepository(session).remember_sid(message.id, str(values["twilio_sid"]))
        return moved is not None

    async def received(self, session: AsyncSession, params: Mapping[str, str]) -> str | None:
        """An inbound text to one of the senders: STOP (and its kin) opts its author out of
        that sender, START opts them back in; the keyword acted on, if any."""
        keyword = keyword_of(params.get("Body", ""))
        author = params.get("From", "")
        if keyword is None or not author:
            return None
        reached = await SenderRepository(session).receiving(
            params.get("To"), params.get("MessagingServiceSid")
        )
        if not reached:
            _log.info("inbound sms to no registered sender", to=params.get("To"))
            return None
        now = self.clock.now()
        for sender in reached:
            address = address_of(sender)
            if keyword in OPT_OUT_KEYWORDS:
                await record_opt_out(
                    session, self.bus, tenant_id=sender.tenant_id, sender_address=address,
                    sender_id=sender.id, phone_number=author[:16], keyword=keyword, now=now,
                )  # fmt: skip
            elif await OptOutRepository(session).remove(address, author):
                _announce_opt(session, self.bus, SMS_OPTED_IN, sender.tenant_id, address,
                              sender.id, author[:16], keyword)  # fmt: skip
        return keyword
