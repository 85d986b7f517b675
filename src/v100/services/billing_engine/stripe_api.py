"""billing_engine's Stripe webhook, ``POST /v1/invoices/webhooks/stripe``: public at the service
and at the gateway (Stripe authenticates it by its ``Stripe-Signature``, not by a token); each
verified event moves an invoice's payment status once, or (a completed setup-mode Checkout
Session) puts a card on file for the tenant's subscription."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request

from v100.kit.http import VENDOR_NOT_CONFIGURED, RuntimeDep, SessionDep
from v100.services.billing_engine.deps import StripeDep
from v100.services.billing_engine.stripe_sync import handle_event

__all__ = ["WEBHOOK_PATH", "stripe_router"]

WEBHOOK_PATH = "/v1/invoices/webhooks/stripe"

stripe_router = APIRouter(tags=["invoices"])


@stripe_router.post(WEBHOOK_PATH, responses=VENDOR_NOT_CONFIGURED)
async def stripe_webhook(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    stripe: StripeDep,
    signature: Annotated[str | None, Header(alias="Stripe-Signature")] = None,
) -> dict[str, object]:
    """Stripe's events (signed): invoices paid, payment failed, voided, uncollectible; a card
    saved through Checkout (setup mode)."""
    event = stripe.verify(await request.body(), signature)
    return {"received": True, "outcome": await handle_event(session, event, runtime.bus)}
