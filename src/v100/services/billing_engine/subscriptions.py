"""Subscriptions: start (with a trial when the plan has one), change plan with proration, cancel
at period end, and the tier a tenant's subscription gives it.

Plans are the operator's (ADR 0027). A tenant subscribes to a published plan; a plan with a
base price starts ``incomplete`` (no tier, nothing invoiced) until a card is on file (Stripe
Checkout in setup mode) or the operator grants it, and its first period starts then. Moving to
a dearer plan needs a card on file; the operator's grant moves a tenant to any plan of theirs
that is not archived (a draft is a private plan).

Periods are half-open ``[period_start, period_end)``; a monthly period ends on the same day of
the next month (clamped to the month's last day: Jan 31 -> Feb 28), an annual one a year later.
A trial is a period of its own, ending ``trial_days`` after the start; its invoice charges
nothing, and the first paid period starts when it ends.

Proration is to the second, like Stripe's default: changing plan at ``t`` credits the unused
part of the old plan's base price, ``-old * (period_end - t) / (period_end - period_start)``,
and charges the same part of the new plan's, each rounded once to minor units half up. Both
lines wait (``PendingCharge``) for the subscription's next invoice. Usage of the whole period is
priced with the plan in force when the period closes. No proration during a trial.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from v100.contracts.events import (
    SubscriptionChange,
    SubscriptionChanged,
    publish_subscription_changed,
)
from v100.kit.auth import OPERATOR_TENANT_ID
from v100.kit.bus import Bus
from v100.kit.db import session_hooks, utcnow
from v100.kit.errors import Conflict, NotFound, PaymentRequired, ValidationFailed
from v100.services.billing_engine.models import STANDING, PendingCharge, Plan, Subscription
from v100.services.billing_engine.ratecards import round_minor
from v100.services.billing_engine.repository import (
    PendingChargeRepository,
    PlanRepository,
    SubscriptionRepository,
)

__all__ = [
    "Proration",
    "SubscriptionService",
    "add_interval",
    "announce_change",
    "prorate",
    "tier_of",
]

DEFAULT_TIER = "free"


def add_months(moment: datetime, months: int) -> datetime:
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def add_interval(moment: datetime, interval: str) -> datetime:
    return add_months(moment, 12 if interval == "annual" else 1)


@dataclass(frozen=True, slots=True)
class Proration:
    credit: int  # negative: the unused part of the old plan
    charge: int  # the remaining part of the new plan
    fraction: Decimal


def prorate(
    old_price: int, new_price: int, period_start: datetime, period_end: datetime, at: datetime
) -> Proration:
    """Credit and charge for a plan change at ``at``, to the second."""
    total = int((period_end - period_start).total_seconds())
    remaining = int((period_end - at).total_seconds())
    if total <= 0 or not 0 <= remaining <= total:
        raise ValueError("the change must fall within the current period")
    fraction = Decimal(remaining) / Decimal(total)
    return Proration(
        credit=-round_minor(old_price * fraction),
        charge=round_minor(new_price * fraction),
        fraction=fraction,
    )


def tier_of(subscription: Subscription | None, plan: Plan | None) -> str:
    """The tier a subscription gives: its plan's while it stands, when the plan is the
    operator's (a plan a tenant made for itself before ADR 0027 gives none)."""
    if subscription is None or plan is None or subscription.status not in STANDING:
        return DEFAULT_TIER
    return plan.tier if plan.tenant_id == OPERATOR_TENANT_ID else DEFAULT_TIER


def _begin(subscription: Subscription, plan: Plan, start: datetime) -> None:
    """Start the subscription's first period (its trial first, when the plan has one)."""
    trial_end = start + timedelta(days=plan.trial_days) if plan.trial_days else None
    subscription.status = "trialing" if trial_end else "active"
    subscription.period_start = start
    subscription.period_end = trial_end or add_interval(start, plan.interval)
    subscription.trial_end = trial_end


