"""integration's tables: webhook endpoints, messages (every tenant event received, as the body
its webhooks carry), deliveries (one per message and endpoint: where that delivery stands),
attempts (every try, for the log), notifications (e-mail-ready records for people), and the
stored answers of idempotent POSTs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from v100.kit.db import ID_LENGTH, TYPE_ANNOTATION_MAP, TenantOwned, Timestamped, service_metadata
from v100.kit.idempotency import add_idempotency_table


class Base(DeclarativeBase):
    metadata = service_metadata("integration")
    type_annotation_map = TYPE_ANNOTATION_MAP


add_idempotency_table(Base.metadata)

# pending -> delivering -> succeeded | pending (retry) | failed (the dead-letter list)
DELIVERY_STATUSES = ("pending", "delivering", "succeeded", "failed")
OPEN_STATUSES = ("pending", "delivering")


class Endpoint(Base, TenantOwned, Timestamped):
    __tablename__ = "webhook_endpoints"

    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str] = mapped_column(String(1000), default="")
    # Event-type patterns (``video.*``, ``recording.ready``); empty: every event.
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(default=True)
    # Why it was disabled (``gone``, ``failing``, ``manual``) and when.
    disabled_reason: Mapped[str | None] = mapped_column(String(32))
    disabled_at: Mapped[datetime | None]
    # Extra headers sent with every delivery.
    headers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    # Deliveries per second at most (None: no limit beyond the concurrency).
    rate_limit: Mapped[int | None] = mapped_column(Integer)
    # Deliver the events of one resource (one video, one recording) one after the other.
    ordered: Mapped[bool] = mapped_column(default=False)
    secret: Mapped[str] = mapped_column(String(100))
    # After a rotation the previous secret signs too, until it expires.
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_expires_at: Mapped[datetime | None]
    # When the current run of failed attempts began (None after any success).
    failing_since: Mapped[datetime | None]


class Message(Base, TenantOwned):
    __tablename__ = "webhook_messages"
    __table_args__ = (
        UniqueConstraint("tenant_id", "event_id"),
        Index("ix_webhook_messages_tenant_id_occurred_at", "tenant_id", "occurred_at"),
    )

    # The platform event's own id: a redelivered event is the same message.
    event_id: Mapped[str] = mapped_column(String(200))
    event_type: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(200))
    # The resource the event is about (``video:<id>``), for ordered endpoints.
    resource_key: Mapped[str | None] = mapped_column(String(300))
    occurred_at: Mapped[datetime]
    # The body every delivery sends, byte for byte (signatures cover it).
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class Delivery(Base, TenantOwned, Timestamped):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("message_id", "endpoint_id"),
        Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint_id_status", "endpoint_id", "status"),
    )

    message_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    endpoint_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    # Attempts made (claims taken), so far.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    # Held by the dispatcher that claimed it, until it records the outcome or the lease ends.
    lease_token: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    lease_until: Mapped[datetime | None]
    # Copied from the message, so ordering needs no join.
    resource_key: Mapped[str | None] = mapped_column(String(300))
    occurred_at: Mapped[datetime]
    event_type: Mapped[str] = mapped_column(String(200))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    delivered_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None] = mapped_column(index=True)


class Attempt(Base, TenantOwned):
    __tablename__ = "webhook_attempts"

    delivery_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    message_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    endpoint_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    event_type: Mapped[str] = mapped_column(String(200))
    attempt: Mapped[int] = mapped_column(Integer)
    # succeeded or failed
    outcome: Mapped[str] = mapped_column(String(16))
    status_code: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int] = mapped_column(Integer)
    response_excerpt: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(String(500))
    # When the delivery is tried next (None: delivered, or given up).
    next_attempt_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class Notification(Base, TenantOwned):
    """A message for the tenant's people (an e-mail once a mailer exists): what happened, ready
    to send."""

    __tablename__ = "notifications"

    kind: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class StreamGroup(Base, TenantOwned):
    """A consumer group on the tenant's event stream: each event goes to one read of the group
    and comes back to a later read until acknowledged, once its visibility timeout passed."""

    __tablename__ = "stream_groups"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(100))
    # Event-type patterns as endpoints have them; empty: every event.
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The last message handed to the group (None: before the first).
    position: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    created_at: Mapped[datetime]


class StreamLease(Base, TenantOwned):
    """An event handed to a group and not acknowledged yet."""

    __tablename__ = "stream_leases"
    __table_args__ = (
        UniqueConstraint("group_id", "message_id"),
        Index("ix_stream_leases_group_id_visible_at", "group_id", "visible_at"),
    )

    group_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    message_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    # When it becomes visible to the group's reads again, unless acknowledged first.
    visible_at: Mapped[datetime]
    deliveries: Mapped[int] = mapped_column(Integer, default=1)
