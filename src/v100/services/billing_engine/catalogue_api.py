"""The billing engine's catalogue and usage endpoints: ``/v1/plans`` and ``/v1/usage``. Thin:
parse, check the caller's scope, call the service, shape the answer; every POST takes an
optional ``Idempotency-Key`` (a retry gets the first answer back).

The catalogue (plans, meters) is the operator's (``operator:billing``, ADR 0027): tenants read
the published plans. Usage is reported by the platform's services (``service:usage``) for the
tenant their internal token names; a tenant reads its own."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from v100.kit.auth import OPERATOR_TENANT_ID, Principal
from v100.kit.http import Authorized, SessionDep
from v100.kit.idempotency import OptionalIdempotencyKey, idempotent
from v100.services.billing_engine.schemas import (
    EventResult,
    MeterCreate,
    MeterOut,
    PlanCreate,
    PlanOut,
    PlanPage,
    PlanUpdate,
    SummaryGroup,
    UsageBatch,
    UsageBatchResult,
    UsageSummary,
)
from v100.services.billing_engine.service import CatalogueService, UsageService

# Tenants read the published plans; the operator reads its whole catalogue.
CatalogueRead = Annotated[Principal, Depends(Authorized("billing:read", "operator:billing"))]
Operator = Annotated[Principal, Depends(Authorized("operator:billing"))]
UsageRead = Annotated[Principal, Depends(Authorized("usage:read"))]
UsageReport = Annotated[Principal, Depends(Authorized("service:usage"))]

__all__ = ["plans_router", "usage_router"]

Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(max_length=200)]

plans_router = APIRouter(prefix="/v1/plans", tags=["plans"])
usage_router = APIRouter(prefix="/v1/usage", tags=["usage"])


def _operator(principal: Principal) -> bool:
    return principal.has_scope("operator:billing")


@plans_router.post("", status_code=201, response_model=PlanOut)
async def create_plan(
    body: PlanCreate,
    principal: Operator,
    session: SessionDep,
    key: OptionalIdempotencyKey = None,
) -> Response:
    """Create a plan of the operator's catalogue (published unless made as a draft)."""
    plan = CatalogueService(session).create_plan(body)
    return await idempotent(
        session, OPERATOR_TENANT_ID, key, "create_plan", body,
        plan, PlanOut.model_validate, status=201,
    )  # fmt: skip


@plans_router.get("")
async def list_plans(
    principal: CatalogueRead, session: SessionDep, limit: Limit = 50, cursor: Cursor = None
) -> PlanPage:
    """List plans, newest first: the published ones (the operator sees every one)."""
    page = await CatalogueService(session).list_plans(
        limit, cursor, published_only=not _operator(principal)
    )
    return PlanPage(
        items=[PlanOut.model_validate(plan) for plan in page.items], next_cursor=page.next_cursor
    )


@plans_router.get("/{plan_id}")
async def get_plan(plan_id: str, principal: CatalogueRead, session: SessionDep) -> PlanOut:
    """Read one plan."""
    return PlanOut.model_validate(
        await CatalogueService(session).get_plan(plan_id, published_only=not _operator(principal))
    )


@plans_router.patch("/{plan_id}")
async def update_plan(
    plan_id: str, body: PlanUpdate, principal: Operator, session: SessionDep
) -> PlanOut:
    """Rename, publish or archive a plan (archived: closed to new subscriptions and changes;
    the subscriptions on it carry on)."""
    return PlanOut.model_validate(await CatalogueService(session).update_plan(plan_id, body))


@usage_router.post("/meters", status_code=201, response_model=MeterOut)
async def create_meter(
    body: MeterCreate,
    principal: Operator,
    session: SessionDep,
    key: OptionalIdempotencyKey = None,
) -> Response:
    """Create a meter: how usage events of one code add up."""
    meter = CatalogueService(session).create_meter(body)
    return await idempotent(
        session, OPERATOR_TENANT_ID, key, "create_meter", body,
        meter, MeterOut.model_validate, status=201,
    )  # fmt: skip


def _usage_batch(results: list[EventResult]) -> UsageBatchResult:
    return UsageBatchResult(
        accepted=sum(r.status == "accepted" for r in results),
        duplicates=sum(r.status == "duplicate" for r in results),
        rejected=sum(r.status == "rejected" for r in results),
        results=results,
    )


@usage_router.post("/events", response_model=UsageBatchResult)
async def ingest_events(
    body: UsageBatch,
    principal: UsageReport,
    session: SessionDep,
    key: OptionalIdempotencyKey = None,
) -> Response:
    """Report usage events for the tenant the service acts for; each is accepted, a duplicate
    (its id was seen before) or rejected."""
    results = UsageService(session).ingest(principal.tenant_id, body.events)
    # With a key, a retried batch gets the first answer back (its ids are deduplicated anyway).
    return await idempotent(
        session, principal.tenant_id, key, "usage_events", body, results, _usage_batch
    )


@usage_router.get("/meters/{code}/summary", response_model_by_alias=True)
async def meter_summary(
    code: str,
    principal: UsageRead,
    session: SessionDep,
    start: Annotated[datetime, Query(alias="from")],
    end: Annotated[datetime, Query(alias="to")],
    group_by: Annotated[str | None, Query(max_length=64)] = None,
) -> UsageSummary:
    """A meter's aggregation over ``[from, to)``, optionally per group."""
    meter, aggregates = await UsageService(session).summary(
        principal.tenant_id, code, start, end, group_by
    )
    return UsageSummary(
        meter=meter.code,
        aggregation=meter.aggregation,
        from_=start,
        to=end,
        group_by=group_by,
        groups=[
            SummaryGroup(group=a.group, value=a.value, event_count=a.event_count)
            for a in aggregates
        ],
    )
