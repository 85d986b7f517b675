"""The fake Stripe's billing resources, as Stripe documents them: Customers, Invoice Items (list
filtered by invoice, paginated) and Invoices (draft -> open on finalize, then paid, void or
uncollectible; a zero amount due is paid on finalization), with the ``invoice.*`` events each
change produces, kept in ``events`` for a test to deliver (signed) when it chooses."""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

if TYPE_CHECKING:
    import httpx

__all__ = ["StripeInvoicingResources", "error"]

Handler = Callable[[Request, dict[str, Any]], Awaitable[JSONResponse]]
Endpoint = Callable[[Request], Awaitable[JSONResponse]]

# Where each invoice status may go next (Stripe's invoice lifecycle).
_NEXT = {
    "draft": {"open"},
    "open": {"paid", "void", "uncollectible"},
    "uncollectible": {"paid", "void"},
    "paid": set[str](),
    "void": set[str](),
}
_EVENT = {
    "open": "invoice.finalized",
    "paid": "invoice.paid",
    "void": "invoice.voided",
    "uncollectible": "invoice.marked_uncollectible",
}


def error(
    status: int, type_: str, message: str, *, code: str | None = None, param: str | None = None
) -> JSONResponse:
    """Stripe's error object: ``{"error": {"type", "message", "code"?, "param"?}}``."""
    body: dict[str, Any] = {"type": type_, "message": message}
    if code is not None:
        body["code"] = code
    if param is not None:
        body["param"] = param
    return JSONResponse({"error": body}, status_code=status)


def _missing(param: str) -> JSONResponse:
    return error(
        400, "invalid_request_error", f"Missing required param: {param}.",
        code="parameter_missing", param=param,
    )  # fmt: skip


def _no_such(kind: str, id_: str) -> JSONResponse:
    return error(
        404, "invalid_request_error", f"No such {kind}: '{id_}'",
        code="resource_missing", param="id",
    )  # fmt: skip


def _integer(params: dict[str, Any], name: str) -> int | JSONResponse:
    try:
        return int(params[name])
    except KeyError:
        return _missing(name)
    except (TypeError, ValueError):
        return error(
            400, "invalid_request_error", f"Invalid integer: {params[name]}",
            code="parameter_invalid_integer", param=name,
        )  # fmt: skip


