"""The CRM under ``/v1/crm``: authorizations (the vendor's authorize URL) and the OAuth callback
(public: the ``state`` is its credential), connections, sync on demand, contacts, activities and
the sync log. Thin: parse, authorize, call ``CrmService``, shape."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel
from starlette.responses import JSONResponse

from v100.kit.auth import Principal
from v100.kit.db import InvalidCursorError, Page, session_hooks
from v100.kit.errors import BadRequest
from v100.kit.http import VENDOR_NOT_CONFIGURED, Authorized, SessionDep
from v100.kit.idempotency import IdempotencyKey, OptionalIdempotencyKey, idempotent
from v100.services.integration.crm.connectors import CALLBACK_PATH
from v100.services.integration.crm.deps import CrmServiceDep, SessionsDep, SyncLoopDep
from v100.services.integration.crm.errors import OAuthStateInvalid
from v100.services.integration.crm.models import (
    CrmActivity,
    CrmConnection,
    CrmContact,
    CrmSyncDecision,
)
from v100.services.integration.crm.schemas import (
    ActivityOut,
    ActivityPage,
    AuthorizationCreate,
    AuthorizationOut,
    ConnectionOut,
    ConnectionPage,
    ConnectionUpdate,
    ContactCreate,
    ContactOut,
    ContactPage,
    ContactUpdate,
    DecisionOut,
    DecisionPage,
)

__all__ = ["CALLBACK_PATH", "crm_router"]

CrmRead = Annotated[Principal, Depends(Authorized("crm:read"))]
CrmWrite = Annotated[Principal, Depends(Authorized("crm:write"))]

crm_router = APIRouter(prefix="/v1/crm", tags=["crm"])

Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(max_length=200)]
T = TypeVar("T")
_UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    502: {"description": "The CRM did not answer (problem+json)."}
}


async def _paged(fetch: Awaitable[Page[T]]) -> Page[T]:
    try:
        return await fetch
    except InvalidCursorError:
        raise BadRequest("The cursor is not valid.") from None


def _connection(connection: CrmConnection) -> ConnectionOut:
    return ConnectionOut.model_validate(connection, from_attributes=True)


def _contact(contact: CrmContact) -> ContactOut:
    return ContactOut.model_validate(contact, from_attributes=True)


def _activity(activity: CrmActivity) -> ActivityOut:
    return ActivityOut.model_validate(activity, from_attributes=True)


def _decision(decision: CrmSyncDecision) -> DecisionOut:
    return DecisionOut.model_validate(decision, from_attributes=True)


# -- authorization -------------------------------------------------------------------------------


@crm_router.post(
    "/authorizations", status_code=201, response_model=AuthorizationOut,
    responses=VENDOR_NOT_CONFIGURED,
)  # fmt: skip
async def create_authorization(
    body: AuthorizationCreate,
    principal: CrmWrite,
    service: CrmServiceDep,
    session: SessionDep,
    key: OptionalIdempotencyKey = None,
) -> JSONResponse:
    """Start connecting a CRM: the vendor's authorize URL, with a single-use ``state``."""

    async def work() -> tuple[str, str]:
        url, expires_at = await service.authorize(
            session, principal.tenant_id, body.vendor, body.activity_event_types
        )
        return url, expires_at.isoformat()

    def shaped(made: tuple[str, str]) -> BaseModel:
        return AuthorizationOut.model_validate(
            {"vendor": body.vendor, "authorize_url": made[0], "expires_at": made[1]}
        )

    return await idempotent(
        session, principal.tenant_id, key, "crm_authorize", body, work(), shaped, status=201
    )


