"""billing_engine's tables: plans, meters and their usage events, subscriptions, invoices and
their lines. Money is stored as integer minor units of the row's currency; usage quantities and
unit prices as exact decimals (``Numeric``), never floats."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Numeric,
    String,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from v100.kit.db import (
    ID_LENGTH,
    TYPE_ANNOTATION_MAP,
    TenantOwned,
    Timestamped,
    service_metadata,
    utcnow,
)
from v100.kit.idempotency import add_idempotency_table
from v100.kit.jobs import add_job_table

INTERVALS = ("monthly", "annual")
TIERS = ("free", "pro", "business", "enterprise")
AGGREGATIONS = ("sum", "count", "unique_count", "max", "latest")
PLAN_STATUSES = ("draft", "published", "archived")
# incomplete: a priced plan not yet paid for (a card through Stripe Checkout) nor granted by the
# operator; it gives no tier (ADR 0027).
SUBSCRIPTION_STATUSES = ("incomplete", "trialing", "active", "canceled")
# The statuses of a subscription that gives its plan's tier and is invoiced.
STANDING = ("trialing", "active")
# What lets the subscription stand: a plan without a base price, a card on file, or a grant.
PAYMENTS = ("none", "card", "granted")
# open -> paid | void | uncollectible; uncollectible -> paid | void (Stripe's invoice statuses).
INVOICE_STATUSES = ("open", "paid", "uncollectible", "void")
# Usage values: 38 digits with 12 after the point, like Stripe's ``*_decimal`` amounts.
QUANTITY = Numeric(38, 12)


class Base(DeclarativeBase):
    metadata = service_metadata("billing_engine")
    type_annotation_map = TYPE_ANNOTATION_MAP


class Plan(Base, TenantOwned, Timestamped):
    """What a subscription buys: a base price per interval, units included per meter, and
    the overage charges (a meter priced by a rate card) beyond them. The catalogue is the
    operator's: its plans are owned by ``OPERATOR_TENANT_ID``, and tenants see the published
    ones. Rows owned by another tenant were made by that tenant before ADR 0027; they are
    archived and give no tier."""

    __tablename__ = "plans"
    __table_args__ = (
        UniqueConstraint("tenant_id", "code"),
        CheckConstraint(f"status IN {PLAN_STATUSES!r}", name="status"),
        CheckConstraint(f"interval IN {INTERVALS!r}", name="interval"),
        CheckConstraint(f"tier IN {TIERS!r}", name="tier"),
        CheckConstraint("base_price >= 0", name="base_price"),
        CheckConstraint("trial_days >= 0", name="trial_days"),
    )

    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), server_default="draft")
    interval: Mapped[str] = mapped_column(String(16))
    base_price: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    trial_days: Mapped[int]
    tier: Mapped[str] = mapped_column(String(16))
    # {meter code: units included per period}, decimal strings.
    included: Mapped[dict[str, str]] = mapped_column(JSON)
    # [{"meter": code, "rate_card": {...}}]: validated by schemas.PlanCharge on the way in.
    charges: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


class Meter(Base, TenantOwned, Timestamped):
    """How usage events of one code add up over a period: the operator's, like plans."""

    __tablename__ = "meters"
    __table_args__ = (
        UniqueConstraint("tenant_id", "code"),
        CheckConstraint(f"aggregation IN {AGGREGATIONS!r}", name="aggregation"),
    )

    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    aggregation: Mapped[str] = mapped_column(String(16))
    # The event property aggregated (None only for ``count``).
    property: Mapped[str | None] = mapped_column(String(64))
    group_by: Mapped[str | None] = mapped_column(String(64))


class UsageEvent(Base, TenantOwned):
    """One reported event. ``event_id`` is the caller's idempotency key: unique per tenant for
    ever, so a retry in any later batch is a duplicate, never a second count."""

    __tablename__ = "usage_events"
    __table_args__ = (
        UniqueConstraint("tenant_id", "event_id"),
        Index(
            "ix_usage_events_tenant_id_meter_code_timestamp", "tenant_id", "meter_code", "timestamp"
        ),
    )

    event_id: Mapped[str] = mapped_column(String(255))
    meter_code: Mapped[str] = mapped_column(String(64))
    timestamp: Mapped[datetime]
    # The meter's property, extracted at ingestion so the aggregation runs in SQL.
    value: Mapped[Decimal | None] = mapped_column(QUANTITY)
    # The same property as text, for unique_count (any scalar counts as a distinct value).
    value_key: Mapped[str | None] = mapped_column(String(255))
    group_key: Mapped[str | None] = mapped_column(String(255))
    properties: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime]


