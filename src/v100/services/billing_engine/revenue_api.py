"""The operator's revenue-share agreements, ``/v1/revenue-shares``: a partner's split of one
tenant's future invoices, and the partner's payout statement."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.responses import Response

from v100.kit.auth import OPERATOR_TENANT_ID, Principal
from v100.kit.http import Authorized, SessionDep
from v100.kit.idempotency import OptionalIdempotencyKey, idempotent
from v100.services.billing_engine.revenue import RevenueShareService
from v100.services.billing_engine.schemas import (
    PayoutStatement,
    RevenueShareCreate,
    RevenueShareOut,
    StatementEntryOut,
)

Operator = Annotated[Principal, Depends(Authorized("operator:billing"))]

__all__ = ["revenue_shares_router"]

revenue_shares_router = APIRouter(prefix="/v1/revenue-shares", tags=["revenue shares"])


@revenue_shares_router.post("", status_code=201, response_model=RevenueShareOut)
async def create_revenue_share(
    body: RevenueShareCreate,
    principal: Operator,
    session: SessionDep,
    key: OptionalIdempotencyKey = None,
) -> Response:
    """Split a tenant's future invoices with a partner (percent, or a fixed amount per
    event)."""
    share = RevenueShareService(session).create(body)
    return await idempotent(
        session, OPERATOR_TENANT_ID, key, "revenue_share", body,
        share, RevenueShareOut.model_validate, status=201,
    )  # fmt: skip


@revenue_shares_router.get("/{share_id}/statements")
async def revenue_share_statement(
    share_id: str, principal: Operator, session: SessionDep
) -> PayoutStatement:
    """The partner's payout statement: one entry per invoice, and totals per currency."""
    share, entries = await RevenueShareService(session).statement(share_id)
    totals: dict[str, int] = {}
    for entry in entries:
        totals[entry.currency] = totals.get(entry.currency, 0) + entry.amount
    return PayoutStatement(
        revenue_share=RevenueShareOut.model_validate(share),
        entries=[StatementEntryOut.model_validate(e) for e in entries],
        totals=totals,
    )
