"""billing's credit endpoints under ``/v1/credits``: holds (reserve, capture, release),
deductions, the balance, the transaction history and the audit log (JSON pages or streamed
CSV). Thin: parse, call ``CreditService``, shape the answer; every POST is idempotent."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import timedelta
from functools import partial
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime, BaseModel
from starlette.responses import JSONResponse, Response

from v100.kit.auth import OPERATOR_TENANT_ID, Principal
from v100.kit.db import InvalidCursorError, utcnow
from v100.kit.errors import BackendUnavailable, BadRequest, ValidationFailed
from v100.kit.http import Authorized, RuntimeDep
from v100.kit.idempotency import IdempotencyKey, fingerprint, idempotent
from v100.services.billing.batching import DeductionCall
from v100.services.billing.deps import CreditsDep, DeductionsDep
from v100.services.billing.export import csv_requested, stream_csv
from v100.services.billing.repository import AuditRepository, HistoryFilter, JournalRepository
from v100.services.billing.schemas import (
    AuditOut,
    AuditPage,
    BalanceOut,
    CaptureRequest,
    DeductionOut,
    DeductionRequest,
    GrantOut,
    GrantRequest,
    HoldOut,
    HoldRequest,
    TransactionOut,
    TransactionPage,
)
from v100.services.billing.service import CreditService

CreditsRead = Annotated[Principal, Depends(Authorized("credits:read"))]
ServiceCredits = Annotated[Principal, Depends(Authorized("service:credits"))]
Operator = Annotated[Principal, Depends(Authorized("operator:billing"))]

__all__ = ["actor_of", "credits_router", "idempotent_under_lock"]

credits_router = APIRouter(prefix="/v1/credits", tags=["credits"])

T = TypeVar("T")
Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(max_length=200)]


def actor_of(principal: Principal) -> str:
    if principal.api_key_id:
        return f"api_key:{principal.api_key_id}"
    if principal.user_id:
        return f"user:{principal.user_id}"
    return "service"


async def idempotent_under_lock(
    credits: CreditService,
    principal: Principal,
    key: str,
    operation: str,
    payload: BaseModel | None,
    work: Coroutine[Any, Any, T],
    answer: Callable[[T], BaseModel],
    *,
    status: int = 200,
    tenant_id: str | None = None,
) -> JSONResponse:
    """``kit.idempotency.idempotent`` under the tenant's ledger lock, taken first: the stored
    answer is read after it (a concurrent duplicate waits, then finds it) and no claim row is
    needed. ``tenant_id``: the tenant acted on, when not the caller's (the operator's grants)."""
    tenant_id = tenant_id or principal.tenant_id
    lock = partial(credits.open, tenant_id, actor=actor_of(principal))
    return await idempotent(
        credits.session, tenant_id, key, operation, payload, work, answer,
        status=status, lock=lock,
    )  # fmt: skip


@credits_router.post("/holds", status_code=201, response_model=HoldOut)
async def reserve(
    body: HoldRequest, key: IdempotencyKey, principal: ServiceCredits, credits: CreditsDep
) -> Response:
    """Reserve credits before work (a hold)."""
    expires_at = body.expires_at
    if expires_at is None and body.expires_in_seconds is not None:
        expires_at = utcnow() + timedelta(seconds=body.expires_in_seconds)
    hold = credits.reserve(
        principal.tenant_id,
        body.amount,
        reason=body.reason,
        reference=body.reference,
        expires_at=expires_at,
        actor=actor_of(principal),
    )
    return await idempotent_under_lock(
        credits, principal, key, "reserve", body, hold, HoldOut.model_validate, status=201
    )


@credits_router.post("/grants", status_code=201, response_model=GrantOut)
async def grant(
    body: GrantRequest, key: IdempotencyKey, principal: Operator, credits: CreditsDep
) -> Response:
    """The operator grants a tenant credits (tenants buy theirs through checkout)."""

    if body.expires_at is not None and body.expires_at <= utcnow():
        raise ValidationFailed("expires_at must be in the future.")
    if body.tenant_id == OPERATOR_TENANT_ID:
        raise ValidationFailed("tenant_id names the operator, not a tenant.")
    created = credits.grant(
        body.tenant_id,
        body.amount,
        category=body.category,
        priority=body.priority,
        expires_at=body.expires_at,
        source="operator",
        reference=body.reference,
        actor=actor_of(principal),
    )
    return await idempotent_under_lock(
        credits, principal, key, "grant", body, created, GrantOut.model_validate,
        status=201, tenant_id=body.tenant_id,
    )  # fmt: skip


@credits_router.get("/holds/{hold_id}", response_model=HoldOut)
async def get_hold(hold_id: str, principal: ServiceCredits, credits: CreditsDep) -> HoldOut:
    """One hold."""
    return HoldOut.model_validate(await credits.get_hold(principal.tenant_id, hold_id))


@credits_router.post("/holds/{hold_id}/capture", response_model=HoldOut)
async def capture(
    hold_id: str,
    body: CaptureRequest,
    key: IdempotencyKey,
    principal: ServiceCredits,
    credits: CreditsDep,
) -> Response:
    """Charge the actual amount of a hold (at most the amount held) and return the rest."""
    hold = credits.capture(principal.tenant_id, hold_id, body.amount, actor=actor_of(principal))
    operation = f"capture:{hold_id}"
    return await idempotent_under_lock(
        credits, principal, key, operation, body, hold, HoldOut.model_validate
    )


@credits_router.post("/holds/{hold_id}/release", response_model=HoldOut)
async def release(
    hold_id: str, key: IdempotencyKey, principal: ServiceCredits, credits: CreditsDep
) -> Response:
    """Give a hold's credits back."""
    hold = credits.release(principal.tenant_id, hold_id, actor=actor_of(principal))
    operation = f"release:{hold_id}"
    return await idempotent_under_lock(
        credits, principal, key, operation, None, hold, HoldOut.model_validate
    )


