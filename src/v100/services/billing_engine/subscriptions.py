"""Subscriptions: start (with a trial when the plan has one), change plan with proration, cancel
at period end, and the tier a tenant's subscription gives it.

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
from v100.kit.bus import Bus
from v100.kit.db import session_hooks, utcnow
from v100.kit.errors import Conflict, NotFound, ValidationFailed
from v100.services.billing_engine.models import PendingCharge, Plan, Subscription
from v100.services.billing_engine.ratecards import round_minor
from v100.services.billing_engine.repository import (
    PendingChargeRepository,
    PlanRepository,
    SubscriptionRepository,
)

__all__ = ["Proration", "SubscriptionService", "add_interval", "announce_change", "prorate"]

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
        tier=DEFAULT_TIER if subscription.status == "canceled" else plan.tier,
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

    async def _plan(self, tenant_id: str, code: str) -> Plan:
        plan = await self.plans.by_code(tenant_id, code)
        if plan is None:
            raise ValidationFailed(f"No plan {code!r}.")
        return plan

    async def create(
        self, tenant_id: str, plan_code: str, start: datetime | None = None
    ) -> tuple[Subscription, Plan]:
        plan = await self._plan(tenant_id, plan_code)
        if await self.subscriptions.current(tenant_id) is not None:
            raise Conflict("The tenant already has a subscription; change its plan instead.")
        start = start or utcnow()
        trial_end = start + timedelta(days=plan.trial_days) if plan.trial_days else None
        subscription = Subscription(
            tenant_id=tenant_id,
            plan_id=plan.id,
            status="trialing" if trial_end else "active",
            period_start=start,
            period_end=trial_end or add_interval(start, plan.interval),
            trial_end=trial_end,
            cancel_at_period_end=False,
        )
        try:
            async with self.session.begin_nested():
                await self.subscriptions.add(subscription)
        except IntegrityError:
            raise Conflict("The tenant already has a subscription.") from None
        announce_change(self.session, self.bus, subscription, plan, "created")
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
        plan = await self.session.get(Plan, subscription.plan_id)
        return plan.tier if plan is not None else DEFAULT_TIER

    async def change_plan(
        self, tenant_id: str, plan_code: str, at: datetime | None = None
    ) -> tuple[Subscription, Plan, Proration | None]:
        subscription, old = await self.current(tenant_id)
        # Two changes at once must not both prorate from the same old plan.
        await self.subscriptions.lock(subscription)
        new = await self._plan(tenant_id, plan_code)
        if new.id == old.id:
            raise Conflict(f"The subscription is already on {plan_code!r}.")
        if new.currency != old.currency or new.interval != old.interval:
            raise ValidationFailed("A plan change keeps the currency and the interval.")
        at = at or utcnow()
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
                        tenant_id=tenant_id,
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
        subscription, plan = await self.current(tenant_id)
        subscription.cancel_at_period_end = True
        await self.session.flush()
        announce_change(self.session, self.bus, subscription, plan, "cancel_scheduled")
        return subscription, plan
