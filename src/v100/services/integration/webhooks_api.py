"""integration's webhook endpoints under ``/v1/webhooks``: endpoints (with their secret, test
event, replay and recovery), messages with their deliveries, the attempts log, the dead-letter
list, notifications and the event-type catalogue. Thin: parse, call ``WebhookService``, shape."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Literal, TypeVar

import orjson
from fastapi import APIRouter, Depends, Query, Response
from pydantic import AwareDatetime, BaseModel
from starlette.responses import JSONResponse

from v100.contracts.events import EVENT_CATALOGUE
from v100.kit.auth import Principal
from v100.kit.db import InvalidCursorError, Page
from v100.kit.errors import BadRequest
from v100.kit.http import Authorized, SessionDep
from v100.kit.idempotency import IdempotencyKey, OptionalIdempotencyKey, idempotent
from v100.services.integration.deps import ServiceDep
from v100.services.integration.models import Attempt, Delivery, Endpoint, Message, Notification
from v100.services.integration.schemas import (
    AttemptOut,
    AttemptPage,
    DeadLetterPage,
    DeliveryOut,
    EndpointCreate,
    EndpointCreated,
    EndpointOut,
    EndpointPage,
    EndpointUpdate,
    EventTypeOut,
    EventTypePage,
    MessageOut,
    MessagePage,
    NotificationOut,
    NotificationPage,
    Queued,
    RecoverRequest,
    ReplayRequest,
    SecretOut,
    SecretRotation,
    TestEvent,
)

__all__ = ["PREFIX", "webhooks_router"]

WebhooksRead = Annotated[Principal, Depends(Authorized("webhooks:read"))]
WebhooksWrite = Annotated[Principal, Depends(Authorized("webhooks:write"))]

PREFIX = "/v1/webhooks"
webhooks_router = APIRouter(prefix=PREFIX, tags=["webhooks"])

Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(max_length=200)]
Since = Annotated[AwareDatetime | None, Query()]
Until = Annotated[AwareDatetime | None, Query()]
IdQuery = Annotated[str | None, Query(max_length=36)]
T = TypeVar("T")


async def _paged(fetch: Awaitable[Page[T]]) -> Page[T]:
    try:
        return await fetch
    except InvalidCursorError:
        raise BadRequest("The cursor is not valid.") from None


def _endpoint(endpoint: Endpoint) -> EndpointOut:
    return EndpointOut.model_validate(endpoint, from_attributes=True)


def _delivery(delivery: Delivery) -> DeliveryOut:
    return DeliveryOut.model_validate(delivery, from_attributes=True)


def _queued(queued: int) -> Queued:
    return Queued(queued=queued)


def _message(message: Message, deliveries: list[Delivery] | None = None) -> MessageOut:
    return MessageOut(
        id=message.id,
        event_id=message.event_id,
        event_type=message.event_type,
        source=message.source,
        resource_key=message.resource_key,
        occurred_at=message.occurred_at,
        created_at=message.created_at,
        payload=orjson.loads(message.payload),
        deliveries=None if deliveries is None else [_delivery(d) for d in deliveries],
    )


def _attempt(attempt: Attempt) -> AttemptOut:
    return AttemptOut.model_validate(attempt, from_attributes=True)


def _notification(notification: Notification) -> NotificationOut:
    return NotificationOut.model_validate(notification, from_attributes=True)


# -- endpoints ----------------------------------------------------------------------------------


@webhooks_router.post("/endpoints", status_code=201, response_model=EndpointCreated)
async def create_endpoint(
    body: EndpointCreate,
    key: IdempotencyKey,
    principal: WebhooksWrite,
    service: ServiceDep,
    session: SessionDep,
) -> JSONResponse:
    """Register a webhook endpoint; the answer carries its signing secret."""

    def created(endpoint: Endpoint) -> BaseModel:
        return EndpointCreated(**_endpoint(endpoint).model_dump(), secret=endpoint.secret)

    work = service.create_endpoint(session, principal.tenant_id, body.model_dump())
    return await idempotent(
        session, principal.tenant_id, key, "create_endpoint", body, work, created, status=201
    )


@webhooks_router.get("/endpoints", response_model=EndpointPage)
async def list_endpoints(
    principal: WebhooksRead,
    service: ServiceDep,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> EndpointPage:
    """The tenant's webhook endpoints, newest first."""
    page = await _paged(service.endpoints(session, principal.tenant_id, limit=limit, cursor=cursor))
    return EndpointPage(items=[_endpoint(e) for e in page.items], next_cursor=page.next_cursor)


@webhooks_router.get("/endpoints/{endpoint_id}", response_model=EndpointOut)
async def get_endpoint(
    endpoint_id: str, principal: WebhooksRead, service: ServiceDep, session: SessionDep
) -> EndpointOut:
    """One webhook endpoint."""
    return _endpoint(await service.endpoint(session, principal.tenant_id, endpoint_id))


