"""Stripe for billing: Checkout Sessions for credit packs, on the platform's one Stripe set-up
(``kit.stripe``: the SDK's async client, retries, webhook verification)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import stripe

from v100.kit.errors import UpstreamUnavailable
from v100.kit.stripe import StripeConnection

__all__ = ["CheckoutSession", "StripeCheckout"]


@dataclass(frozen=True, slots=True)
class CheckoutSession:
    id: str
    url: str | None
    amount_total: int
    currency: str
    status: str
    payment_status: str
    metadata: dict[str, str]


def _session(resource: Any) -> CheckoutSession:
    obj: dict[str, Any] = resource.to_dict()
    return CheckoutSession(
        id=obj["id"],
        url=obj.get("url"),
        amount_total=int(obj.get("amount_total") or 0),
        currency=str(obj.get("currency") or ""),
        status=str(obj.get("status") or ""),
        payment_status=str(obj.get("payment_status") or ""),
        metadata=dict(obj.get("metadata") or {}),
    )


class StripeCheckout(StripeConnection):
    """Checkout Sessions for credit packs."""

    async def create_session(
        self,
        *,
        name: str,
        credits: int,
        price: int,
        currency: str,
        tenant_id: str,
        pack: str,
        success_url: str,
        cancel_url: str,
        idempotency_key: str,
    ) -> CheckoutSession:
        params: dict[str, Any] = {
            "mode": "payment",
            "success_url": success_url,
            "cancel_url": cancel_url,
            "client_reference_id": tenant_id,
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": currency,
                        "unit_amount": price,
                        "product_data": {"name": name},
                    },
                }
            ],
            "metadata": {"tenant_id": tenant_id, "pack": pack, "credits": str(credits)},
        }
        try:
            session = await self._client.v1.checkout.sessions.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": idempotency_key},
            )
        except stripe.APIConnectionError as exc:
            raise UpstreamUnavailable("Stripe does not answer.", retry_after=5) from exc
        except stripe.StripeError as exc:
            raise UpstreamUnavailable(f"Stripe refused the checkout: {exc.user_message}") from exc
        return _session(session)

    async def retrieve_session(self, session_id: str) -> CheckoutSession:
        try:
            session = await self._client.v1.checkout.sessions.retrieve_async(session_id)
        except stripe.StripeError as exc:
            raise UpstreamUnavailable("Stripe did not give the session.", retry_after=5) from exc
        return _session(session)
