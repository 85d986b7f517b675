"""The billing engine's invoice endpoints, ``/v1/invoices``: the list, one invoice as JSON, HTML
or PDF (``GET /v1/invoices/{id}`` negotiates on ``Accept``; ``/{id}.html`` and ``/{id}.pdf``
are links that need no header), with its lines, status and Stripe sync state."""

from __future__ import annotations

import asyncio
from html import escape
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query
from starlette.responses import HTMLResponse, Response

from v100.kit.auth import Principal
from v100.kit.db import InvalidCursorError
from v100.kit.errors import BadRequest, NotFound
from v100.kit.http import Authorized, SessionDep
from v100.services.billing_engine.currencies import format_amount
from v100.services.billing_engine.invoice_pdf import PDF_MEDIA_TYPE, render_pdf
from v100.services.billing_engine.models import Invoice
from v100.services.billing_engine.repository import InvoiceRepository
from v100.services.billing_engine.schemas import InvoiceLineOut, InvoiceOut, InvoicePage

BillingRead = Annotated[Principal, Depends(Authorized("billing:read"))]

__all__ = ["invoices_router", "render_html"]

invoices_router = APIRouter(prefix="/v1/invoices", tags=["invoices"])

_PDF_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {PDF_MEDIA_TYPE: {}, "text/html": {}}}
}


async def _invoice(session: SessionDep, tenant_id: str, invoice_id: str) -> InvoiceOut:
    invoices = InvoiceRepository(session)
    invoice: Invoice | None = await invoices.get(tenant_id, invoice_id)
    if invoice is None:
        raise NotFound("No such invoice.")
    out = InvoiceOut.model_validate(invoice)
    out.lines = [
        InvoiceLineOut.model_validate(line) for line in await invoices.lines(tenant_id, invoice.id)
    ]
    return out


async def _pdf(invoice: InvoiceOut) -> Response:
    # fpdf2 is pure Python and CPU-bound: a thread keeps the event loop serving.
    content = await asyncio.to_thread(render_pdf, invoice)
    disposition = f'inline; filename="invoice-{invoice.id}.pdf"'
    return Response(
        content, media_type=PDF_MEDIA_TYPE, headers={"Content-Disposition": disposition}
    )


def _preferred(accept: str | None) -> str:
    """The first of JSON, PDF or HTML the ``Accept`` header prefers (q-values honoured)."""
    best, best_q = "application/json", 0.0
    for position, part in enumerate((accept or "").split(",")):
        media, *params = (piece.strip() for piece in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        q -= position * 1e-6  # on a tie, the earlier one wins
        if media.lower() in ("application/json", PDF_MEDIA_TYPE, "text/html") and q > best_q:
            best, best_q = media.lower(), q
    return best


@invoices_router.get("")
async def list_invoices(
    principal: BillingRead,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> InvoicePage:
    """List the tenant's invoices, newest first (without their lines)."""
    try:
        page = await InvoiceRepository(session).list(
            principal.tenant_id, limit=limit, cursor=cursor
        )
    except InvalidCursorError as exc:
        raise BadRequest(str(exc)) from None
    return InvoicePage(
        items=[InvoiceOut.model_validate(i) for i in page.items], next_cursor=page.next_cursor
    )


@invoices_router.get("/{invoice_id}.html", response_class=HTMLResponse)
async def invoice_html(
    invoice_id: str, principal: BillingRead, session: SessionDep
) -> HTMLResponse:
    """The invoice as a printable HTML page."""
    invoice = await _invoice(session, principal.tenant_id, invoice_id)
    return HTMLResponse(render_html(invoice))


@invoices_router.get(
    "/{invoice_id}.pdf",
    response_class=Response,
    responses={200: {"content": {PDF_MEDIA_TYPE: {}}, "description": "The PDF."}},
)
async def invoice_pdf(invoice_id: str, principal: BillingRead, session: SessionDep) -> Response:
    """The invoice as a PDF document."""
    return await _pdf(await _invoice(session, principal.tenant_id, invoice_id))


@invoices_router.get("/{invoice_id}", response_model=InvoiceOut, responses=_PDF_RESPONSE)
async def get_invoice(
    invoice_id: str,
    principal: BillingRead,
    session: SessionDep,
    accept: Annotated[str | None, Header()] = None,
) -> InvoiceOut | Response:
    """Read one invoice with its lines (JSON; PDF or HTML by ``Accept``)."""
    invoice = await _invoice(session, principal.tenant_id, invoice_id)
    match _preferred(accept):
        case "application/pdf":
            return await _pdf(invoice)
        case "text/html":
            return HTMLResponse(render_html(invoice))
        case _:
            return invoice


def render_html(invoice: InvoiceOut) -> str:
    """A plain page; every value is escaped (descriptions come from tenant-named plans)."""

    def money(minor: int) -> str:
        return escape(format_amount(minor, invoice.currency))

    rows = "\n".join(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=n>{}</td></tr>".format(
            escape(line.description),
            escape(line.meter_code or ""),
            escape("" if line.quantity is None else str(line.quantity.normalize())),
            escape("" if line.event_count is None else str(line.event_count)),
            money(line.amount),
        )
        for line in invoice.lines
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Invoice {escape(invoice.id)}</title>
<style>body{{font-family:sans-serif}}td,th{{padding:4px 8px}}.n{{text-align:right}}</style>
</head><body>
<h1>Invoice {escape(invoice.id)}</h1>
<p>Plan {escape(invoice.plan_code)} &middot; period {escape(invoice.period_start.isoformat())}
to {escape(invoice.period_end.isoformat())} &middot; status {escape(invoice.status)}</p>
<table><thead><tr><th>Description</th><th>Meter</th><th>Quantity</th><th>Events</th>
<th class=n>Amount</th></tr></thead>
<tbody>
{rows}
</tbody>
<tfoot><tr><th colspan=4>Total</th><th class=n>{money(invoice.total)}</th></tr></tfoot>
</table></body></html>
"""