@webhooks_router.patch("/endpoints/{endpoint_id}", response_model=EndpointOut)
async def update_endpoint(
    endpoint_id: str,
    body: EndpointUpdate,
    principal: WebhooksWrite,
    service: ServiceDep,
    session: SessionDep,
) -> EndpointOut:
    """Change an endpoint; ``enabled: true`` enables a disabled one with a clean record."""
    changes = body.model_dump(exclude_unset=True)
    endpoint = await service.update_endpoint(session, principal.tenant_id, endpoint_id, changes)
    return _endpoint(endpoint)


@webhooks_router.delete("/endpoints/{endpoint_id}", status_code=204)
async def delete_endpoint(
    endpoint_id: str, principal: WebhooksWrite, service: ServiceDep, session: SessionDep
) -> Response:
    """Delete an endpoint; what was waiting for it is dropped, its logs stay."""
    await service.delete_endpoint(session, principal.tenant_id, endpoint_id)
    return Response(status_code=204)


@webhooks_router.get("/endpoints/{endpoint_id}/secret", response_model=SecretOut)
async def get_endpoint_secret(
    endpoint_id: str, principal: WebhooksWrite, service: ServiceDep, session: SessionDep
) -> SecretOut:
    """The endpoint's signing secret (``webhooks:write``: it lets one forge deliveries)."""
    endpoint = await service.endpoint(session, principal.tenant_id, endpoint_id)
    return SecretOut(key=endpoint.secret, previous_expires_at=endpoint.previous_secret_expires_at)


@webhooks_router.post("/endpoints/{endpoint_id}/secret/rotate", response_model=SecretOut)
async def rotate_endpoint_secret(
    endpoint_id: str,
    principal: WebhooksWrite,
    service: ServiceDep,
    session: SessionDep,
    key: OptionalIdempotencyKey = None,
    body: SecretRotation | None = None,
) -> JSONResponse:
    """A new secret; the old one keeps signing beside it for the overlap window."""
    body = body or SecretRotation()

    def secret(endpoint: Endpoint) -> BaseModel:
        return SecretOut(
            key=endpoint.secret, previous_expires_at=endpoint.previous_secret_expires_at
        )

    work = service.rotate_secret(session, principal.tenant_id, endpoint_id, body.overlap_seconds)
    operation = f"rotate_secret:{endpoint_id}"
    return await idempotent(session, principal.tenant_id, key, operation, body, work, secret)


@webhooks_router.post("/endpoints/{endpoint_id}/test", status_code=202, response_model=MessageOut)
async def send_test_event(
    endpoint_id: str,
    key: IdempotencyKey,
    principal: WebhooksWrite,
    service: ServiceDep,
    session: SessionDep,
    body: TestEvent | None = None,
) -> JSONResponse:
    """Send a test event to this endpoint (``webhook.test`` unless another type is named)."""
    body = body or TestEvent()

    async def sent(message: Message) -> BaseModel:
        deliveries = await service.deliveries_of(session, principal.tenant_id, message.id)
        return _message(message, deliveries)

    work = service.send_test(session, principal.tenant_id, endpoint_id, body.event_type)
    operation = f"send_test_event:{endpoint_id}"
    return await idempotent(
        session, principal.tenant_id, key, operation, body, work, sent, status=202
    )


@webhooks_router.post("/endpoints/{endpoint_id}/replay", status_code=202, response_model=Queued)
async def replay_endpoint_range(
    endpoint_id: str,
    body: ReplayRequest,
    principal: WebhooksWrite,
    service: ServiceDep,
    session: SessionDep,
    key: OptionalIdempotencyKey = None,
) -> JSONResponse:
    """Send every message of a time range that the endpoint's filters match again."""

    work = service.replay_range(session, principal.tenant_id, endpoint_id, body.since, body.until)
    operation = f"replay_range:{endpoint_id}"
    return await idempotent(
        session, principal.tenant_id, key, operation, body, work, _queued, status=202
    )


@webhooks_router.post("/endpoints/{endpoint_id}/recover", status_code=202, response_model=Queued)
async def recover_endpoint(
    endpoint_id: str,
    body: RecoverRequest,
    principal: WebhooksWrite,
    service: ServiceDep,
    session: SessionDep,
    key: OptionalIdempotencyKey = None,
) -> JSONResponse:
    """Send again every delivery to this endpoint that failed since a time (dead letters)."""

    work = service.recover(session, principal.tenant_id, endpoint_id, body.since, body.until)
    operation = f"recover:{endpoint_id}"
    return await idempotent(
        session, principal.tenant_id, key, operation, body, work, _queued, status=202
    )


