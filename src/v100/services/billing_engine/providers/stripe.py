"""Stripe for billing_engine, on the platform's one Stripe set-up (``kit.stripe``: the SDK's
async client, retries, webhook verification): the tenant's Customer, invoices with their
invoice items, finalization, Checkout in setup mode (a card on file for a priced plan).

Every create carries an ``Idempotency-Key`` derived from our own ids, so a retried job gets
Stripe's first answer instead of a second object. Stripe forgets keys after 24 hours, so the
caller also records what exists (the Stripe invoice id, the items' line ids in metadata) and
asks before creating again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import stripe

from v100.kit.errors import UpstreamUnavailable
from v100.kit.stripe import StripeConnection

__all__ = ["RemoteInvoice", "SetupSession", "StripeInvoicing", "StripeRefused"]


class StripeRefused(UpstreamUnavailable):
    """Stripe answered with a client error (4xx other than 409/429): retrying cannot help."""

    slug = "stripe-refused"
    title = "Stripe refused the request"


@dataclass(frozen=True, slots=True)
class RemoteInvoice:
    id: str
    status: str  # draft, open, paid, uncollectible, void
    total: int
    amount_due: int
    currency: str
    metadata: dict[str, str]


@dataclass(frozen=True, slots=True)
class SetupSession:
    id: str
    url: str


def _invoice(resource: Any) -> RemoteInvoice:
    obj: dict[str, Any] = resource.to_dict()
    return RemoteInvoice(
        id=obj["id"],
        status=str(obj.get("status") or ""),
        total=int(obj.get("total") or 0),
        amount_due=int(obj.get("amount_due") or 0),
        currency=str(obj.get("currency") or ""),
        metadata=dict(obj.get("metadata") or {}),
    )


def _failure(exc: stripe.StripeError, what: str) -> UpstreamUnavailable:
    status = exc.http_status or 0
    if isinstance(exc, stripe.APIConnectionError) or status >= 500 or status in (409, 429):
        return UpstreamUnavailable(f"Stripe did not {what}: {exc.user_message}", retry_after=5)
    return StripeRefused(f"Stripe refused to {what}: {exc.user_message}")


class StripeInvoicing(StripeConnection):
    """Customers, invoices and their items, and card set-up sessions."""

    async def create_customer(self, tenant_id: str, *, idempotency_key: str) -> str:
        params: dict[str, Any] = {
            "description": f"V100 tenant {tenant_id}",
            "metadata": {"v100_tenant_id": tenant_id},
        }
        try:
            customer = await self._client.v1.customers.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            raise _failure(exc, "create the customer") from exc
        return str(customer.id)

    async def create_invoice(
        self,
        *,
        customer: str,
        currency: str,
        invoice_id: str,
        tenant_id: str,
        description: str,
        idempotency_key: str,
    ) -> RemoteInvoice:
        """A draft invoice holding only the items added to it (none of the customer's
        pending items), charged automatically once finalized."""
        params: dict[str, Any] = {
            "customer": customer,
            "currency": currency.lower(),
            "collection_method": "charge_automatically",
            "auto_advance": True,
            "pending_invoice_items_behavior": "exclude",
            "description": description,
            "metadata": {"v100_invoice_id": invoice_id, "v100_tenant_id": tenant_id},
        }
        try:
            created = await self._client.v1.invoices.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            raise _failure(exc, "create the invoice") from exc
        return _invoice(created)

    async def item_line_ids(self, stripe_invoice_id: str) -> set[str]:
        """The ``v100_line_id`` of every invoice item already on the invoice."""
        found: set[str] = set()
        params: dict[str, Any] = {"invoice": stripe_invoice_id, "limit": 100}
        try:
            while True:
                page = await self._client.v1.invoice_items.list_async(params)  # type: ignore[arg-type]
                for item in page.data:
                    line_id = (item.to_dict().get("metadata") or {}).get("v100_line_id")
                    if line_id:
                        found.add(str(line_id))
                if not page.has_more or not page.data:
                    return found
                params["starting_after"] = page.data[-1].id
        except stripe.StripeError as exc:
            raise _failure(exc, "list the invoice items") from exc

    async def add_item(
        self,
        *,
        customer: str,
        stripe_invoice_id: str,
        amount: int,
        currency: str,
        description: str,
        line_id: str,
        idempotency_key: str,
    ) -> None:
        params: dict[str, Any] = {
            "customer": customer,
            "invoice": stripe_invoice_id,
            "amount": amount,
            "currency": currency.lower(),
            "description": description,
            "metadata": {"v100_line_id": line_id},
        }
        try:
            await self._client.v1.invoice_items.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            raise _failure(exc, "add the invoice item") from exc

    async def retrieve_invoice(self, stripe_invoice_id: str) -> RemoteInvoice:
        try:
            return _invoice(await self._client.v1.invoices.retrieve_async(stripe_invoice_id))
        except stripe.StripeError as exc:
            raise _failure(exc, "give the invoice") from exc

    async def finalize(self, stripe_invoice_id: str, *, idempotency_key: str) -> RemoteInvoice:
        try:
            finalized = await self._client.v1.invoices.finalize_invoice_async(
                stripe_invoice_id,
                {"auto_advance": True},
                {"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            raise _failure(exc, "finalize the invoice") from exc
        return _invoice(finalized)

    async def create_setup_session(
        self,
        *,
        customer: str,
        currency: str,
        subscription_id: str,
        tenant_id: str,
        success_url: str,
        cancel_url: str,
        idempotency_key: str,
    ) -> SetupSession:
        """A Checkout Session in setup mode: the customer saves a card, nothing is charged;
        ``checkout.session.completed`` names the subscription in its metadata."""
        params: dict[str, Any] = {
            "mode": "setup",
            "customer": customer,
            "currency": currency.lower(),
            "success_url": success_url,
            "cancel_url": cancel_url,
            "metadata": {"v100_subscription_id": subscription_id, "v100_tenant_id": tenant_id},
        }
        try:
            created = await self._client.v1.checkout.sessions.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            raise _failure(exc, "open a checkout session") from exc
        return SetupSession(id=str(created.id), url=str(created.url))
