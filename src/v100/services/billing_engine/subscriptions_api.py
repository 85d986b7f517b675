"""The billing engine's subscription endpoints, ``/v1/subscriptions``: subscribe, change, cancel,
the internal ``current/tier`` the gateway reads, the card on file a priced plan needs, and the
operator's grants. Plans and usage are in ``catalogue_api.py``, invoices in ``invoices_api.py``,
revenue shares in ``revenue_api.py``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.responses import Response

from v100.kit.auth import OPERATOR_TENANT_ID, Principal
from v100.kit.http import VENDOR_NOT_CONFIGURED, Authorized, RuntimeDep, SessionDep
from v100.kit.idempotency import OptionalIdempotencyKey, idempotent
from v100.services.billing_engine.deps import SettingsDep, StripeDep
from v100.services.billing_engine.models import Plan, Subscription
from v100.services.billing_engine.schemas import (
    CheckoutOut,
    PlanChange,
    PlanChanged,
    ProrationOut,
    SubscriptionCreate,
    SubscriptionGrant,
    SubscriptionOut,
    TierOut,
)
from v100.services.billing_engine.stripe_sync import open_card_setup
from v100.services.billing_engine.subscriptions import Proration, SubscriptionService, tier_of

BillingRead = Annotated[Principal, Depends(Authorized("billing:read"))]
BillingWrite = Annotated[Principal, Depends(Authorized("billing:write"))]
Operator = Annotated[Principal, Depends(Authorized("operator:billing"))]

__all__ = ["subscriptions_router"]

subscriptions_router = APIRouter(prefix="/v1/subscriptions", tags=["subscriptions"])


def _subscription(on_plan: tuple[Subscription, Plan]) -> SubscriptionOut:
    subscription, plan = on_plan
    return SubscriptionOut(
        id=subscription.id,
        plan=plan.code,
        tier=tier_of(subscription, plan),
        status=subscription.status,
        payment=subscription.payment,
        period_start=subscription.period_start,
        period_end=subscription.period_end,
        trial_end=subscription.trial_end,
        cancel_at_period_end=subscription.cancel_at_period_end,
        canceled_at=subscription.canceled_at,
    )


def _plan_changed(changed: tuple[Subscription, Plan, Proration | None]) -> PlanChanged:
    subscription, plan, proration = changed
    return PlanChanged(
        subscription=_subscription((subscription, plan)),
        proration=None
        if proration is None
        else ProrationOut(
            credit=proration.credit, charge=proration.charge, fraction=proration.fraction
        ),
    )


@subscriptions_router.post("", status_code=201, response_model=SubscriptionOut)
async def create_subscription(
    body: SubscriptionCreate,
    principal: BillingWrite,
    session: SessionDep,
    runtime: RuntimeDep,
    key: OptionalIdempotencyKey = None,
) -> Response:
    """Subscribe the tenant to a published plan: one without a base price starts at once (its
    trial first, when it has one); a priced one is ``incomplete`` until a card is on file
    (``current/checkout``) or the operator grants it."""
    created = SubscriptionService(session, runtime.bus).create(
        principal.tenant_id, body.plan, body.start
    )
    return await idempotent(
        session, principal.tenant_id, key, "subscribe", body, created, _subscription, status=201
    )


@subscriptions_router.post("/grants", response_model=SubscriptionOut)
async def grant_subscription(
    body: SubscriptionGrant,
    principal: Operator,
    session: SessionDep,
    runtime: RuntimeDep,
    key: OptionalIdempotencyKey = None,
) -> Response:
    """The operator puts a tenant on a plan without payment (a draft plan is a private one)."""
    granted = SubscriptionService(session, runtime.bus).grant(body.tenant_id, body.plan, body.start)
    return await idempotent(session, OPERATOR_TENANT_ID, key, "grant", body, granted, _subscription)


@subscriptions_router.post("/current/checkout", status_code=201, responses=VENDOR_NOT_CONFIGURED)
async def checkout(
    principal: BillingWrite,
    runtime: RuntimeDep,
    settings: SettingsDep,
    stripe: StripeDep,
    key: OptionalIdempotencyKey = None,
) -> CheckoutOut:
    """A Stripe Checkout page (setup mode) where the tenant saves a card: an incomplete
    subscription starts once Stripe reports it done; a standing one may then move to dearer
    plans. A retry with the same ``Idempotency-Key`` gets the same page. 501 without
    Stripe."""
    assert runtime.sessions is not None
    setup = await open_card_setup(runtime.sessions, stripe, settings, principal.tenant_id, key)
    return CheckoutOut(url=setup.url, stripe_session_id=setup.id)


@subscriptions_router.get("/current")
async def current_subscription(principal: BillingRead, session: SessionDep) -> SubscriptionOut:
    """The tenant's live subscription."""
    return _subscription(await SubscriptionService(session).current(principal.tenant_id))


@subscriptions_router.get("/current/tier")
async def current_tier(principal: BillingRead, session: SessionDep) -> TierOut:
    """The tier the tenant's subscription gives it ("free" without one); read by the gateway."""
    service = SubscriptionService(session)
    subscription = await service.subscriptions.current(principal.tenant_id)
    return TierOut(
        tier=await service.tier(principal.tenant_id),
        subscription_id=subscription.id if subscription else None,
    )


@subscriptions_router.post("/current/change", response_model=PlanChanged)
async def change_plan(
    body: PlanChange,
    principal: BillingWrite,
    session: SessionDep,
    runtime: RuntimeDep,
    key: OptionalIdempotencyKey = None,
) -> Response:
    """Upgrade or downgrade, prorated to the second; the proration waits for the next invoice."""
    changed = SubscriptionService(session, runtime.bus).change_plan(
        principal.tenant_id, body.plan, body.proration_date
    )
    return await idempotent(
        session, principal.tenant_id, key, "change_plan", body, changed, _plan_changed
    )


@subscriptions_router.post("/current/cancel", response_model=SubscriptionOut)
async def cancel_subscription(
    principal: BillingWrite,
    session: SessionDep,
    runtime: RuntimeDep,
    key: OptionalIdempotencyKey = None,
) -> Response:
    """Cancel at the end of the current period (which is still invoiced)."""
    cancelled = SubscriptionService(session, runtime.bus).cancel_at_period_end(principal.tenant_id)
    return await idempotent(
        session, principal.tenant_id, key, "cancel", None, cancelled, _subscription
    )
