"""billing's tables: the double-entry ledger (accounts, journal entries, postings), credit
grants and holds, the stored answers of idempotent calls, the audit log, and Stripe checkout
sessions with the webhook events already processed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from v100.kit.db import ID_LENGTH, TYPE_ANNOTATION_MAP, TenantOwned, Timestamped, service_metadata
from v100.kit.db import utcnow as _utcnow
from v100.kit.jobs import add_job_table


class Base(DeclarativeBase):
    metadata = service_metadata("billing")
    type_annotation_map = TYPE_ANNOTATION_MAP


# The expiry sweep runs on the job queue, whose state lives in this database.
add_job_table(Base.metadata)

# The accounts every tenant has. ``available`` is the tenant's spendable credit; the others are
# its counterparts, so that the balances of one tenant's accounts always sum to zero:
# issued (negative: where credits come from), held, spent and expired.
ACCOUNT_KINDS = ("available", "held", "spent", "expired", "issued")


class LedgerAccount(Base, TenantOwned, Timestamped):
    __tablename__ = "ledger_accounts"
    __table_args__ = (UniqueConstraint("tenant_id", "kind"),)

    kind: Mapped[str] = mapped_column(String(16))
    # Cached sum of this account's postings, changed only in the transaction that adds them
    # (tests check it against the postings).
    balance: Mapped[int] = mapped_column(BigInteger, default=0)


class JournalEntry(Base, TenantOwned):
    """One movement of credits: its postings sum to zero."""

    __tablename__ = "journal_entries"

    # grant, hold, capture, release, deduction, expiry
    kind: Mapped[str] = mapped_column(String(16), index=True)
    # The credits the movement is about (the hold's amount, the captured amount, ...).
    amount: Mapped[int] = mapped_column(BigInteger)
    # The change of the tenant's available balance, and the balance after it.
    available_delta: Mapped[int] = mapped_column(BigInteger)
    available_after: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(String(200))
    reference: Mapped[str | None] = mapped_column(String(200), index=True)
    actor: Mapped[str | None] = mapped_column(String(200), index=True)
    hold_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    grant_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    created_at: Mapped[datetime] = mapped_column(default=_utcnow, index=True)


class Posting(Base):
    __tablename__ = "postings"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="nonzero"),
        Index("ix_postings_account_grant", "account_id", "grant_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    entry_id: Mapped[str] = mapped_column(
        ForeignKey("journal_entries.id", ondelete="CASCADE"), index=True
    )
    account_id: Mapped[str] = mapped_column(ForeignKey("ledger_accounts.id", ondelete="CASCADE"))
    # Which grant the credits belong to, on the available and held accounts.
    grant_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    amount: Mapped[int] = mapped_column(BigInteger)


class CreditGrant(Base, TenantOwned, Timestamped):
    __tablename__ = "credit_grants"
    __table_args__ = (
        CheckConstraint("amount > 0", name="positive"),
        CheckConstraint("category IN ('paid', 'promotional')", name="category"),
    )

    category: Mapped[str] = mapped_column(String(16))
    # Lower is consumed first (Stripe's credit grants use the same order).
    priority: Mapped[int] = mapped_column(Integer, default=50)
    amount: Mapped[int] = mapped_column(BigInteger)
    # Cached: the grant's credits still in the available account (sum of its postings there).
    remaining: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str | None] = mapped_column(String(200))
    expires_at: Mapped[datetime | None]
    expired_at: Mapped[datetime | None]


class CreditHold(Base, TenantOwned, Timestamped):
    __tablename__ = "credit_holds"
    __table_args__ = (
        CheckConstraint("amount > 0", name="positive"),
        Index("ix_credit_holds_open", "status", "expires_at"),
    )

    amount: Mapped[int] = mapped_column(BigInteger)
    captured_amount: Mapped[int | None] = mapped_column(BigInteger)
    # held -> captured | released | expired
    status: Mapped[str] = mapped_column(String(16), default="held")
    reason: Mapped[str] = mapped_column(String(200))
    reference: Mapped[str | None] = mapped_column(String(200))
    actor: Mapped[str | None] = mapped_column(String(200))
    expires_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    entry_id: Mapped[str] = mapped_column(String(ID_LENGTH))


class IdempotencyRecord(Base, TenantOwned):
    """The first answer to a mutating call, replayed for a retry with the same key."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("tenant_id", "key"),)

    key: Mapped[str] = mapped_column(String(255))
    # The operation and a hash of its body: the same key with another request is a conflict.
    fingerprint: Mapped[str] = mapped_column(String(300))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=_utcnow)


class AuditRecord(Base, TenantOwned):
    __tablename__ = "audit_log"

    # hold.created, hold.captured, hold.released, hold.expired, deduction, grant.created,
    # grant.expired, checkout.created, checkout.completed
    action: Mapped[str] = mapped_column(String(32), index=True)
    actor: Mapped[str | None] = mapped_column(String(200), index=True)
    reference: Mapped[str | None] = mapped_column(String(200), index=True)
    subject_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    amount: Mapped[int | None] = mapped_column(BigInteger)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=_utcnow, index=True)


class CheckoutSession(Base, TenantOwned, Timestamped):
    """A Stripe Checkout session for a credit pack, and whether its credits were granted."""

    __tablename__ = "checkout_sessions"

    stripe_session_id: Mapped[str] = mapped_column(String(255), unique=True)
    pack: Mapped[str] = mapped_column(String(50))
    credits: Mapped[int] = mapped_column(BigInteger)
    amount_total: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(8))
    url: Mapped[str | None] = mapped_column(String(2048))
    # open -> completed (credits granted, exactly once)
    status: Mapped[str] = mapped_column(String(16), default="open")
    grant_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    completed_at: Mapped[datetime | None]


class StripeEvent(Base):
    """A webhook event already handled: Stripe delivers at least once, we act at most once."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(default=_utcnow)
