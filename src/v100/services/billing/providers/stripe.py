"""Stripe through its official SDK: Checkout Sessions for credit packs (the SDK's async client
on httpx, so the event loop never blocks) and webhook verification with
``stripe.Webhook.construct_event`` (signature and timestamp tolerance)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import stripe

from v100.kit.errors import BadRequest, UpstreamUnavailable

__all__ = ["CheckoutSession", "InvalidWebhook", "StripeCheckout"]


class InvalidWebhook(BadRequest):
    slug = "invalid-webhook"
    title = "Webhook signature verification failed"


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


class StripeCheckout:
    def __init__(
        self,
        api_key: str,
        webhook_secret: str,
        *,
        api_base: str | None = None,
        tolerance_seconds: int = 300,
    ) -> None:
        base = {"api": api_base} if api_base else None
        self._http = stripe.HTTPXClient()
        self._client = stripe.StripeClient(
            api_key,
            base_addresses=base,  # type: ignore[arg-type]
            http_client=self._http,
            max_network_retries=2,
        )
        self._webhook_secret = webhook_secret
        self._tolerance = tolerance_seconds

    async def aclose(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]

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

    def verify(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        """The event, once its signature and timestamp check out; InvalidWebhook otherwise."""
        if not signature:
            raise InvalidWebhook("No Stripe-Signature header.")
        try:
            event = stripe.Webhook.construct_event(
                payload, signature, self._webhook_secret, tolerance=self._tolerance
            )
        except stripe.SignatureVerificationError as exc:
            raise InvalidWebhook(str(exc.user_message or "Bad signature.")) from exc
        except ValueError as exc:
            raise InvalidWebhook("The payload is not JSON.") from exc
        result: dict[str, Any] = event.to_dict()
        return result
