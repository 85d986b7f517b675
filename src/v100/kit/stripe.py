"""Stripe through its official SDK, set up one way for every service that reaches it: the SDK's
async client on httpx (so the event loop never blocks), the API base (a local fake in tests,
``kit.testing.fakes.stripe``), two network retries, and webhook verification with
``stripe.Webhook.construct_event`` (signature and timestamp tolerance).

A service's adapter (``providers/stripe.py``) subclasses ``StripeConnection`` and adds the calls
it makes through ``self._client``:

    class StripeCheckout(StripeConnection):
        async def create_session(self, ...) -> CheckoutSession:
            return await self._client.v1.checkout.sessions.create_async(...)
"""

from __future__ import annotations

from typing import Any

import stripe

from v100.kit.errors import BadRequest

__all__ = ["InvalidWebhook", "StripeConnection"]


class InvalidWebhook(BadRequest):
    slug = "invalid-webhook"
    title = "Webhook signature verification failed"


class StripeConnection:
    """One Stripe account's client (``aclose`` when done) and the verifier of its webhooks."""

    def __init__(
        self,
        api_key: str,
        webhook_secret: str | None = None,
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

    def verify(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        """The event, once its signature and timestamp check out; InvalidWebhook otherwise."""
        if self._webhook_secret is None:
            raise InvalidWebhook("No webhook secret is configured.")
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
