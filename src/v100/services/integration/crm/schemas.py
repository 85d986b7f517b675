"""Request and response bodies of ``/v1/crm``. Tokens never appear in any of them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from v100.kit.http import Listing, refusing_null
from v100.kit.text import Line
from v100.services.integration.filters import PATTERN

__all__ = [
    "ActivityOut",
    "AuthorizationCreate",
    "AuthorizationOut",
    "ConnectionOut",
    "ConnectionUpdate",
    "ContactCreate",
    "ContactOut",
    "ContactUpdate",
    "DecisionOut",
]

Vendor = Literal["hubspot", "salesforce"]
# An address as CRMs key contacts by it: one line, an @, kept lower-case.
Email = Annotated[
    Line,
    Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$"),
    AfterValidator(str.lower),
]


def _patterns(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    for pattern in value:
        if not PATTERN.match(pattern):
            raise ValueError(f"not an event type or pattern: {pattern!r}")
    return value


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AuthorizationCreate(_Body):
    vendor: Vendor
    # Platform event types (``video.ready``, ``recording.*``) logged as activities on the
    # contact they name; empty: none.
    activity_event_types: list[str] = Field(default_factory=list, max_length=50)

    _check = field_validator("activity_event_types")(_patterns)


class AuthorizationOut(BaseModel):
    vendor: Vendor
    # Send the user's browser here; the CRM sends it back to the callback.
    authorize_url: str
    expires_at: datetime


class ConnectionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    vendor: str
    account_id: str | None
    status: str
    activity_event_types: list[str]
    sync_enabled: bool
    sync_status: str
    contacts_cursor: datetime | None
    token_expires_at: datetime | None
    next_sync_at: datetime | None
    last_synced_at: datetime | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime


class ConnectionUpdate(_Body):
    activity_event_types: list[str] | None = Field(default=None, max_length=50)
    sync_enabled: bool | None = None

    _check = field_validator("activity_event_types")(_patterns)
    _kept = refusing_null("activity_event_types", "sync_enabled")


class ContactCreate(_Body):
    email: Email
    first_name: Line | None = Field(default=None, max_length=200)
    last_name: Line | None = Field(default=None, max_length=200)
    phone: Line | None = Field(default=None, max_length=64)


class ContactUpdate(_Body):
    email: Email | None = None
    first_name: Line | None = Field(default=None, max_length=200)
    last_name: Line | None = Field(default=None, max_length=200)
    phone: Line | None = Field(default=None, max_length=64)

    # The e-mail keys the contact; names and phone may be cleared (null).
    _kept = refusing_null("email")


class ContactOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    connection_id: str
    remote_id: str | None
    email: str | None
    first_name: str | None
    last_name: str | None
    phone: str | None
    # Changed through V100 and not yet in the CRM.
    pending_push: bool
    # The CRM refused this change (see the sync log): sent again once the contact changes.
    push_refused: bool
    local_modified_at: datetime | None
    remote_modified_at: datetime | None
    synced_at: datetime | None


class ActivityOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    connection_id: str
    message_id: str
    event_type: str
    occurred_at: datetime
    contact_email: str | None
    contact_id: str | None
    subject: str
    status: str
    remote_id: str | None
    last_error: str | None


class DecisionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    connection_id: str
    contact_id: str | None
    activity_id: str | None
    remote_id: str | None
    kind: str
    winner: str | None
    reason: str
    fields: dict[str, Any]
    local_modified_at: datetime | None
    remote_modified_at: datetime | None
    created_at: datetime


ConnectionPage = Listing[ConnectionOut]
ContactPage = Listing[ContactOut]
ActivityPage = Listing[ActivityOut]
DecisionPage = Listing[DecisionOut]
