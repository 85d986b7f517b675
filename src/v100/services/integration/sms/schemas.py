"""SMS request and response bodies. Numbers are E.164 (``+`` and up to 15 digits, no spaces);
a Messaging Service SID is ``MG`` and 32 hex digits."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from v100.kit.http import Listing, refusing_null
from v100.kit.text import Line, Paragraphs

__all__ = [
    "E164",
    "MessageCreate",
    "MessageOut",
    "MessagePage",
    "MessageStatus",
    "OptOutOut",
    "OptOutPage",
    "SenderCreate",
    "SenderOut",
    "SenderPage",
    "SenderUpdate",
]

E164 = Annotated[
    str,
    Field(
        pattern=r"^\+[1-9][0-9]{1,14}$",
        examples=["+14155550100"],
        description="An E.164 phone number: '+', the country code and the number, no spaces.",
    ),
]
MessagingServiceSid = Annotated[str, Field(pattern=r"^MG[0-9a-f]{32}$")]
MessageStatus = Literal[
    "scheduled", "pending", "submitting", "queued", "sent", "delivered", "undelivered",
    "failed", "canceled",
]  # fmt: skip


class SenderCreate(BaseModel):
    """Exactly one of ``phone_number`` and ``messaging_service_sid``."""

    model_config = ConfigDict(extra="forbid")

    phone_number: E164 | None = None
    messaging_service_sid: MessagingServiceSid | None = None
    description: Annotated[Line, Field(max_length=200)] = ""
    # The tenant's first sender is the default whatever this says.
    default: bool = False

    @model_validator(mode="after")
    def _one_address(self) -> SenderCreate:
        if (self.phone_number is None) == (self.messaging_service_sid is None):
            raise ValueError("give exactly one of phone_number and messaging_service_sid")
        return self


class SenderUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: Annotated[Line, Field(max_length=200)] | None = None
    # Only true: the default moves to this sender (another sender is made the default to move it
    # away).
    default: Literal[True] | None = None

    _kept = refusing_null("description", "default")


class SenderOut(BaseModel):
    id: str
    phone_number: str | None
    messaging_service_sid: str | None
    description: str
    default: bool
    # Set this as the number's (or Messaging Service's) incoming-message webhook in Twilio, so
    # STOP and START reach V100.
    inbound_webhook_url: str
    created_at: datetime


SenderPage = Listing[SenderOut]


class MessageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: E164
    body: Annotated[Paragraphs, Field(min_length=1, max_length=1600)]
    # The sender to send from (None: the tenant's default).
    sender_id: Annotated[str | None, Field(max_length=36)] = None
    # When to send it (a reminder); None or a past time: at once.
    send_at: AwareDatetime | None = None
    # The tenant's own tag, echoed in the message's events (``meeting:123:reminder``).
    reference: Annotated[Line, Field(max_length=200)] | None = None


class MessageOut(BaseModel):
    id: str
    to: str
    body: str
    sender_id: str | None
    from_number: str | None
    messaging_service_sid: str | None
    reference: str | None
    status: MessageStatus
    send_at: datetime | None
    attempts: int
    twilio_sid: str | None
    error_code: int | None
    error_message: str | None
    created_at: datetime
    submitted_at: datetime | None
    delivered_at: datetime | None
    failed_at: datetime | None
    canceled_at: datetime | None


MessagePage = Listing[MessageOut]


class OptOutOut(BaseModel):
    id: str
    phone_number: str
    sender_address: str
    sender_id: str | None
    keyword: str
    created_at: datetime


OptOutPage = Listing[OptOutOut]