@webhooks_router.get("/endpoints/{endpoint_id}/attempts", response_model=AttemptPage)
async def list_endpoint_attempts(
    endpoint_id: str,
    principal: WebhooksRead,
    service: ServiceDep,
    session: SessionDep,
    outcome: Literal["succeeded", "failed"] | None = None,
    status_code: Annotated[int | None, Query(ge=100, le=599)] = None,
    event_type: Annotated[str | None, Query(max_length=200)] = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> AttemptPage:
    """The attempts log of one endpoint, newest first."""
    page = await _paged(
        service.attempts(
            session, principal.tenant_id, endpoint_id=endpoint_id, outcome=outcome,
            status_code=status_code, event_type=event_type, since=since, until=until,
            limit=limit, cursor=cursor,
        )
    )  # fmt: skip
    return AttemptPage(items=[_attempt(a) for a in page.items], next_cursor=page.next_cursor)


# -- messages -----------------------------------------------------------------------------------


@webhooks_router.get("/messages", response_model=MessagePage)
async def list_messages(
    principal: WebhooksRead,
    service: ServiceDep,
    session: SessionDep,
    event_type: Annotated[list[str] | None, Query(max_length=20)] = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> MessagePage:
    """The tenant's messages (every event received), newest first."""
    page = await _paged(
        service.messages(
            session, principal.tenant_id, event_types=event_type or [], since=since,
            until=until, limit=limit, cursor=cursor,
        )
    )  # fmt: skip
    return MessagePage(items=[_message(m) for m in page.items], next_cursor=page.next_cursor)


@webhooks_router.get("/messages/{message_id}", response_model=MessageOut)
async def get_message(
    message_id: str, principal: WebhooksRead, service: ServiceDep, session: SessionDep
) -> MessageOut:
    """One message, with where its delivery to each endpoint stands."""
    message = await service.message(session, principal.tenant_id, message_id)
    return _message(message, await service.deliveries_of(session, principal.tenant_id, message.id))


@webhooks_router.get("/messages/{message_id}/attempts", response_model=AttemptPage)
async def list_message_attempts(
    message_id: str,
    principal: WebhooksRead,
    service: ServiceDep,
    session: SessionDep,
    endpoint_id: IdQuery = None,
    outcome: Literal["succeeded", "failed"] | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> AttemptPage:
    """The attempts log of one message, newest first."""
    page = await _paged(
        service.attempts(
            session, principal.tenant_id, message_id=message_id, endpoint_id=endpoint_id,
            outcome=outcome, limit=limit, cursor=cursor,
        )
    )  # fmt: skip
    return AttemptPage(items=[_attempt(a) for a in page.items], next_cursor=page.next_cursor)


@webhooks_router.post("/messages/{message_id}/replay", status_code=202, response_model=Queued)
async def replay_message(
    message_id: str,
    principal: WebhooksWrite,
    service: ServiceDep,
    session: SessionDep,
    endpoint_id: IdQuery = None,
    key: OptionalIdempotencyKey = None,
) -> JSONResponse:
    """Send a message again (same ``webhook-id``), to one endpoint or to all that had it."""

    work = service.replay_message(session, principal.tenant_id, message_id, endpoint_id)
    operation = f"replay_message:{message_id}:{endpoint_id}"
    return await idempotent(
        session, principal.tenant_id, key, operation, None, work, _queued, status=202
    )


# -- dead letters, notifications, the catalogue -------------------------------------------------


@webhooks_router.get("/dead-letters", response_model=DeadLetterPage)
async def list_dead_letters(
    principal: WebhooksRead,
    service: ServiceDep,
    session: SessionDep,
    endpoint_id: IdQuery = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> DeadLetterPage:
    """Deliveries that failed their last attempt (or whose endpoint was disabled)."""
    page = await _paged(
        service.dead_letters(
            session, principal.tenant_id, endpoint_id=endpoint_id, since=since, until=until,
            limit=limit, cursor=cursor,
        )
    )  # fmt: skip
    return DeadLetterPage(items=[_delivery(d) for d in page.items], next_cursor=page.next_cursor)


@webhooks_router.get("/notifications", response_model=NotificationPage)
async def list_notifications(
    principal: WebhooksRead,
    service: ServiceDep,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> NotificationPage:
    """What the tenant's people should hear about (an endpoint disabled), newest first."""
    page = await _paged(
        service.notifications(session, principal.tenant_id, limit=limit, cursor=cursor)
    )
    return NotificationPage(
        items=[_notification(n) for n in page.items], next_cursor=page.next_cursor
    )


_CATALOGUE = [
    EventTypeOut(type=kind.event_type, description=kind.description,
                 data_schema=kind.payload.model_json_schema())
    for kind in EVENT_CATALOGUE.values()
]  # fmt: skip


@webhooks_router.get("/event-types", response_model=EventTypePage)
async def list_event_types(principal: WebhooksRead) -> EventTypePage:
    """Every event type an endpoint can receive, with the JSON Schema of its ``data``."""
    return EventTypePage(items=_CATALOGUE, next_cursor=None)
