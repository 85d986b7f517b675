"""Invoicing: the bill of a subscription's closed period (base price, overage per meter priced by
the plan's rate cards, pending proration lines), its revenue-share entries, then the roll-over
to the next period.

Exactly once: each period is invoiced and rolled in one transaction, with the subscription row
locked (PostgreSQL ``FOR UPDATE``; SQLite serializes writers), and the invoice is unique per
(subscription, period start), so a rerun, a retried job or a second scheduler finds the work
done. A service that was down for several periods catches up one period per transaction.

Late usage: a period is invoiced ``grace`` after it ends, so events reported a little late (a
client's retry queue) still count; events timestamped in a period already invoiced are kept but
not billed (a known limit, see the report of issue 4).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from v100.contracts.events import SubscriptionChange
from v100.kit.bus import Bus
from v100.kit.db import AfterCommit, session_hooks, unit_of_work
from v100.services.billing_engine.models import (
    STANDING,
    Invoice,
    InvoiceLine,
    Meter,
    Plan,
    Subscription,
)
from v100.services.billing_engine.ratecards import price
from v100.services.billing_engine.repository import (
    InvoiceRepository,
    MeterRepository,
    PendingChargeRepository,
    SubscriptionRepository,
    UsageEventRepository,
)
from v100.services.billing_engine.revenue import share_invoice
from v100.services.billing_engine.schemas import PlanCharge, to_rate_card
from v100.services.billing_engine.subscriptions import add_interval, announce_change

__all__ = ["InvoiceCreated", "InvoiceIssued", "InvoiceRun", "invoice_period", "run_invoicing"]

# Called with (tenant id, invoice id) once the invoice's transaction has committed: the seam for
# what follows an invoice (an ``invoice.issued`` event), never called on rollback.
InvoiceIssued = Callable[[str, str], Awaitable[object]]
# Called inside the invoice's transaction: durable follow-up work (the Stripe push job, whose row
# commits with the invoice and whose message is sent after the commit).
InvoiceCreated = Callable[[AsyncSession, Invoice], Awaitable[object]]


@dataclass
class InvoiceRun:
    invoiced: int = 0
    skipped: int = 0


async def _usage_lines(
    session: AsyncSession, subscription: Subscription, plan: Plan
) -> list[InvoiceLine]:
    tenant_id = subscription.tenant_id
    charges = [PlanCharge.model_validate(charge) for charge in plan.charges]
    # The operator's meters; a plan made by a tenant before ADR 0027 priced its own.
    meters: dict[str, Meter] = await MeterRepository(session).by_codes(
        plan.tenant_id, [charge.meter for charge in charges]
    )
    events = UsageEventRepository(session)
    lines: list[InvoiceLine] = []
    for charge in charges:
        meter = meters.get(charge.meter)
        if meter is None:
            continue
        (aggregate,) = await events.aggregate(
            tenant_id, meter, subscription.period_start, subscription.period_end, grouped=False
        )
        included = Decimal(plan.included.get(meter.code, "0"))
        billable = max(aggregate.value - included, Decimal(0))
        lines.append(
            InvoiceLine(
                tenant_id=tenant_id,
                kind="usage",
                description=(
                    f"{meter.name or meter.code}: {aggregate.value} {meter.aggregation}, "
                    f"{included} included, {billable} billable ({charge.rate_card.type})"
                ),
                meter_code=meter.code,
                quantity=aggregate.value,
                billable_quantity=billable,
                event_count=aggregate.event_count,
                amount=price(to_rate_card(charge.rate_card), billable),
            )
        )
    return lines


async def invoice_period(session: AsyncSession, subscription: Subscription) -> Invoice | None:
    """Invoice the subscription's current period (it has ended) and roll it over; None when
    the period already has its invoice (then only the roll-over happens, which heals a row
    left behind by hand)."""
    invoices = InvoiceRepository(session)
    plan = await session.get(Plan, subscription.plan_id)
    assert plan is not None  # a foreign key
    if await invoices.for_period(subscription.id, subscription.period_start) is not None:
        _roll_over(subscription, plan)
        await session.flush()
        return None
    trial = subscription.status == "trialing"
    lines: list[InvoiceLine] = [
        InvoiceLine(
            tenant_id=subscription.tenant_id,
            kind="base",
            description=f"{plan.name} ({plan.code}), {plan.interval}"
            + (", trial" if trial else ""),
            amount=0 if trial else plan.base_price,
        )
    ]
    if not trial:
        lines += await _usage_lines(session, subscription, plan)
    pending_repo = PendingChargeRepository(session)
    pending = await pending_repo.open_for(subscription.tenant_id, subscription.id)
    lines += [
        InvoiceLine(
            tenant_id=subscription.tenant_id,
            kind="proration",
            description=item.description,
            amount=item.amount,
        )
        for item in pending
    ]
    invoice = Invoice(
        tenant_id=subscription.tenant_id,
        subscription_id=subscription.id,
        plan_code=plan.code,
        period_start=subscription.period_start,
        period_end=subscription.period_end,
        currency=plan.currency,
        total=sum(line.amount for line in lines),
        # "open" until paid: Stripe's webhook events move it (stripe_sync.py).
        status="open",
    )
    await invoices.add(invoice)  # the unique (subscription, period) constraint decides here
    for position, line in enumerate(lines):
        line.invoice_id = invoice.id
        line.position = position
        session.add(line)
    await pending_repo.attach([item.id for item in pending], invoice.id)
    await share_invoice(session, invoice, lines)
    _roll_over(subscription, plan)
    await session.flush()
    return invoice


def _roll_over(subscription: Subscription, plan: Plan) -> None:
    if subscription.cancel_at_period_end:
        subscription.status = "canceled"
        subscription.canceled_at = subscription.period_end
        return
    subscription.status = "active"
    subscription.period_start = subscription.period_end
    subscription.period_end = add_interval(subscription.period_start, plan.interval)


def _announce(on_issued: InvoiceIssued, tenant_id: str, invoice_id: str) -> AfterCommit:
    async def announce() -> None:
        await on_issued(tenant_id, invoice_id)

    return announce


async def run_invoicing(
    sessions: async_sessionmaker[AsyncSession],
    now: datetime,
    *,
    grace: timedelta = timedelta(0),
    batch: int = 100,
    on_issued: InvoiceIssued | None = None,
    bus: Bus | None = None,
    on_invoice: InvoiceCreated | None = None,
) -> InvoiceRun:
    """Invoice and renew every subscription whose period ended ``grace`` before ``now``;
    each renewal (or cancellation taking effect) is announced on ``bus`` after its commit."""
    run = InvoiceRun()
    cutoff = now - grace
    while True:
        async with sessions() as session:
            due = await SubscriptionRepository(session).due(cutoff, limit=batch)
        if not due:
            return run
        progressed = False
        for candidate in due:
            try:
                async with unit_of_work(sessions) as session:
                    subscription = await SubscriptionRepository(session).lock(candidate)
                    if (
                        subscription is None
                        or subscription.status not in STANDING
                        or subscription.period_end > cutoff
                    ):
                        run.skipped += 1  # another run got here first
                        continue
                    invoice = await invoice_period(session, subscription)
                    progressed = True
                    if invoice is not None and on_invoice is not None:
                        await on_invoice(session, invoice)
                    plan = await session.get(Plan, subscription.plan_id)
                    assert plan is not None  # a foreign key
                    ended = subscription.status == "canceled"
                    change: SubscriptionChange = "canceled" if ended else "renewed"
                    announce_change(session, bus, subscription, plan, change)
                    if invoice is not None and on_issued is not None:
                        session_hooks(session).after_commit(
                            _announce(on_issued, invoice.tenant_id, invoice.id)
                        )
            except IntegrityError:
                # A concurrent run inserted this period's invoice first; ours rolled back whole.
                run.skipped += 1
                continue
            if invoice is None:
                run.skipped += 1
            else:
                run.invoiced += 1
        if not progressed:
            return run
