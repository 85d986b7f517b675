"""Credit top-ups through Stripe Checkout: a session per pack, and the webhook events that grant
a paid session's credits exactly once, however often and in whatever order Stripe sends them.

Exactly once rests on two records: each event id is stored when handled (a repeat is a no-op),
and each session moves ``open -> completed`` once, under the tenant's ledger lock, in the
transaction that posts the grant (so a second event for the same session, say
``async_payment_succeeded`` after ``completed``, finds it completed and grants nothing).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from v100.kit.db import new_id, utcnow
from v100.kit.errors import NotFound
from v100.kit.observability import get_logger
from v100.services.billing.models import CheckoutSession, StripeEvent
from v100.services.billing.providers.stripe import StripeCheckout
from v100.services.billing.service import CreditService

__all__ = ["GRANTING_EVENTS", "CheckoutService"]

_log = get_logger("v100.billing.checkout")

# Events that may carry a paid session; others are acknowledged and ignored.
GRANTING_EVENTS = frozenset(
    {"checkout.session.completed", "checkout.session.async_payment_succeeded"}
)


class CheckoutService:
    def __init__(self, credits: CreditService, stripe: StripeCheckout) -> None:
        self.credits = credits
        self.session = credits.session
        self.stripe = stripe

    async def start(
        self, tenant_id: str, pack_id: str, idempotency_key: str, actor: str | None
    ) -> CheckoutSession:
        pack = self.credits.settings.top_up_packs.get(pack_id)
        if pack is None:
            raise NotFound(
                f"No top-up pack {pack_id!r}.",
                extra={"packs": sorted(self.credits.settings.top_up_packs)},
            )
        remote = await self.stripe.create_session(
            name=pack.name,
            credits=pack.credits,
            price=pack.price,
            currency=pack.currency,
            tenant_id=tenant_id,
            pack=pack_id,
            success_url=self.credits.settings.checkout_success_url,
            cancel_url=self.credits.settings.checkout_cancel_url,
            # Stripe dedupes on its side too: a retry after a lost answer gets the same session.
            idempotency_key=f"{tenant_id}:{idempotency_key}",
        )
        row = CheckoutSession(
            id=new_id(),
            tenant_id=tenant_id,
            stripe_session_id=remote.id,
            pack=pack_id,
            credits=pack.credits,
            amount_total=remote.amount_total,
            currency=remote.currency,
            url=remote.url,
            status="open",
        )
        self.session.add(row)
        await self.session.flush()
        self.credits.audit(
            tenant_id, "checkout.created", actor, remote.id, row.id, pack.credits, pack=pack_id
        )
        return row

    async def _find(self, stripe_session_id: str, *, fresh: bool = False) -> CheckoutSession | None:
        statement = select(CheckoutSession).where(
            CheckoutSession.stripe_session_id == stripe_session_id
        )
        if fresh:
            statement = statement.execution_options(populate_existing=True)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def handle(self, event: dict[str, Any]) -> str:
        """Act on one verified event; returns what was done (also stored with the event id)."""
        event_id, event_type = str(event.get("id")), str(event.get("type"))
        obj = (event.get("data") or {}).get("object") or {}
        row = None
        if event_type in GRANTING_EVENTS and obj.get("id"):
            row = await self._find(str(obj["id"]))
            if row is not None:
                # Every later step runs under the tenant's lock: duplicates queue up here.
                await self.credits.open(row.tenant_id, actor="stripe")
                row = await self._find(str(obj["id"]), fresh=True)
        if await self.session.get(StripeEvent, event_id) is not None:
            return "duplicate"
        outcome = await self._outcome(event_type, obj, row)
        try:
            async with self.session.begin_nested():
                self.session.add(StripeEvent(id=event_id, type=event_type, outcome=outcome))
        except IntegrityError:
            # Only without a tenant lock (unknown sessions): nothing was granted.
            return "duplicate"
        _log.info("stripe event", event_id=event_id, type=event_type, outcome=outcome)
        return outcome

    async def _outcome(
        self, event_type: str, obj: dict[str, Any], row: CheckoutSession | None
    ) -> str:
        if event_type not in GRANTING_EVENTS:
            return "ignored"
        if row is None:
            _log.warning("checkout event for an unknown session", session=obj.get("id"))
            return "unknown-session"
        if obj.get("payment_status") != "paid":
            _log.info("checkout not paid yet", session=row.stripe_session_id)
            return "unpaid"
        if row.status == "completed":
            return "already-granted"
        grant = await self.credits.grant(
            row.tenant_id,
            row.credits,
            category="paid",
            priority=50,
            source="checkout",
            reference=row.stripe_session_id,
            actor="stripe",
        )
        row.status, row.grant_id, row.completed_at = "completed", grant.id, utcnow()
        self.credits.audit(
            row.tenant_id, "checkout.completed", "stripe", row.stripe_session_id, row.id,
            row.credits, grant_id=grant.id,
        )  # fmt: skip
        return "granted"