@credits_router.post("/deductions", status_code=201, response_model=DeductionOut)
async def deduct(
    body: DeductionRequest,
    key: IdempotencyKey,
    principal: ServiceCredits,
    runtime: RuntimeDep,
    batcher: DeductionsDep,
) -> Response:
    """Charge credits at once."""
    if not runtime.migrated.is_set():
        raise BackendUnavailable("The database is not ready yet.", retry_after=1)
    call = DeductionCall(
        tenant_id=principal.tenant_id,
        key=key,
        fingerprint=fingerprint("deduct", body.model_dump(mode="json")),
        amount=body.amount,
        reason=body.reason,
        reference=body.reference,
        actor=actor_of(principal),
    )
    answer, replayed = await batcher.deduct(call)
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return JSONResponse(answer.body, status_code=answer.status_code, headers=headers)


@credits_router.get("/balance", response_model=BalanceOut)
async def balance(principal: CreditsRead, credits: CreditsDep) -> BalanceOut:
    """Available and held credits, by category, with the grants still holding credits."""
    result = await credits.balance(principal.tenant_id)
    return BalanceOut(
        available=result.available,
        held=result.held,
        by_category=result.by_category,
        grants=[GrantOut.model_validate(grant) for grant in result.grants],
    )


async def _filters(
    since: Annotated[AwareDatetime | None, Query()] = None,
    until: Annotated[AwareDatetime | None, Query()] = None,
    kind: Annotated[list[str] | None, Query(max_length=20)] = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    reference: Annotated[str | None, Query(max_length=200)] = None,
) -> HistoryFilter:
    return HistoryFilter(since, until, tuple(kind or ()), actor, reference)


FilterDep = Annotated[HistoryFilter, Depends(_filters)]
FormatQuery = Annotated[str | None, Query(alias="format", pattern="^(json|csv)$")]

_TRANSACTION_COLUMNS = list(TransactionOut.model_fields)
_AUDIT_COLUMNS = list(AuditOut.model_fields)


@credits_router.get(
    "/transactions",
    response_model=TransactionPage,
    responses={200: {"content": {"text/csv": {}}}},
)
async def transactions(
    request: Request,
    principal: CreditsRead,
    credits: CreditsDep,
    runtime: RuntimeDep,
    filters: FilterDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    format: FormatQuery = None,
) -> Any:
    """The ledger's movements of the caller's credits, newest first (JSON pages or CSV)."""
    await credits.open(principal.tenant_id)
    if csv_requested(request, format):
        return stream_csv(
            runtime,
            "transactions.csv",
            _TRANSACTION_COLUMNS,
            lambda session, c: JournalRepository(session).page(
                principal.tenant_id, filters, limit=200, cursor=c
            ),
            TransactionOut,
        )
    try:
        page = await JournalRepository(credits.session).page(
            principal.tenant_id, filters, limit=limit, cursor=cursor
        )
    except InvalidCursorError as exc:
        raise BadRequest("Malformed cursor.") from exc
    return TransactionPage(
        items=[TransactionOut.model_validate(e) for e in page.items],
        next_cursor=page.next_cursor,
    )


@credits_router.get(
    "/audit", response_model=AuditPage, responses={200: {"content": {"text/csv": {}}}}
)
async def audit(
    request: Request,
    principal: CreditsRead,
    credits: CreditsDep,
    runtime: RuntimeDep,
    filters: FilterDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    format: FormatQuery = None,
) -> Any:
    """Who did what to the caller's credits, newest first; ``kind`` filters by action."""
    if csv_requested(request, format):
        return stream_csv(
            runtime,
            "audit.csv",
            _AUDIT_COLUMNS,
            lambda session, c: AuditRepository(session).page(
                principal.tenant_id, filters, limit=200, cursor=c
            ),
            AuditOut,
        )
    try:
        page = await AuditRepository(credits.session).page(
            principal.tenant_id, filters, limit=limit, cursor=cursor
        )
    except InvalidCursorError as exc:
        raise BadRequest("Malformed cursor.") from exc
    return AuditPage(
        items=[AuditOut.model_validate(e) for e in page.items], next_cursor=page.next_cursor
    )
