"""A local fake of the part of Stripe's API that V100 uses, speaking its documented wire
format: form-encoded requests with bracketed keys, ``Authorization: Bearer sk_...``,
``Idempotency-Key`` on every POST (same key and body: the first answer again; another body: 400
``idempotency_error``), error objects ``{"error": {"type", "code", "message", "param"}}``,
list objects (``data``, ``has_more``, ``starting_after``), Checkout Sessions (create, retrieve),
Customers, Invoice Items and Invoices (create, finalize, pay, void, mark uncollectible; see
``_stripe_invoicing.py``), and webhooks signed the way Stripe signs them
(``Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<payload>")>``).

    fake = FakeStripe(webhook_secret="whsec_test")
    async with serving(fake.app) as base_url:
        fake.webhook_url = "http://127.0.0.1:8085/v1/checkout/webhooks/stripe"
        ...                                    # the adapter creates a session at base_url
        response = await fake.complete(session_id)   # pays it and delivers the signed event
        await fake.pay_invoice(invoice_id)     # an invoice is paid: invoice.paid is delivered

``fail_next(n)`` makes the next ``n`` API calls answer 500 ``api_error`` (an outage), and
``requests`` records every call that reached a handler.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from v100.kit.testing.fakes._stripe_invoicing import StripeInvoicingResources, error

__all__ = ["FakeStripe", "decode_form", "sign_payload"]

_KEY_PART = re.compile(r"\[([^\]]*)\]")


def decode_form(body: bytes) -> dict[str, Any]:
    """Stripe's form encoding to nested values: ``metadata[a]=1`` and
    ``line_items[0][quantity]=2`` become ``{"metadata": {"a": "1"}, "line_items": [{...}]}``."""
    root: dict[str, Any] = {}
    for raw_key, value in parse_qsl(body.decode(), keep_blank_values=True):
        head = raw_key.split("[", 1)[0]
        parts = [head, *_KEY_PART.findall(raw_key[len(head) :])]
        node: Any = root
        for part, following in itertools.pairwise(parts):
            child_is_list = following.isdigit()
            if isinstance(node, list):
                index = int(part)
                while len(node) <= index:
                    node.append(None)
                if node[index] is None:
                    node[index] = [] if child_is_list else {}
                node = node[index]
            else:
                node = node.setdefault(part, [] if child_is_list else {})
        last = parts[-1]
        if isinstance(node, list):
            index = int(last)
            while len(node) <= index:
                node.append(None)
            node[index] = value
        else:
            node[last] = value
    return root


def sign_payload(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header value for ``payload``."""
    t = int(time.time()) if timestamp is None else timestamp
    signed = f"{t}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


_error = error


Handler = Callable[[Request, dict[str, Any]], Awaitable[JSONResponse]]