@crm_router.get(
    "/oauth/callback", response_model=ConnectionOut,
    responses={**VENDOR_NOT_CONFIGURED, **_UNAVAILABLE},
)  # fmt: skip
async def oauth_callback(
    service: CrmServiceDep,
    sessions: SessionsDep,
    loop: SyncLoopDep,
    state: Annotated[str | None, Query(max_length=200)] = None,
    code: Annotated[str | None, Query(max_length=2000)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> ConnectionOut:
    """Where the CRM sends the browser back: the ``state`` alone authenticates it."""
    if not state:
        raise OAuthStateInvalid("The callback carries no state.")
    connection = await service.complete(sessions, state, code, error)
    loop.wake()
    return _connection(connection)


# -- connections ---------------------------------------------------------------------------------


@crm_router.get("/connections", response_model=ConnectionPage)
async def list_connections(
    principal: CrmRead, service: CrmServiceDep, session: SessionDep, limit: Limit = 50,
    cursor: Cursor = None,
) -> ConnectionPage:  # fmt: skip
    """The tenant's CRM connections, newest first."""
    page = await _paged(
        service.connections(session, principal.tenant_id, limit=limit, cursor=cursor)
    )
    return ConnectionPage(items=[_connection(c) for c in page.items], next_cursor=page.next_cursor)


@crm_router.get("/connections/{connection_id}", response_model=ConnectionOut)
async def get_connection(
    connection_id: str, principal: CrmRead, service: CrmServiceDep, session: SessionDep
) -> ConnectionOut:
    """One CRM connection and where its sync stands (never its tokens)."""
    return _connection(await service.connection(session, principal.tenant_id, connection_id))


@crm_router.patch("/connections/{connection_id}", response_model=ConnectionOut)
async def update_connection(
    connection_id: str, body: ConnectionUpdate, principal: CrmWrite, service: CrmServiceDep,
    session: SessionDep,
) -> ConnectionOut:  # fmt: skip
    """Change which events become activities, or pause the sync."""
    changes = body.model_dump(exclude_unset=True)
    connection = await service.update_connection(
        session, principal.tenant_id, connection_id, changes
    )
    return _connection(connection)


@crm_router.delete("/connections/{connection_id}", status_code=204)
async def delete_connection(
    connection_id: str, principal: CrmWrite, service: CrmServiceDep, session: SessionDep
) -> Response:
    """Disconnect: the tokens and what V100 synced are forgotten; the CRM keeps its records."""
    await service.delete_connection(session, principal.tenant_id, connection_id)
    return Response(status_code=204)


@crm_router.post("/connections/{connection_id}/sync", status_code=202, response_model=ConnectionOut)
async def sync_connection(
    connection_id: str, principal: CrmWrite, service: CrmServiceDep, session: SessionDep,
    loop: SyncLoopDep,
) -> ConnectionOut:  # fmt: skip
    """Sync now (``sync_status``: queued -> running -> idle | rate_limited | failed)."""
    connection = await service.request_sync(session, principal.tenant_id, connection_id)
    session_hooks(session).after_commit(loop.wake)
    return _connection(connection)


# -- contacts ------------------------------------------------------------------------------------


@crm_router.get("/connections/{connection_id}/contacts", response_model=ContactPage)
async def list_contacts(
    connection_id: str, principal: CrmRead, service: CrmServiceDep, session: SessionDep,
    limit: Limit = 50, cursor: Cursor = None,
    email: Annotated[str | None, Query(max_length=320)] = None,
) -> ContactPage:  # fmt: skip
    """The connection's contacts as V100 keeps them, newest first."""
    page = await _paged(service.contacts(
        session, principal.tenant_id, connection_id, email=email and email.lower(), limit=limit,
        cursor=cursor,
    ))  # fmt: skip
    return ContactPage(items=[_contact(c) for c in page.items], next_cursor=page.next_cursor)


@crm_router.post(
    "/connections/{connection_id}/contacts", status_code=201, response_model=ContactOut
)
async def create_contact(
    connection_id: str, body: ContactCreate, key: IdempotencyKey, principal: CrmWrite,
    service: CrmServiceDep, session: SessionDep, loop: SyncLoopDep,
) -> JSONResponse:  # fmt: skip
    """A contact made in V100, pushed to the CRM by a sync that starts at once."""
    work = service.create_contact(session, principal.tenant_id, connection_id, body.model_dump())
    session_hooks(session).after_commit(loop.wake)
    return await idempotent(
        session, principal.tenant_id, key, f"crm_contact:{connection_id}", body, work, _contact,
        status=201,
    )  # fmt: skip


@crm_router.get("/contacts/{contact_id}", response_model=ContactOut)
async def get_contact(
    contact_id: str, principal: CrmRead, service: CrmServiceDep, session: SessionDep
) -> ContactOut:
    """One contact."""
    return _contact(await service.contact(session, principal.tenant_id, contact_id))


@crm_router.patch("/contacts/{contact_id}", response_model=ContactOut)
async def update_contact(
    contact_id: str, body: ContactUpdate, principal: CrmWrite, service: CrmServiceDep,
    session: SessionDep, loop: SyncLoopDep,
) -> ContactOut:  # fmt: skip
    """Change a contact in V100; the change is pushed to the CRM (later change wins)."""
    changes = body.model_dump(exclude_unset=True)
    contact = await service.update_contact(session, principal.tenant_id, contact_id, changes)
    session_hooks(session).after_commit(loop.wake)
    return _contact(contact)


# -- logs ----------------------------------------------------------------------------------------

DecisionKind = Literal["pulled", "pushed", "conflict", "activity", "skipped", "failed",
                       "rate_limited"]  # fmt: skip


@crm_router.get("/connections/{connection_id}/sync-log", response_model=DecisionPage)
async def list_decisions(
    connection_id: str, principal: CrmRead, service: CrmServiceDep, session: SessionDep,
    limit: Limit = 50, cursor: Cursor = None,
    contact_id: Annotated[str | None, Query(max_length=36)] = None,
    kind: DecisionKind | None = None,
) -> DecisionPage:  # fmt: skip
    """Every decision the sync took (pulled, pushed, conflicts and who won), newest first."""
    page = await _paged(service.decisions(
        session, principal.tenant_id, connection_id, contact_id=contact_id, kind=kind,
        limit=limit, cursor=cursor,
    ))  # fmt: skip
    return DecisionPage(items=[_decision(d) for d in page.items], next_cursor=page.next_cursor)


@crm_router.get("/connections/{connection_id}/activities", response_model=ActivityPage)
async def list_activities(
    connection_id: str, principal: CrmRead, service: CrmServiceDep, session: SessionDep,
    limit: Limit = 50, cursor: Cursor = None,
    status: Literal["pending", "logged", "skipped", "failed"] | None = None,
) -> ActivityPage:  # fmt: skip
    """Platform events logged (or to log) as activities in the CRM, newest first."""
    page = await _paged(service.activities(
        session, principal.tenant_id, connection_id, status=status, limit=limit, cursor=cursor
    ))  # fmt: skip
    return ActivityPage(items=[_activity(a) for a in page.items], next_cursor=page.next_cursor)
