"""Stripe sync of issued invoices: the push (the tenant's Stripe Customer, found in our mapping or
created once; the invoice with one item per line; finalization) run as a durable job after the
invoice commits, and the webhook events that move an invoice's payment status. Also the card on
file a priced plan needs (ADR 0027): a Checkout Session in setup mode, whose completion starts
an incomplete subscription.

The push resumes where a crash left it: the Stripe invoice id is committed as soon as it exists,
items carry their line id in metadata and are listed before adding, and every create has an
Idempotency-Key derived from our ids. Events apply exactly once (the event id is stored in the
transaction that applies it, with the invoice row locked) and only move the status forward
(``open -> paid | void | uncollectible``, ``uncollectible -> paid | void``), so a repeated or
late event never takes a paid invoice back to open.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from v100.kit.bus import Bus
from v100.kit.db import TenantRepository, new_id, unit_of_work, utcnow
from v100.kit.observability import get_logger
from v100.services.billing_engine.models import (
    Invoice,
    StripeCustomer,
    StripeEvent,
    Subscription,
)
from v100.services.billing_engine.providers.stripe import (
    RemoteInvoice,
    SetupSession,
    StripeInvoicing,
)
from v100.services.billing_engine.repository import InvoiceRepository, SubscriptionRepository
from v100.services.billing_engine.settings import BillingEngineSettings
from v100.services.billing_engine.subscriptions import SubscriptionService

__all__ = ["EVENT_STATUS", "apply_status", "handle_event", "open_card_setup", "push_invoice"]

_log = get_logger("v100.billing_engine.stripe")

# The status each event moves an invoice to; payment_failed records the failure only.
EVENT_STATUS: dict[str, str | None] = {
    "invoice.paid": "paid",
    "invoice.payment_succeeded": "paid",
    "invoice.voided": "void",
    "invoice.marked_uncollectible": "uncollectible",
    "invoice.payment_failed": None,
    "invoice.finalized": "open",
}
# A Checkout Session completed: in setup mode, the tenant's card is on file.
CARD_SAVED = "checkout.session.completed"
# Where each status may go next; paid and void are final.
_NEXT = {
    "open": {"paid", "void", "uncollectible"},
    "uncollectible": {"paid", "void"},
    "paid": set[str](),
    "void": set[str](),
}


def apply_status(invoice: Invoice, status: str) -> bool:
    """Move the invoice to ``status`` when that is forward; whether it moved."""
    if status not in _NEXT.get(invoice.status, set()):
        return False
    invoice.status = status
    if status == "paid":
        invoice.paid_at = utcnow()
    return True


class StripeCustomerRepository(TenantRepository[StripeCustomer]):
    model = StripeCustomer

    async def for_tenant(self, tenant_id: str) -> StripeCustomer | None:
        return (await self.session.execute(self.select_for(tenant_id))).scalar_one_or_none()


@dataclass(frozen=True, slots=True)
class _Snapshot:
    tenant_id: str
    currency: str
    stripe_invoice_id: str | None
    synced: bool
    description: str
    lines: list[tuple[str, int, str]]  # (line id, amount, description)
    customer: str | None


async def _snapshot(session: AsyncSession, invoice_id: str) -> _Snapshot | None:
    invoice = await session.get(Invoice, invoice_id)
    if invoice is None:
        return None
    lines = await InvoiceRepository(session).lines(invoice.tenant_id, invoice.id)
    customer = await StripeCustomerRepository(session).for_tenant(invoice.tenant_id)
    period = f"{invoice.period_start:%Y-%m-%d} to {invoice.period_end:%Y-%m-%d}"
    return _Snapshot(
        tenant_id=invoice.tenant_id,
        currency=invoice.currency,
        stripe_invoice_id=invoice.stripe_invoice_id,
        synced=invoice.stripe_synced_at is not None,
        description=f"V100 invoice {invoice.id}, {invoice.plan_code}, {period}",
        lines=[(line.id, line.amount, line.description) for line in lines],
        customer=customer.stripe_customer_id if customer else None,
    )


async def _customer(
    sessions: async_sessionmaker[AsyncSession], stripe: StripeInvoicing, tenant_id: str
) -> str:
    created = await stripe.create_customer(tenant_id, idempotency_key=f"v100-customer-{tenant_id}")
    async with unit_of_work(sessions) as session:
        try:
            async with session.begin_nested():
                session.add(StripeCustomer(tenant_id=tenant_id, stripe_customer_id=created))
        except IntegrityError:
            pass  # another push recorded the tenant's customer first: it wins
        existing = await StripeCustomerRepository(session).for_tenant(tenant_id)
        assert existing is not None
        return existing.stripe_customer_id


async def push_invoice(
    sessions: async_sessionmaker[AsyncSession], stripe: StripeInvoicing, invoice_id: str
) -> str:
    """Push one issued invoice to Stripe (idempotent); what was done. No database transaction
    stays open across a call to Stripe."""
    async with sessions() as session:
        snapshot = await _snapshot(session, invoice_id)
    if snapshot is None:
        return "gone"
    if snapshot.synced:
        return "already-synced"
    customer = snapshot.customer or await _customer(sessions, stripe, snapshot.tenant_id)
    stripe_id = snapshot.stripe_invoice_id
    if stripe_id is None:
        remote = await stripe.create_invoice(
            customer=customer,
            currency=snapshot.currency,
            invoice_id=invoice_id,
            tenant_id=snapshot.tenant_id,
            description=snapshot.description,
            idempotency_key=f"v100-invoice-{invoice_id}",
        )
        stripe_id = remote.id
        async with unit_of_work(sessions) as session:
            invoice = await session.get(Invoice, invoice_id, with_for_update=True)
            assert invoice is not None
            if invoice.stripe_invoice_id is None:
                invoice.stripe_invoice_id = stripe_id
            stripe_id = invoice.stripe_invoice_id
    present = await stripe.item_line_ids(stripe_id)
    for line_id, amount, description in snapshot.lines:
        if line_id in present:
            continue
        await stripe.add_item(
            customer=customer,
            stripe_invoice_id=stripe_id,
            amount=amount,
            currency=snapshot.currency,
            description=description,
            line_id=line_id,
            idempotency_key=f"v100-invoice-{invoice_id}-line-{line_id}",
        )
    remote = await stripe.retrieve_invoice(stripe_id)
    if remote.status == "draft":
        remote = await stripe.finalize(stripe_id, idempotency_key=f"v100-invoice-{invoice_id}-fin")
    await _synced(sessions, invoice_id, remote)
    _log.info("invoice pushed to stripe", invoice_id=invoice_id, stripe_invoice_id=stripe_id)
    return "synced"


async def _synced(
    sessions: async_sessionmaker[AsyncSession], invoice_id: str, remote: RemoteInvoice
) -> None:
    async with unit_of_work(sessions) as session:
        invoice = await session.get(Invoice, invoice_id, with_for_update=True)
        assert invoice is not None
        invoice.stripe_synced_at = utcnow()
        # A zero-amount invoice is paid on finalization; its event may come too (a no-op then).
        apply_status(invoice, remote.status)


async def _find_invoice(session: AsyncSession, obj: dict[str, Any]) -> Invoice | None:
    """The invoice an event is about, locked: by our id in its metadata (set at creation, so
    found even when the push died before recording the Stripe id), else by the Stripe id."""
    ours = (obj.get("metadata") or {}).get("v100_invoice_id")
    if ours:
        where = Invoice.id == str(ours)
    elif obj.get("id"):
        where = Invoice.stripe_invoice_id == str(obj["id"])
    else:
        return None
    invoice_id = (await session.execute(select(Invoice.id).where(where))).scalar_one_or_none()
    if invoice_id is None:
        return None
    # A write takes the row lock on both backends (SQLite has no FOR UPDATE: its first write
    # takes the database's write lock), so duplicates of one event apply one after the other.
    await session.execute(
        update(Invoice).where(Invoice.id == invoice_id).values(updated_at=utcnow())
    )
    statement = (
        select(Invoice).where(Invoice.id == invoice_id).execution_options(populate_existing=True)
    )
    return (await session.execute(statement)).scalar_one()


async def open_card_setup(
    sessions: async_sessionmaker[AsyncSession],
    stripe: StripeInvoicing,
    settings: BillingEngineSettings,
    tenant_id: str,
    key: str | None,
) -> SetupSession:
    """A Checkout Session (setup mode) for the tenant's live subscription: the card saved
    there lets a priced plan stand (``CARD_SAVED`` below). No transaction stays open across a
    call to Stripe; the request's ``Idempotency-Key`` becomes Stripe's, which gives the same
    session back for a retry (a call without one opens a new session; an abandoned one
    expires at Stripe)."""
    async with sessions() as session:
        subscription, plan = await SubscriptionService(session).current(tenant_id)
        found = await StripeCustomerRepository(session).for_tenant(tenant_id)
    customer = found.stripe_customer_id if found else await _customer(sessions, stripe, tenant_id)
    return await stripe.create_setup_session(
        customer=customer,
        currency=plan.currency,
        subscription_id=subscription.id,
        tenant_id=tenant_id,
        success_url=settings.public(settings.checkout_success_url),
        cancel_url=settings.public(settings.checkout_cancel_url),
        idempotency_key=f"v100-setup-{subscription.id}-{key or new_id()}",
    )


async def _find_subscription(session: AsyncSession, obj: dict[str, Any]) -> Subscription | None:
    metadata = obj.get("metadata") or {}
    subscription = await session.get(Subscription, str(metadata.get("v100_subscription_id")))
    if subscription is None or subscription.tenant_id != metadata.get("v100_tenant_id"):
        return None
    # Duplicates of one session's events queue up on this lock, then find the event stored.
    return await SubscriptionRepository(session).lock(subscription)


async def _card_saved(
    session: AsyncSession, bus: Bus | None, obj: dict[str, Any], found: Subscription | None
) -> str:
    if obj.get("mode") != "setup":
        return "ignored"  # billing's credit top-ups have their own webhook
    if found is None:
        return "unknown-subscription"
    if obj.get("status") != "complete":
        return "not-complete"
    if found.status == "canceled":
        return "canceled"
    was = found.status
    await SubscriptionService(session, bus).activate(found, "card")
    return "activated" if was == "incomplete" else "card-on-file"


async def handle_event(session: AsyncSession, event: dict[str, Any], bus: Bus | None = None) -> str:
    """Act on one verified event, once; what was done (also stored with the event id)."""
    event_id, event_type = str(event.get("id")), str(event.get("type"))
    obj: dict[str, Any] = (event.get("data") or {}).get("object") or {}
    invoice = subscription = None
    if event_type in EVENT_STATUS and obj.get("object", "invoice") == "invoice":
        # Duplicates of one invoice's events queue up on this lock, then find the event stored.
        invoice = await _find_invoice(session, obj)
    elif event_type == CARD_SAVED and obj.get("mode") == "setup":
        subscription = await _find_subscription(session, obj)
    if await session.get(StripeEvent, event_id) is not None:
        return "duplicate"
    if event_type == CARD_SAVED:
        outcome = await _card_saved(session, bus, obj, subscription)
    else:
        outcome = _apply(event_type, obj, invoice)
    owner = invoice or subscription
    try:
        async with session.begin_nested():
            session.add(
                StripeEvent(
                    id=event_id,
                    type=event_type,
                    tenant_id=owner.tenant_id if owner else None,
                    invoice_id=invoice.id if invoice else None,
                    outcome=outcome,
                )
            )
    except IntegrityError:
        return "duplicate"  # only without an invoice lock, when nothing was changed
    _log.info("stripe event", event_id=event_id, type=event_type, outcome=outcome)
    return outcome


def _apply(event_type: str, obj: dict[str, Any], invoice: Invoice | None) -> str:
    if event_type not in EVENT_STATUS:
        return "ignored"
    if invoice is None:
        return "unknown-invoice"
    stripe_id = str(obj.get("id") or "")
    if invoice.stripe_invoice_id is None:
        invoice.stripe_invoice_id = stripe_id  # the push died before recording it
    elif invoice.stripe_invoice_id != stripe_id:
        return "other-stripe-invoice"  # not the Stripe invoice this one was pushed as
    target = EVENT_STATUS[event_type]
    if target is None:  # invoice.payment_failed
        if invoice.status != "open":
            return "stale"
        invoice.payment_failed_at = utcnow()
        attempts = obj.get("attempt_count")
        invoice.payment_error = (
            f"payment failed (attempt {attempts})" if attempts else ("payment failed")
        )
        return "payment-failed"
    if invoice.status == target:
        return "unchanged"
    return f"now-{target}" if apply_status(invoice, target) else "stale"