def announce_change(
    session: AsyncSession,
    bus: Bus | None,
    subscription: Subscription,
    plan: Plan,
    change: SubscriptionChange,
) -> None:
    """Publish ``subscription.changed`` once ``session`` commits (dropped on rollback); the
    gateway refreshes the tenant's tier from it."""
    if bus is None:
        return
    payload = SubscriptionChanged(
        subscription_id=subscription.id,
        change=change,
        plan=plan.code,
        tier=tier_of(subscription, plan),
        status=subscription.status,
    )
    tenant_id = subscription.tenant_id

    async def publish() -> None:
        await publish_subscription_changed(
            bus, source="billing_engine", tenant_id=tenant_id, payload=payload
        )

    session_hooks(session).after_commit(publish)


class SubscriptionService:
    def __init__(self, session: AsyncSession, bus: Bus | None = None) -> None:
        self.session = session
        self.bus = bus  # where subscription.changed goes after commit (None: nowhere)
        self.plans = PlanRepository(session)
        self.subscriptions = SubscriptionRepository(session)
        self.pending = PendingChargeRepository(session)

    async def _plan(self, code: str, *, granted: bool = False) -> Plan:
        """A plan of the operator's a tenant may take: published ones; the operator's grant
        also takes drafts (private plans). Archived plans take no one new."""
        plan = await self.plans.by_code(OPERATOR_TENANT_ID, code)
        open_to = ("published", "draft") if granted else ("published",)
        if plan is None or plan.status not in open_to:
            raise ValidationFailed(f"No plan {code!r}.")
        return plan

    async def create(
        self, tenant_id: str, plan_code: str, start: datetime | None = None
    ) -> tuple[Subscription, Plan]:
        """Subscribe: a plan without a base price starts at once, a priced one incomplete."""
        plan = await self._plan(plan_code)
        if await self.subscriptions.current(tenant_id) is not None:
            raise Conflict("The tenant already has a subscription; change its plan instead.")
        start = start or utcnow()
        subscription = Subscription(
            tenant_id=tenant_id, plan_id=plan.id, payment="none", cancel_at_period_end=False
        )
        if plan.base_price == 0:
            _begin(subscription, plan, start)
        else:
            subscription.status = "incomplete"
            subscription.period_start = subscription.period_end = start
        await self._add(subscription)
        announce_change(self.session, self.bus, subscription, plan, "created")
        return subscription, plan

    async def _add(self, subscription: Subscription) -> None:
        try:
            async with self.session.begin_nested():
                await self.subscriptions.add(subscription)
        except IntegrityError:
            raise Conflict("The tenant already has a subscription.") from None

    async def grant(
        self, tenant_id: str, plan_code: str, start: datetime | None = None
    ) -> tuple[Subscription, Plan]:
        """The operator puts the tenant on a plan without payment: an incomplete subscription
        starts on it, a standing one changes to it (prorated), or one is created."""
        if tenant_id == OPERATOR_TENANT_ID:
            raise ValidationFailed("tenant_id names the operator, not a tenant.")
        plan = await self._plan(plan_code, granted=True)
        subscription = await self.subscriptions.current(tenant_id)
        if subscription is not None and subscription.status in STANDING:
            if subscription.plan_id != plan.id:
                # Prorated now, or at the end of a period that has ended but is not yet
                # invoiced (the new plan then starts with the next period).
                at = min(utcnow(), subscription.period_end)
                subscription, plan, _ = await self._change(subscription, plan, at)
            if subscription.payment != "card":
                subscription.payment = "granted"
            await self.session.flush()
            return subscription, plan
        if subscription is None:
            subscription = Subscription(
                tenant_id=tenant_id, plan_id=plan.id, cancel_at_period_end=False
            )
            _begin(subscription, plan, start or utcnow())
            subscription.payment = "granted"
            await self._add(subscription)
            announce_change(self.session, self.bus, subscription, plan, "created")
            return subscription, plan
        await self.subscriptions.lock(subscription)
        subscription.plan_id = plan.id
        return await self.activate(subscription, "granted", start)

    async def activate(
        self, subscription: Subscription, payment: str, start: datetime | None = None
    ) -> tuple[Subscription, Plan]:
        """A card is on file (``payment="card"``) or the operator granted the plan: an
        incomplete subscription starts now (or at ``start``); a standing one records it."""
        plan = await self.session.get(Plan, subscription.plan_id)
        assert plan is not None  # a foreign key
        if subscription.payment != "card":
            subscription.payment = payment
        if subscription.status == "incomplete":
            _begin(subscription, plan, start or utcnow())
            announce_change(self.session, self.bus, subscription, plan, "activated")
        await self.session.flush()
        return subscription, plan

    async def current(self, tenant_id: str) -> tuple[Subscription, Plan]:
        subscription = await self.subscriptions.current(tenant_id)
        if subscription is None:
            raise NotFound("The tenant has no subscription.")
        plan = await self.session.get(Plan, subscription.plan_id)
        assert plan is not None  # a foreign key
        return subscription, plan

    async def tier(self, tenant_id: str) -> str:
        subscription = await self.subscriptions.current(tenant_id)
        if subscription is None:
            return DEFAULT_TIER
        return tier_of(subscription, await self.session.get(Plan, subscription.plan_id))

    async def change_plan(
        self, tenant_id: str, plan_code: str, at: datetime | None = None
    ) -> tuple[Subscription, Plan, Proration | None]:
        """The tenant's own change: to a published plan, a dearer one only with a card on
        file (402 otherwise). An incomplete subscription just takes the other plan (and starts
        when that one has no base price)."""
        subscription, old = await self.current(tenant_id)
        # Two changes at once must not both prorate from the same old plan.
        await self.subscriptions.lock(subscription)
        new = await self._plan(plan_code)
        if new.id == old.id:
            raise Conflict(f"The subscription is already on {plan_code!r}.")
        if subscription.status == "incomplete":
            subscription.plan_id = new.id
            if new.base_price == 0:
                await self.activate(subscription, "none")
            await self.session.flush()
            return subscription, new, None
        if new.base_price > old.base_price and subscription.payment != "card":
            raise PaymentRequired(
                f"{plan_code!r} costs more than the current plan: put a card on file first "
                "(POST /v1/subscriptions/current/checkout), or ask the operator for a grant."
            )
        return await self._change(subscription, new, at or utcnow())

    async def _change(
        self, subscription: Subscription, new: Plan, at: datetime
    ) -> tuple[Subscription, Plan, Proration | None]:
        old = await self.session.get(Plan, subscription.plan_id)
        assert old is not None  # a foreign key
        if new.currency != old.currency or new.interval != old.interval:
            raise ValidationFailed("A plan change keeps the currency and the interval.")
        if not subscription.period_start <= at <= subscription.period_end:
            raise ValidationFailed("proration_date must fall within the current period.")
        proration = None
        if subscription.status != "trialing":
            proration = prorate(
                old.base_price,
                new.base_price,
                subscription.period_start,
                subscription.period_end,
                at,
            )
            for description, amount in (
                (f"Unused time on {old.name} ({old.code})", proration.credit),
                (f"Remaining time on {new.name} ({new.code})", proration.charge),
            ):
                await self.pending.add(
                    PendingCharge(
                        tenant_id=subscription.tenant_id,
                        subscription_id=subscription.id,
                        description=description,
                        amount=amount,
                    )
                )
        subscription.plan_id = new.id
        await self.session.flush()
        announce_change(self.session, self.bus, subscription, new, "plan_changed")
        return subscription, new, proration

    async def cancel_at_period_end(self, tenant_id: str) -> tuple[Subscription, Plan]:
        """Cancel at the end of the current period; an incomplete one (nothing to invoice)
        ends at once."""
        subscription, plan = await self.current(tenant_id)
        if subscription.status == "incomplete":
            subscription.status, subscription.canceled_at = "canceled", utcnow()
            await self.session.flush()
            announce_change(self.session, self.bus, subscription, plan, "canceled")
            return subscription, plan
        subscription.cancel_at_period_end = True
        await self.session.flush()
        announce_change(self.session, self.bus, subscription, plan, "cancel_scheduled")
        return subscription, plan
