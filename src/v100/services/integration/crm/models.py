"""The CRM tables, on integration's metadata (one migration chain): authorization attempts
(the OAuth ``state``), connections (tokens sealed, the sync cursors), contacts as V100 keeps
them, activities to log, and the sync log (every decision the sync took)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from v100.kit.db import ID_LENGTH, TenantOwned, Timestamped
from v100.services.integration.models import Base

__all__ = [
    "CONTACT_FIELDS",
    "VENDORS",
    "CrmActivity",
    "CrmAuthorization",
    "CrmConnection",
    "CrmContact",
    "CrmSyncDecision",
]

VENDORS = ("hubspot", "salesforce")
# The contact fields synced both ways (each vendor maps them to its own names).
CONTACT_FIELDS = ("email", "first_name", "last_name", "phone")
# A connection's sync: idle -> queued (asked for) -> running -> idle | rate_limited | failed;
# rate_limited and failed are retried at next_sync_at. A connection whose refresh token the
# vendor refused is ``reauthorize`` (status): a new authorization replaces its tokens.
SYNC_STATUSES = ("idle", "queued", "running", "rate_limited", "failed")


class CrmAuthorization(Base, TenantOwned):
    """One OAuth authorization attempt: the ``state`` sent to the vendor (kept as its digest),
    good once and until it expires, bound to the tenant that asked."""

    __tablename__ = "crm_authorizations"

    state_digest: Mapped[str] = mapped_column(String(64), unique=True)
    vendor: Mapped[str] = mapped_column(String(16))
    activity_event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    # The connection it made (or renewed).
    connection_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    created_at: Mapped[datetime]


class CrmConnection(Base, TenantOwned, Timestamped):
    __tablename__ = "crm_connections"
    __table_args__ = (Index("ix_crm_connections_next_sync_at", "next_sync_at"),)

    vendor: Mapped[str] = mapped_column(String(16))
    # The vendor's account: HubSpot's hub id, Salesforce's organization id.
    account_id: Mapped[str | None] = mapped_column(String(64))
    # active, or reauthorize once the vendor refused the refresh token.
    status: Mapped[str] = mapped_column(String(16), default="active")
    # Salesforce: the API host of the org (from the token answer).
    instance_url: Mapped[str | None] = mapped_column(String(500))
    # kit.sealing values, never answered by the API.
    access_token: Mapped[str] = mapped_column(Text)
    refresh_token: Mapped[str | None] = mapped_column(Text)
    token_expires_at: Mapped[datetime | None]
    # Platform event types (patterns, as webhook endpoints take) that become CRM activities.
    activity_event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    sync_enabled: Mapped[bool] = mapped_column(default=True)
    sync_status: Mapped[str] = mapped_column(String(16), default="queued")
    # The vendor's change cursor: the last-modified time of the newest record pulled.
    contacts_cursor: Mapped[datetime | None]
    # The last platform message turned into activities (messages are read in id order).
    activities_cursor: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    next_sync_at: Mapped[datetime | None]
    last_synced_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    # Held by the process syncing it, until it finishes or the lease ends.
    lease_token: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    lease_until: Mapped[datetime | None]


class CrmContact(Base, TenantOwned, Timestamped):
    """A contact as V100 keeps it for one connection. ``pending_push``: changed through V100's
    API since the CRM last agreed (``local_modified_at`` says when)."""

    __tablename__ = "crm_contacts"
    __table_args__ = (
        UniqueConstraint("connection_id", "remote_id"),
        Index("ix_crm_contacts_connection_id_email", "connection_id", "email"),
        Index("ix_crm_contacts_connection_id_pending_push", "connection_id", "pending_push"),
    )

    connection_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    # The CRM's id (None until first pushed).
    remote_id: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(320))
    first_name: Mapped[str | None] = mapped_column(String(200))
    last_name: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(64))
    local_modified_at: Mapped[datetime | None]
    # The CRM's last-modified time of the record as last seen.
    remote_modified_at: Mapped[datetime | None]
    pending_push: Mapped[bool] = mapped_column(default=False)
    # The ``local_modified_at`` of a change the CRM refused (a required field missing, a bad
    # value): not sent again until the contact changes, so one refusal is logged once.
    refused_change_at: Mapped[datetime | None]
    synced_at: Mapped[datetime | None]

    @property
    def push_refused(self) -> bool:
        return self.pending_push and self.refused_change_at == self.local_modified_at


class CrmActivity(Base, TenantOwned, Timestamped):
    """A platform event logged, or to log, on a contact in the CRM (one per event and
    connection): pending -> logged | skipped | failed."""

    __tablename__ = "crm_activities"
    __table_args__ = (
        UniqueConstraint("connection_id", "message_id"),
        Index("ix_crm_activities_connection_id_status", "connection_id", "status"),
    )

    connection_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    message_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    event_type: Mapped[str] = mapped_column(String(200))
    occurred_at: Mapped[datetime]
    contact_email: Mapped[str | None] = mapped_column(String(320))
    contact_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    subject: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    remote_id: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(String(500))


class CrmSyncDecision(Base, TenantOwned):
    """One decision of a sync, for the log: what it did with a record and why."""

    __tablename__ = "crm_sync_decisions"
    __table_args__ = (Index("ix_crm_sync_decisions_connection_id_id", "connection_id", "id"),)

    connection_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    contact_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    activity_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    remote_id: Mapped[str | None] = mapped_column(String(64))
    # pulled, pushed, conflict, activity, skipped, failed, rate_limited
    kind: Mapped[str] = mapped_column(String(16))
    # For a conflict: local or remote (the side that won); for others the direction.
    winner: Mapped[str | None] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(String(500))
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    local_modified_at: Mapped[datetime | None]
    remote_modified_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
