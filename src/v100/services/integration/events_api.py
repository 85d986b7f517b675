"""integration's event stream under ``/v1/events-stream``: poll after a cursor, history over a
time range, live subscriptions (Server-Sent Events and WebSocket, resumable from a cursor or
``Last-Event-ID``), and consumer groups (read with a visibility timeout, acknowledge)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Header, Query, Response, WebSocket
from pydantic import AwareDatetime
from starlette.responses import JSONResponse, StreamingResponse
from starlette.websockets import WebSocketDisconnect

from v100.kit.auth import Principal
from v100.kit.db import InvalidCursorError
from v100.kit.errors import BadRequest
from v100.kit.http import Authorized, SessionDep
from v100.kit.idempotency import IdempotencyKey, idempotent
from v100.services.integration.deps import ServiceDep, StreamsDep
from v100.services.integration.filters import PATTERN
from v100.services.integration.models import Message, StreamGroup
from v100.services.integration.schemas import (
    Acked,
    AckRequest,
    GroupCreate,
    GroupEventOut,
    GroupEventPage,
    GroupOut,
    GroupPage,
    GroupRead,
    StreamEventOut,
    StreamEventPage,
)

__all__ = ["PREFIX", "events_router"]

EventsRead = Annotated[Principal, Depends(Authorized("events:read"))]
EventsWrite = Annotated[Principal, Depends(Authorized("events:write"))]

PREFIX = "/v1/events-stream"
events_router = APIRouter(prefix=PREFIX, tags=["event stream"])

Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(max_length=36)]
Types = Annotated[
    list[Annotated[str, Query(max_length=200, pattern=PATTERN.pattern)]] | None,
    Query(alias="type", max_length=20),
]


def _event(message: Message) -> StreamEventOut:
    body = orjson.loads(message.payload)
    return StreamEventOut(
        id=message.id,
        event_id=message.event_id,
        type=message.event_type,
        source=message.source,
        time=message.occurred_at,
        data=body.get("data", {}),
    )


def _group(group: StreamGroup) -> GroupOut:
    return GroupOut.model_validate(group, from_attributes=True)


@events_router.get("", response_model=StreamEventPage)
async def poll_events(
    principal: EventsRead,
    streams: StreamsDep,
    session: SessionDep,
    cursor: Cursor = None,
    type: Types = None,
    limit: Limit = 100,
) -> StreamEventPage:
    """Events after ``cursor``, oldest first; ``next_cursor`` is where to poll on from."""
    found = await streams.poll(
        session, principal.tenant_id, after=cursor, patterns=type or [], limit=limit
    )
    next_cursor = found[-1].id if found else cursor
    return StreamEventPage(items=[_event(m) for m in found], next_cursor=next_cursor)


@events_router.get("/history", response_model=StreamEventPage)
async def event_history(
    principal: EventsRead,
    service: ServiceDep,
    session: SessionDep,
    since: Annotated[AwareDatetime | None, Query()] = None,
    until: Annotated[AwareDatetime | None, Query()] = None,
    type: Annotated[list[str] | None, Query(max_length=20)] = None,
    limit: Limit = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> StreamEventPage:
    """Events that occurred in a time range, of the given types, newest first."""
    try:
        page = await service.messages(
            session, principal.tenant_id, event_types=type or [], since=since, until=until,
            limit=limit, cursor=cursor,
        )  # fmt: skip
    except InvalidCursorError:
        raise BadRequest("The cursor is not valid.") from None
    return StreamEventPage(items=[_event(m) for m in page.items], next_cursor=page.next_cursor)


@events_router.get(
    "/sse",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events"}},
)
async def subscribe_sse(
    principal: EventsRead,
    streams: StreamsDep,
    cursor: Cursor = None,
    type: Types = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=36)] = None,
) -> StreamingResponse:
    """Events as Server-Sent Events, from ``Last-Event-ID`` (or ``cursor``) on, live."""
    after = last_event_id or cursor

    async def events() -> AsyncIterator[bytes]:
        yield b"retry: 2000\n\n"
        async for message in streams.follow(principal.tenant_id, after=after, patterns=type or []):
            if message is None:
                yield b": keep-alive\n\n"
                continue
            data = _event(message).model_dump_json()
            yield f"id: {message.id}\nevent: {message.event_type}\ndata: {data}\n\n".encode()

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@events_router.websocket("/ws")
async def subscribe_websocket(
    websocket: WebSocket,
    principal: EventsRead,
    streams: StreamsDep,
    cursor: Cursor = None,
    type: Types = None,
) -> None:
    """Events as JSON messages over a WebSocket, from ``cursor`` on, live."""
    await websocket.accept()
    gone = asyncio.create_task(_until_disconnect(websocket))
    try:
        follow = streams.follow(principal.tenant_id, after=cursor, patterns=type or [])
        while not gone.done():
            step = asyncio.ensure_future(anext(follow))
            done, _ = await asyncio.wait({step, gone}, return_when=asyncio.FIRST_COMPLETED)
            if step not in done:
                step.cancel()
                break
            message = step.result()
            if message is not None:
                await websocket.send_text(_event(message).model_dump_json())
        await follow.aclose()
    except WebSocketDisconnect:
        pass
    finally:
        gone.cancel()
        with contextlib.suppress(BaseException):
            await gone


async def _until_disconnect(websocket: WebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass


# -- consumer groups ----------------------------------------------------------------------------


@events_router.post("/groups", status_code=201, response_model=GroupOut)
async def create_group(
    body: GroupCreate,
    key: IdempotencyKey,
    principal: EventsWrite,
    streams: StreamsDep,
    session: SessionDep,
) -> JSONResponse:
    """A consumer group on the tenant's events (from the earliest kept, or from now on)."""

    work = streams.create_group(
        session, principal.tenant_id, name=body.name, patterns=body.event_types, start=body.start
    )
    return await idempotent(
        session, principal.tenant_id, key, "create_group", body, work, _group, status=201
    )


