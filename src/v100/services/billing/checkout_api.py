"""billing's ``/v1/checkout`` endpoints: Checkout sessions for credit packs (idempotent), and
Stripe's webhook, which is public at the service (authenticated by its signature, not by an
internal token; the gateway must also pass it through unauthenticated)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from sqlalchemy import select
from starlette.responses import Response

from v100.kit.auth import Principal
from v100.kit.errors import NotFound
from v100.kit.http import VENDOR_NOT_CONFIGURED, Authorized
from v100.kit.idempotency import IdempotencyKey, idempotent
from v100.services.billing.api import actor_of
from v100.services.billing.checkout import CheckoutService
from v100.services.billing.deps import CreditsDep, StripeDep
from v100.services.billing.models import CheckoutSession
from v100.services.billing.schemas import CheckoutCreate, CheckoutOut

CreditsRead = Annotated[Principal, Depends(Authorized("credits:read"))]
CreditsWrite = Annotated[Principal, Depends(Authorized("credits:write"))]

__all__ = ["WEBHOOK_PATH", "checkout_router"]

WEBHOOK_PATH = "/v1/checkout/webhooks/stripe"

checkout_router = APIRouter(prefix="/v1/checkout", tags=["checkout"])


def _out(row: CheckoutSession) -> CheckoutOut:
    return CheckoutOut(
        id=row.id,
        stripe_session_id=row.stripe_session_id,
        url=row.url,
        pack=row.pack,
        credits=row.credits,
        amount_total=row.amount_total,
        currency=row.currency,
        status=row.status,
    )


@checkout_router.post(
    "/sessions", status_code=201, response_model=CheckoutOut, responses=VENDOR_NOT_CONFIGURED
)
async def create_checkout(
    body: CheckoutCreate,
    key: IdempotencyKey,
    principal: CreditsWrite,
    credits: CreditsDep,
    stripe: StripeDep,
) -> Response:
    """Start a Stripe Checkout for a credit pack; pay at ``url``."""
    started = CheckoutService(credits, stripe).start(
        principal.tenant_id, body.pack, key, actor_of(principal)
    )
    return await idempotent(
        credits.session, principal.tenant_id, key, "checkout", body, started, _out, status=201
    )


@checkout_router.get("/sessions/{checkout_id}", response_model=CheckoutOut)
async def get_checkout(
    checkout_id: str, principal: CreditsRead, credits: CreditsDep
) -> CheckoutOut:
    """One checkout session and whether its credits were granted."""
    row = (
        await credits.session.execute(
            select(CheckoutSession).where(
                CheckoutSession.tenant_id == principal.tenant_id,
                CheckoutSession.id == checkout_id,
            )
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"No checkout session {checkout_id}.")
    return _out(row)


@checkout_router.post("/webhooks/stripe", responses=VENDOR_NOT_CONFIGURED)
async def stripe_webhook(
    request: Request,
    credits: CreditsDep,
    stripe: StripeDep,
    signature: Annotated[str | None, Header(alias="Stripe-Signature")] = None,
) -> dict[str, object]:
    """Stripe's events (signed): a paid checkout grants its credits once."""
    event = stripe.verify(await request.body(), signature)
    outcome = await CheckoutService(credits, stripe).handle(event)
    return {"received": True, "outcome": outcome}