class Subscription(Base, TenantOwned, Timestamped):
    """The tenant's subscription to a plan, billed per period ``[period_start, period_end)``."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        CheckConstraint(f"status IN {SUBSCRIPTION_STATUSES!r}", name="status"),
        CheckConstraint(f"payment IN {PAYMENTS!r}", name="payment"),
        Index("ix_subscriptions_period_end_status", "period_end", "status"),
        # One live subscription per tenant, even when two requests race to create one.
        Index(
            "uq_subscriptions_live_tenant_id",
            "tenant_id",
            unique=True,
            postgresql_where=text("status != 'canceled'"),
            sqlite_where=text("status != 'canceled'"),
        ),
    )

    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    payment: Mapped[str] = mapped_column(String(16), server_default="none")
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    trial_end: Mapped[datetime | None]
    cancel_at_period_end: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    canceled_at: Mapped[datetime | None]


class PendingCharge(Base, TenantOwned, Timestamped):
    """A charge or credit waiting for the subscription's next invoice (proration)."""

    __tablename__ = "pending_charges"

    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    description: Mapped[str] = mapped_column(String(300))
    amount: Mapped[int] = mapped_column(BigInteger)
    invoice_id: Mapped[str | None] = mapped_column(ForeignKey("invoices.id"))


class Invoice(Base, TenantOwned, Timestamped):
    """The bill of one subscription period. Unique per (subscription, period start): a rerun
    or a second scheduler finds the row instead of issuing another."""

    __tablename__ = "invoices"
    __table_args__ = (UniqueConstraint("subscription_id", "period_start"),)

    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    plan_code: Mapped[str] = mapped_column(String(64))
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    currency: Mapped[str] = mapped_column(String(3))
    total: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    # Stripe sync (off without a Stripe key): the invoice pushed there, and its payment.
    stripe_invoice_id: Mapped[str | None] = mapped_column(String(255), index=True, unique=True)
    stripe_synced_at: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    payment_failed_at: Mapped[datetime | None]
    payment_error: Mapped[str | None] = mapped_column(String(500))


class InvoiceLine(Base, TenantOwned):
    """One line, traceable to its usage: meter, period, quantity and how many events."""

    __tablename__ = "invoice_lines"

    invoice_id: Mapped[str] = mapped_column(
        ForeignKey("invoices.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int]
    kind: Mapped[str] = mapped_column(String(16))  # base, overage, proration
    description: Mapped[str] = mapped_column(String(300))
    meter_code: Mapped[str | None] = mapped_column(String(64))
    quantity: Mapped[Decimal | None] = mapped_column(QUANTITY)
    billable_quantity: Mapped[Decimal | None] = mapped_column(QUANTITY)
    event_count: Mapped[int | None]
    amount: Mapped[int] = mapped_column(BigInteger)


class RevenueShare(Base, TenantOwned, Timestamped):
    """A partner's split of what the tenant is invoiced, agreed by the operator: ``percent``
    of the invoiced amounts (of one meter's usage lines, or of the whole invoice without a
    meter), or ``per_event``: a fixed amount per event of a meter."""

    __tablename__ = "revenue_shares"
    __table_args__ = (CheckConstraint("basis IN ('percent', 'per_event')", name="basis"),)

    partner: Mapped[str] = mapped_column(String(200))
    basis: Mapped[str] = mapped_column(String(16))
    percent: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    amount_per_event: Mapped[Decimal | None] = mapped_column(QUANTITY)
    meter_code: Mapped[str | None] = mapped_column(String(64))


class RevenueShareEntry(Base, TenantOwned, Timestamped):
    """What one invoice owes one partner; unique per (share, invoice), like the invoice itself."""

    __tablename__ = "revenue_share_entries"
    __table_args__ = (UniqueConstraint("revenue_share_id", "invoice_id"),)

    revenue_share_id: Mapped[str] = mapped_column(ForeignKey("revenue_shares.id"), index=True)
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    basis_amount: Mapped[int] = mapped_column(BigInteger)
    event_count: Mapped[int | None]
    amount: Mapped[int] = mapped_column(BigInteger)


class StripeCustomer(Base, TenantOwned, Timestamped):
    """The Stripe Customer a tenant's invoices are pushed to, one per tenant."""

    __tablename__ = "stripe_customers"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    stripe_customer_id: Mapped[str] = mapped_column(String(255), unique=True)


class StripeEvent(Base):
    """A Stripe webhook event handled once: its id is the key, and what it did is kept."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    tenant_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    invoice_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    outcome: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


# Idempotency-Key answers of the POST endpoints (kit.idempotency).
add_idempotency_table(Base.metadata)
# The job queue's table lives in this service's database (kit.jobs, ADR 0009).
add_job_table(Base.metadata)