@dataclass
class FakeStripe(StripeInvoicingResources):
    webhook_secret: str = "whsec_test_fake"  # noqa: S105 - a test value
    api_key_prefix: str = "sk_test_"
    webhook_url: str | None = None
    # When set, webhooks go through this client (e.g. one speaking ASGI to the app under test).
    webhook_client: httpx.AsyncClient | None = None
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    _idempotent: dict[tuple[str, str], tuple[str, JSONResponse]] = field(default_factory=dict)
    _failures: int = 0

    def __post_init__(self) -> None:
        self.app = Starlette(
            routes=[
                Route("/v1/checkout/sessions", self._post(self._checkout), methods=["POST"]),
                Route("/v1/checkout/sessions/{id}", self._get_session, methods=["GET"]),
                *self.invoicing_routes(),
            ]
        )

    def fail_next(self, count: int = 1) -> None:
        """The next ``count`` API calls answer 500 ``api_error``, as in an outage."""
        self._failures += count

    @property
    def idempotency_keys(self) -> set[str]:
        """Every Idempotency-Key Stripe remembers (the ones sent since the last forget)."""
        return {key for _, key in self._idempotent}

    def forget_idempotency_keys(self) -> None:
        """What Stripe does 24 hours after a key's first use: a reused key is new again."""
        self._idempotent.clear()

    # -- the API ---------------------------------------------------------------------------

    def _authenticate(self, request: Request) -> JSONResponse | None:
        if self._failures > 0:
            self._failures -= 1
            return _error(500, "api_error", "An unknown error occurred (a simulated outage).")
        authorization = request.headers.get("authorization", "")
        token = authorization.removeprefix("Bearer ").strip()
        if not token:
            return _error(401, "invalid_request_error", "You did not provide an API key.")
        if not token.startswith(self.api_key_prefix):
            return _error(
                401, "invalid_request_error", f"Invalid API Key provided: {token[:8]}***",
                code="api_key_invalid",
            )  # fmt: skip
        return None

    def _post(self, handler: Handler) -> Callable[[Request], Awaitable[JSONResponse]]:
        """A POST endpoint: authenticated, form-decoded, and idempotent on Idempotency-Key
        (same key and body: the stored answer; another body: 400 idempotency_error)."""

        async def endpoint(request: Request) -> JSONResponse:
            if (denied := self._authenticate(request)) is not None:
                return denied
            body = await request.body()
            key = request.headers.get("idempotency-key")
            digest = hashlib.sha256(body).hexdigest()
            if key is not None:
                seen = self._idempotent.get((request.url.path, key))
                if seen is not None:
                    if seen[0] != digest:
                        return _error(
                            400,
                            "idempotency_error",
                            "Keys for idempotent requests can only be used with the same "
                            "parameters they were first used with.",
                        )
                    return seen[1]
            params = decode_form(body)
            self.requests.append(("POST", request.url.path, params))
            response = await handler(request, params)
            if key is not None and response.status_code < 500:
                self._idempotent[(request.url.path, key)] = (digest, response)
            return response

        return endpoint

    async def _checkout(self, _request: Request, params: dict[str, Any]) -> JSONResponse:
        return self._new_session(params)

    def _new_session(self, params: dict[str, Any]) -> JSONResponse:
        for required in ("mode", "success_url"):
            if not params.get(required):
                return _error(
                    400, "invalid_request_error", f"Missing required param: {required}.",
                    code="parameter_missing", param=required,
                )  # fmt: skip
        if params["mode"] not in ("payment", "subscription", "setup"):
            return _error(
                400, "invalid_request_error", f"Invalid mode: {params['mode']}",
                code="parameter_invalid_string", param="mode",
            )  # fmt: skip
        items = params.get("line_items") or []
        if params["mode"] == "setup":
            # Setup mode saves a payment method and charges nothing: no line items.
            if items:
                return _error(
                    400, "invalid_request_error",
                    "You cannot pass `line_items` in `setup` mode.",
                    code="parameter_unknown", param="line_items",
                )  # fmt: skip
            if not params.get("currency") and not params.get("payment_method_types"):
                return _error(
                    400, "invalid_request_error",
                    "Missing required param: currency.",
                    code="parameter_missing", param="currency",
                )  # fmt: skip
        elif not items:
            return _error(
                400, "invalid_request_error", "Missing required param: line_items.",
                code="parameter_missing", param="line_items",
            )  # fmt: skip
        total, currency = 0, params.get("currency")
        for index, item in enumerate(items):
            price = (item or {}).get("price_data") or {}
            try:
                unit = int(price["unit_amount"])
                quantity = int(item.get("quantity", "1"))
                currency = price["currency"]
            except (KeyError, ValueError):
                return _error(
                    400, "invalid_request_error", "Invalid line item.",
                    code="parameter_invalid_integer", param=f"line_items[{index}][price_data]",
                )  # fmt: skip
            total += unit * quantity
        session_id = "cs_test_" + secrets.token_hex(16)
        session = {
            "id": session_id,
            "object": "checkout.session",
            "amount_total": total,
            "currency": currency,
            "client_reference_id": params.get("client_reference_id"),
            "created": int(time.time()),
            "livemode": False,
            "customer": params.get("customer"),
            "metadata": params.get("metadata") or {},
            "mode": params["mode"],
            "payment_status": "unpaid",
            "status": "open",
            "success_url": params["success_url"],
            "cancel_url": params.get("cancel_url"),
            "url": f"https://checkout.stripe.test/c/pay/{session_id}",
        }
        self.sessions[session_id] = session
        return JSONResponse(session)

    async def _get_session(self, request: Request) -> JSONResponse:
        if (denied := self._authenticate(request)) is not None:
            return denied
        session = self.sessions.get(request.path_params["id"])
        if session is None:
            return _error(
                404, "invalid_request_error",
                f"No such checkout.session: '{request.path_params['id']}'",
                code="resource_missing", param="id",
            )  # fmt: skip
        return JSONResponse(session)

    # -- what a test drives ------------------------------------------------------------------

    def event_for(
        self, session_id: str, type_: str = "checkout.session.completed"
    ) -> dict[str, Any]:
        """A new event carrying the session's current state (as Stripe builds them)."""
        event = {
            "id": "evt_" + secrets.token_hex(12),
            "object": "event",
            "api_version": "2024-06-20",
            "created": int(time.time()),
            "livemode": False,
            "pending_webhooks": 1,
            "type": type_,
            "data": {"object": dict(self.sessions[session_id])},
        }
        self.events.append(event)
        return event

    async def deliver(
        self,
        event: dict[str, Any],
        *,
        timestamp: int | None = None,
        secret: str | None = None,
        signature: str | None = None,
    ) -> httpx.Response:
        """POST ``event`` to the webhook URL, signed (or with the given signature)."""
        if self.webhook_url is None:
            raise RuntimeError("set webhook_url first")
        payload = json.dumps(event).encode()
        header = signature or sign_payload(payload, secret or self.webhook_secret, timestamp)
        headers = {"Content-Type": "application/json", "Stripe-Signature": header}
        if self.webhook_client is not None:
            return await self.webhook_client.post(
                self.webhook_url, content=payload, headers=headers
            )
        async with httpx.AsyncClient() as client:
            return await client.post(self.webhook_url, content=payload, headers=headers)

    def pay(self, session_id: str) -> None:
        # A setup session charges nothing: Stripe reports it complete with no payment due.
        setup = self.sessions[session_id]["mode"] == "setup"
        self.sessions[session_id].update(
            status="complete", payment_status="no_payment_required" if setup else "paid"
        )

    async def complete(self, session_id: str) -> httpx.Response:
        """The customer pays: the session completes and its event is delivered."""
        self.pay(session_id)
        return await self.deliver(self.event_for(session_id))
