"""SMS tables, on integration's one metadata: senders (a tenant's E.164 numbers or Messaging
Services), messages (each send, where it stands with Twilio) and opt-outs (recipients who
texted STOP to a sender)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from v100.kit.db import ID_LENGTH, TenantOwned, Timestamped
from v100.services.integration.models import Base

__all__ = ["OPEN_STATUSES", "SmsMessage", "SmsOptOut", "SmsSender"]

# scheduled | pending -> submitting -> queued -> sent -> delivered | undelivered | failed;
# scheduled | pending -> canceled; submitting -> pending (a retry) | failed (refused by Twilio).
OPEN_STATUSES = ("scheduled", "pending")


class SmsSender(Base, TenantOwned, Timestamped):
    """A number (E.164) or a Messaging Service (``MG...``) of the platform's Twilio account that
    one tenant sends from. Each belongs to one tenant at most: inbound messages find their
    tenant by it."""

    __tablename__ = "sms_senders"

    phone_number: Mapped[str | None] = mapped_column(String(16), unique=True)
    messaging_service_sid: Mapped[str | None] = mapped_column(String(34), unique=True)
    description: Mapped[str] = mapped_column(String(200), default="")
    # The sender of messages that name none; one per tenant.
    is_default: Mapped[bool] = mapped_column(default=False)


class SmsMessage(Base, TenantOwned, Timestamped):
    __tablename__ = "sms_messages"
    __table_args__ = (
        Index("ix_sms_messages_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_sms_messages_tenant_id_status", "tenant_id", "status"),
    )

    sender_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    # What it is sent from, copied from the sender when made (the sender may go later).
    from_number: Mapped[str | None] = mapped_column(String(16))
    messaging_service_sid: Mapped[str | None] = mapped_column(String(34))
    to: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)
    # The tenant's own tag (``meeting:123:reminder``), echoed in events.
    reference: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    # When it is to be sent (None: at once), and when the outbox tries it next.
    send_at: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]
    # Tries to hand it to Twilio so far.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Held by the outbox that claimed it, until it records Twilio's answer or the lease ends.
    lease_token: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    lease_until: Mapped[datetime | None]
    twilio_sid: Mapped[str | None] = mapped_column(String(34), index=True)
    error_code: Mapped[int | None] = mapped_column(Integer)
    error_message: Mapped[str | None] = mapped_column(String(500))
    submitted_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    canceled_at: Mapped[datetime | None]


class SmsOptOut(Base, TenantOwned):
    """A recipient who texted STOP (or whom Twilio refused as unsubscribed, 21610) to a sender's
    number or Messaging Service: nothing more is sent from that address to them until START.
    Keyed by the address, not the sender row, so deleting and registering the number again
    does not forget it."""

    __tablename__ = "sms_opt_outs"
    __table_args__ = (UniqueConstraint("sender_address", "phone_number"),)

    # The sender's number or Messaging Service SID.
    sender_address: Mapped[str] = mapped_column(String(34))
    sender_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    phone_number: Mapped[str] = mapped_column(String(16))
    # The keyword texted (STOP, UNSUBSCRIBE, ...), or ``21610`` when Twilio refused a send.
    keyword: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
