"""The billing engine's subscription and invoice endpoints: ``/v1/subscriptions`` (including the
internal ``current/tier`` the gateway reads), ``/v1/invoices`` (JSON and HTML) and
``/v1/revenue-shares`` with their payout statements."""

from __future__ import annotations

from html import escape
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import HTMLResponse

from v100.kit.db import InvalidCursorError
from v100.kit.errors import BadRequest, NotFound
from v100.kit.http import PrincipalDep, SessionDep
from v100.services.billing_engine.currencies import format_amount
from v100.services.billing_engine.models import Invoice, Plan, Subscription
from v100.services.billing_engine.repository import InvoiceRepository
from v100.services.billing_engine.revenue import RevenueShareService
from v100.services.billing_engine.schemas import (
    InvoiceLineOut,
    InvoiceOut,
    InvoicePage,
    PayoutStatement,
    PlanChange,
    PlanChanged,
    ProrationOut,
    RevenueShareCreate,
    RevenueShareOut,
    StatementEntryOut,
    SubscriptionCreate,
    SubscriptionOut,
    TierOut,
)
from v100.services.billing_engine.subscriptions import SubscriptionService

__all__ = ["invoices_router", "revenue_shares_router", "subscriptions_router"]

subscriptions_router = APIRouter(prefix="/v1/subscriptions", tags=["subscriptions"])
invoices_router = APIRouter(prefix="/v1/invoices", tags=["invoices"])


def _subscription(subscription: Subscription, plan: Plan) -> SubscriptionOut:
    return SubscriptionOut(
        id=subscription.id,
        plan=plan.code,
        tier=plan.tier,
        status=subscription.status,
        period_start=subscription.period_start,
        period_end=subscription.period_end,
        trial_end=subscription.trial_end,
        cancel_at_period_end=subscription.cancel_at_period_end,
        canceled_at=subscription.canceled_at,
    )


@subscriptions_router.post("", status_code=201)
async def create_subscription(
    body: SubscriptionCreate, principal: PrincipalDep, session: SessionDep
) -> SubscriptionOut:
    """Subscribe the tenant to a plan (its trial first, when the plan has one)."""
    principal.require_scope("billing:write")
    return _subscription(
        *await SubscriptionService(session).create(principal.tenant_id, body.plan, body.start)
    )


@subscriptions_router.get("/current")
async def current_subscription(principal: PrincipalDep, session: SessionDep) -> SubscriptionOut:
    """The tenant's live subscription."""
    principal.require_scope("billing:read")
    return _subscription(*await SubscriptionService(session).current(principal.tenant_id))


@subscriptions_router.get("/current/tier")
async def current_tier(principal: PrincipalDep, session: SessionDep) -> TierOut:
    """The tier the tenant's subscription gives it ("free" without one); read by the gateway."""
    service = SubscriptionService(session)
    subscription = await service.subscriptions.current(principal.tenant_id)
    return TierOut(
        tier=await service.tier(principal.tenant_id),
        subscription_id=subscription.id if subscription else None,
    )


@subscriptions_router.post("/current/change")
async def change_plan(
    body: PlanChange, principal: PrincipalDep, session: SessionDep
) -> PlanChanged:
    """Upgrade or downgrade, prorated to the second; the proration waits for the next invoice."""
    principal.require_scope("billing:write")
    subscription, plan, proration = await SubscriptionService(session).change_plan(
        principal.tenant_id, body.plan, body.proration_date
    )
    return PlanChanged(
        subscription=_subscription(subscription, plan),
        proration=ProrationOut(
            credit=proration.credit, charge=proration.charge, fraction=proration.fraction
        )
        if proration
        else None,
    )


@subscriptions_router.post("/current/cancel")
async def cancel_subscription(principal: PrincipalDep, session: SessionDep) -> SubscriptionOut:
    """Cancel at the end of the current period (which is still invoiced)."""
    principal.require_scope("billing:write")
    service = SubscriptionService(session)
    return _subscription(*await service.cancel_at_period_end(principal.tenant_id))


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


@invoices_router.get("")
async def list_invoices(
    principal: PrincipalDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> InvoicePage:
    """List the tenant's invoices, newest first (without their lines)."""
    principal.require_scope("billing:read")
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
    invoice_id: str, principal: PrincipalDep, session: SessionDep
) -> HTMLResponse:
    """The invoice as a printable HTML page."""
    principal.require_scope("billing:read")
    invoice = await _invoice(session, principal.tenant_id, invoice_id)
    return HTMLResponse(render_html(invoice))


@invoices_router.get("/{invoice_id}")
async def get_invoice(invoice_id: str, principal: PrincipalDep, session: SessionDep) -> InvoiceOut:
    """Read one invoice with its lines."""
    principal.require_scope("billing:read")
    return await _invoice(session, principal.tenant_id, invoice_id)


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


revenue_shares_router = APIRouter(prefix="/v1/revenue-shares", tags=["revenue shares"])


@revenue_shares_router.post("", status_code=201)
async def create_revenue_share(
    body: RevenueShareCreate, principal: PrincipalDep, session: SessionDep
) -> RevenueShareOut:
    """Split future invoices with a partner (percent, or a fixed amount per event)."""
    principal.require_scope("billing:write")
    share = await RevenueShareService(session).create(principal.tenant_id, body)
    return RevenueShareOut.model_validate(share)


@revenue_shares_router.get("/{share_id}/statements")
async def revenue_share_statement(
    share_id: str, principal: PrincipalDep, session: SessionDep
) -> PayoutStatement:
    """The partner's payout statement: one entry per invoice, and totals per currency."""
    principal.require_scope("billing:read")
    share, entries = await RevenueShareService(session).statement(principal.tenant_id, share_id)
    totals: dict[str, int] = {}
    for entry in entries:
        totals[entry.currency] = totals.get(entry.currency, 0) + entry.amount
    return PayoutStatement(
        revenue_share=RevenueShareOut.model_validate(share),
        entries=[StatementEntryOut.model_validate(e) for e in entries],
        totals=totals,
    )