@events_router.get("/groups", response_model=GroupPage)
async def list_groups(principal: EventsRead, streams: StreamsDep, session: SessionDep) -> GroupPage:
    """The tenant's consumer groups."""
    groups = await streams.groups(session, principal.tenant_id)
    return GroupPage(items=[_group(g) for g in groups], next_cursor=None)


@events_router.get("/groups/{group_id}", response_model=GroupOut)
async def get_group(
    group_id: str, principal: EventsRead, streams: StreamsDep, session: SessionDep
) -> GroupOut:
    """One consumer group."""
    return _group(await streams.group(session, principal.tenant_id, group_id))


@events_router.delete("/groups/{group_id}", status_code=204)
async def delete_group(
    group_id: str, principal: EventsWrite, streams: StreamsDep, session: SessionDep
) -> Response:
    """Delete a consumer group and what it had not acknowledged."""
    await streams.delete_group(session, principal.tenant_id, group_id)
    return Response(status_code=204)


@events_router.post("/groups/{group_id}/read", response_model=GroupEventPage)
async def read_group(
    group_id: str,
    principal: EventsRead,
    streams: StreamsDep,
    session: SessionDep,
    body: GroupRead | None = None,
) -> GroupEventPage:
    """Events for this read of the group, hidden from other reads until acknowledged or until
    the visibility timeout passes (then they come back)."""
    body = body or GroupRead()
    reads = await streams.read_group(
        session, principal.tenant_id, group_id, limit=body.limit,
        visibility_timeout=body.visibility_timeout,
    )  # fmt: skip
    items = [
        GroupEventOut(**_event(read.message).model_dump(), deliveries=read.deliveries)
        for read in reads
    ]
    return GroupEventPage(items=items, next_cursor=None)


@events_router.post("/groups/{group_id}/ack", response_model=Acked)
async def ack_events(
    group_id: str,
    body: AckRequest,
    principal: EventsWrite,
    streams: StreamsDep,
    session: SessionDep,
) -> Acked:
    """Acknowledge events the group read (by their ``id``): they never come back."""
    count = await streams.ack(session, principal.tenant_id, group_id, body.ids)
    return Acked(acknowledged=count)