class StripeInvoicingResources:
    """Mixed into ``FakeStripe``; its state lives in the dicts below."""

    customers: dict[str, dict[str, Any]]
    invoices: dict[str, dict[str, Any]]
    invoice_items: dict[str, dict[str, Any]]

    if TYPE_CHECKING:
        events: list[dict[str, Any]]

        def _post(self, handler: Handler) -> Endpoint: ...

        def _authenticate(self, request: Request) -> JSONResponse | None: ...

        async def deliver(self, event: dict[str, Any]) -> httpx.Response: ...

    def invoicing_routes(self) -> list[Route]:
        self.customers, self.invoices, self.invoice_items = {}, {}, {}
        return [
            Route("/v1/customers", self._post(self._create_customer), methods=["POST"]),
            Route("/v1/customers/{id}", self._getter(self.customers, "customer")),
            Route("/v1/invoiceitems", self._post(self._create_item), methods=["POST"]),
            Route("/v1/invoiceitems", self._list_items, methods=["GET"]),
            Route("/v1/invoices", self._post(self._create_invoice), methods=["POST"]),
            Route("/v1/invoices/{id}", self._getter(self.invoices, "invoice")),
            Route("/v1/invoices/{id}/finalize", self._post(self._finalize), methods=["POST"]),
            Route("/v1/invoices/{id}/pay", self._post(self._to("paid")), methods=["POST"]),
            Route("/v1/invoices/{id}/void", self._post(self._to("void")), methods=["POST"]),
            Route(
                "/v1/invoices/{id}/mark_uncollectible",
                self._post(self._to("uncollectible")),
                methods=["POST"],
            ),
        ]

    # -- the API ---------------------------------------------------------------------------

    def _getter(self, table: dict[str, dict[str, Any]], kind: str) -> Endpoint:
        async def get(request: Request) -> JSONResponse:
            if (denied := self._authenticate(request)) is not None:
                return denied
            found = table.get(request.path_params["id"])
            if found is None:
                return _no_such(kind, request.path_params["id"])
            return JSONResponse(found)

        return get

    async def _create_customer(self, _request: Request, params: dict[str, Any]) -> JSONResponse:
        customer_id = "cus_" + secrets.token_hex(7)
        customer: dict[str, Any] = {
            "id": customer_id,
            "object": "customer",
            "created": int(time.time()),
            "description": params.get("description"),
            "email": params.get("email"),
            "livemode": False,
            "metadata": params.get("metadata") or {},
        }
        self.customers[customer_id] = customer
        return JSONResponse(customer)

    async def _create_invoice(self, _request: Request, params: dict[str, Any]) -> JSONResponse:
        customer = params.get("customer")
        if not customer:
            return _missing("customer")
        if customer not in self.customers:
            return _no_such("customer", customer)
        invoice_id = "in_" + secrets.token_hex(12)
        invoice: dict[str, Any] = {
            "id": invoice_id,
            "object": "invoice",
            "customer": customer,
            "currency": params.get("currency") or "usd",
            "collection_method": params.get("collection_method") or "charge_automatically",
            "auto_advance": params.get("auto_advance") == "true",
            "description": params.get("description"),
            "metadata": params.get("metadata") or {},
            "status": "draft",
            "number": None,
            "created": int(time.time()),
            "livemode": False,
            "attempt_count": 0,
            "subtotal": 0,
            "total": 0,
            "amount_due": 0,
            "amount_paid": 0,
            "amount_remaining": 0,
            "lines": {"object": "list", "data": [], "has_more": False,
                      "url": f"/v1/invoices/{invoice_id}/lines"},
            "status_transitions": {"finalized_at": None, "paid_at": None, "voided_at": None,
                                   "marked_uncollectible_at": None},
        }  # fmt: skip
        self.invoices[invoice_id] = invoice
        self._event(invoice, "invoice.created")
        return JSONResponse(invoice)

    async def _create_item(self, _request: Request, params: dict[str, Any]) -> JSONResponse:
        for required in ("customer", "currency"):
            if not params.get(required):
                return _missing(required)
        amount = _integer(params, "amount")
        if isinstance(amount, JSONResponse):
            return amount
        invoice = self.invoices.get(params.get("invoice") or "")
        if params.get("invoice") and invoice is None:
            return _no_such("invoice", params["invoice"])
        if invoice is not None:
            if invoice["status"] != "draft":
                return error(
                    400, "invalid_request_error",
                    f"You can only add invoice items to draft invoices; {invoice['id']} is "
                    f"{invoice['status']}.", code="invoice_not_editable", param="invoice",
                )  # fmt: skip
            if invoice["currency"] != params["currency"]:
                return error(
                    400, "invalid_request_error",
                    "The currency of an invoice item must match its invoice's currency.",
                    code="currency_mismatch", param="currency",
                )  # fmt: skip
        item: dict[str, Any] = {
            "id": "ii_" + secrets.token_hex(12),
            "object": "invoiceitem",
            "customer": params["customer"],
            "invoice": invoice["id"] if invoice else None,
            "amount": amount,
            "currency": params["currency"],
            "description": params.get("description"),
            "metadata": params.get("metadata") or {},
            "date": int(time.time()),
            "livemode": False,
        }
        self.invoice_items[item["id"]] = item
        if invoice is not None:
            invoice["lines"]["data"].append(
                {"id": "il_" + item["id"][3:], "object": "line_item", "amount": amount,
                 "currency": item["currency"], "description": item["description"],
                 "metadata": item["metadata"]}
            )  # fmt: skip
            self._total(invoice)
        return JSONResponse(item)

    async def _list_items(self, request: Request) -> JSONResponse:
        if (denied := self._authenticate(request)) is not None:
            return denied
        query = request.query_params
        limit = max(1, min(100, int(query.get("limit", "10"))))
        items = [
            item
            for item in self.invoice_items.values()
            if item["invoice"] == query.get("invoice", item["invoice"])
        ]
        after = query.get("starting_after")
        if after is not None:
            ids = [item["id"] for item in items]
            items = items[ids.index(after) + 1 :] if after in ids else []
        return JSONResponse(
            {"object": "list", "url": "/v1/invoiceitems", "has_more": len(items) > limit,
             "data": items[:limit]}
        )  # fmt: skip

    async def _finalize(self, request: Request, _params: dict[str, Any]) -> JSONResponse:
        invoice = self.invoices.get(request.path_params["id"])
        if invoice is None:
            return _no_such("invoice", request.path_params["id"])
        if invoice["status"] != "draft":
            return error(
                400, "invalid_request_error",
                "This invoice is already finalized, you can't re-finalize a non-draft invoice.",
                code="invoice_unexpected_status",
            )  # fmt: skip
        customer = self.customers[invoice["customer"]]
        count = sum(
            1 for i in self.invoices.values() if i["customer"] == customer["id"] and i["number"]
        )
        invoice["number"] = f"{customer['id'][4:12].upper()}-{count + 1:04d}"
        self.transition(invoice["id"], "open")
        if invoice["amount_due"] == 0:
            self.transition(invoice["id"], "paid")  # nothing to collect
        return JSONResponse(invoice)

    def _to(self, status: str) -> Handler:
        async def move(request: Request, _params: dict[str, Any]) -> JSONResponse:
            invoice = self.invoices.get(request.path_params["id"])
            if invoice is None:
                return _no_such("invoice", request.path_params["id"])
            if status not in _NEXT[invoice["status"]]:
                return error(
                    400, "invalid_request_error",
                    f"Invoice {invoice['id']} is {invoice['status']}; it cannot become {status}.",
                    code="invoice_unexpected_status",
                )  # fmt: skip
            self.transition(invoice["id"], status)
            return JSONResponse(invoice)

        return move

    # -- state changes and their events ------------------------------------------------------

    @staticmethod
    def _total(invoice: dict[str, Any]) -> None:
        total = sum(int(line["amount"]) for line in invoice["lines"]["data"])
        invoice.update(subtotal=total, total=total, amount_due=max(total, 0))
        invoice["amount_remaining"] = invoice["amount_due"] - invoice["amount_paid"]

    def _event(self, invoice: dict[str, Any], type_: str) -> dict[str, Any]:
        event = {
            "id": "evt_" + secrets.token_hex(12),
            "object": "event",
            "api_version": "2024-06-20",
            "created": int(time.time()),
            "livemode": False,
            "pending_webhooks": 1,
            "type": type_,
            "data": {"object": dict(invoice)},
        }
        self.events.append(event)
        return event

    def transition(self, invoice_id: str, status: str) -> dict[str, Any]:
        """Move an invoice as Stripe would (finalized, paid, voided, marked uncollectible);
        the event it produces (recorded in ``events``, not delivered)."""
        invoice = self.invoices[invoice_id]
        if status not in _NEXT[invoice["status"]]:
            raise ValueError(f"{invoice_id} is {invoice['status']}; it cannot become {status}")
        invoice["status"] = status
        now = int(time.time())
        stamp = {"open": "finalized_at", "paid": "paid_at", "void": "voided_at",
                 "uncollectible": "marked_uncollectible_at"}[status]  # fmt: skip
        invoice["status_transitions"][stamp] = now
        if status == "paid":
            invoice.update(amount_paid=invoice["amount_due"], amount_remaining=0)
            invoice["attempt_count"] += 1 if invoice["amount_due"] else 0
        return self._event(invoice, _EVENT[status])

    def invoice_event(self, invoice_id: str, type_: str) -> dict[str, Any]:
        """A new event of ``type_`` carrying the invoice's current state."""
        return self._event(self.invoices[invoice_id], type_)

    def invoice_for(self, v100_invoice_id: str) -> dict[str, Any]:
        """The Stripe invoice whose metadata names this V100 invoice (exactly one)."""
        (found,) = [
            invoice
            for invoice in self.invoices.values()
            if invoice["metadata"].get("v100_invoice_id") == v100_invoice_id
        ]
        return found

    async def pay_invoice(self, invoice_id: str) -> httpx.Response:
        """The customer's payment succeeds: ``invoice.paid`` is delivered."""
        return await self.deliver(self.transition(invoice_id, "paid"))

    async def fail_invoice_payment(self, invoice_id: str) -> httpx.Response:
        """A payment attempt fails: ``invoice.payment_failed`` is delivered."""
        invoice = self.invoices[invoice_id]
        invoice["attempt_count"] += 1
        return await self.deliver(self._event(invoice, "invoice.payment_failed"))

    async def void_invoice(self, invoice_id: str) -> httpx.Response:
        return await self.deliver(self.transition(invoice_id, "void"))
