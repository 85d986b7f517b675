"""meeting's endpoints for a tenant's credential under ``/v1/meetings``: create (instant or
scheduled; Idempotency-Key), read, list, change and end meetings, make meeting tokens for
participants, list a meeting's participants and recordings. Thin: parse, call the domain,
shape. What participants do with their tokens is participant_api.py's."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from starlette.responses import JSONResponse

from v100.contracts.recordings import RecordingMedia
from v100.kit.auth import Principal
from v100.kit.db import InvalidCursorError
from v100.kit.errors import BadRequest
from v100.kit.http import Authorized, SessionDep
from v100.kit.idempotency import IdempotencyKey, idempotent
from v100.services.meeting.deps import MediaDep, ServiceDep
from v100.services.meeting.recordings import media_of_meeting
from v100.services.meeting.schemas import (
    MeetingCreate,
    MeetingOut,
    MeetingPage,
    MeetingUpdate,
    ParticipantPage,
    RecordingPage,
    TokenCreate,
    TokenOut,
)
from v100.services.meeting.service import Minted
from v100.services.meeting.shapes import (
    grants_out,
    meeting_out,
    participant_out,
    recording_out,
)

__all__ = ["PREFIX", "meetings_router"]

MeetingsRead = Annotated[Principal, Depends(Authorized("meetings:read"))]
MeetingsWrite = Annotated[Principal, Depends(Authorized("meetings:write"))]
PREFIX = "/v1/meetings"
meetings_router = APIRouter(prefix=PREFIX, tags=["meetings"])
Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(max_length=200)]


def _token_out(minted: Minted) -> TokenOut:
    participant = minted.participant
    return TokenOut(
        token=minted.token,
        meeting_id=participant.meeting_id,
        participant_id=participant.id,
        name=participant.name,
        role=participant.role,
        grants=grants_out(participant),
        expires_at=participant.token_expires_at,
    )


@meetings_router.post("", status_code=201, response_model=MeetingOut)
async def create_meeting(
    body: MeetingCreate,
    key: IdempotencyKey,
    principal: MeetingsWrite,
    service: ServiceDep,
    session: SessionDep,
) -> JSONResponse:
    """Create a meeting: instant (live at once) or scheduled (``starts_at``)."""
    meeting = service.create(
        session, principal.tenant_id, title=body.title, starts_at=body.starts_at,
        max_participants=body.max_participants, waiting_room=body.waiting_room,
        locked=body.locked, recording_allowed=body.recording_allowed,
    )  # fmt: skip
    return await idempotent(
        session, principal.tenant_id, key, "create_meeting", body, meeting, meeting_out,
        status=201,
    )  # fmt: skip


@meetings_router.get("", response_model=MeetingPage)
async def list_meetings(
    principal: MeetingsRead,
    service: ServiceDep,
    session: SessionDep,
    status: Literal["scheduled", "live", "ended"] | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> MeetingPage:
    """The tenant's meetings, newest first (optionally in one status)."""
    try:
        page = await service.page(
            session, principal.tenant_id, status=status, limit=limit, cursor=cursor
        )
    except InvalidCursorError:
        raise BadRequest("The cursor is not valid.") from None
    return MeetingPage(items=[meeting_out(m) for m in page.items], next_cursor=page.next_cursor)


@meetings_router.get("/{meeting_id}", response_model=MeetingOut)
async def get_meeting(
    meeting_id: str, principal: MeetingsRead, service: ServiceDep, session: SessionDep
) -> MeetingOut:
    """One meeting."""
    return meeting_out(await service.get(session, principal.tenant_id, meeting_id))


@meetings_router.patch("/{meeting_id}", response_model=MeetingOut)
async def update_meeting(
    meeting_id: str,
    body: MeetingUpdate,
    principal: MeetingsWrite,
    service: ServiceDep,
    session: SessionDep,
) -> MeetingOut:
    """Change a meeting's title, start time or settings (not once it has ended)."""
    changes = body.model_dump(exclude_unset=True)
    return meeting_out(await service.update(session, principal.tenant_id, meeting_id, changes))


@meetings_router.post("/{meeting_id}/end", response_model=MeetingOut)
async def end_meeting(
    meeting_id: str, principal: MeetingsWrite, service: ServiceDep, session: SessionDep
) -> MeetingOut:
    """End a meeting: everyone leaves, recordings stop, breakout rooms close."""
    return meeting_out(await service.end(session, principal.tenant_id, meeting_id))


@meetings_router.post("/{meeting_id}/tokens", status_code=201, response_model=TokenOut)
async def create_token(
    meeting_id: str,
    body: TokenCreate,
    key: IdempotencyKey,
    principal: MeetingsWrite,
    service: ServiceDep,
    session: SessionDep,
) -> JSONResponse:
    """A meeting token for a new participant (its role's grants, changed by ``grants``)."""
    grants = {} if body.grants is None else body.grants.model_dump(exclude_none=True)
    minted = service.mint(
        session, principal.tenant_id, meeting_id, name=body.name, role=body.role,
        grants=grants, ttl_seconds=body.ttl_seconds,
    )  # fmt: skip
    return await idempotent(
        session, principal.tenant_id, key, f"create_token:{meeting_id}", body, minted,
        _token_out, status=201,
    )  # fmt: skip


@meetings_router.get("/{meeting_id}/participants", response_model=ParticipantPage)
async def list_participants(
    meeting_id: str,
    principal: MeetingsRead,
    service: ServiceDep,
    session: SessionDep,
    status: Literal["invited", "waiting", "joined", "left", "denied", "removed"] | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> ParticipantPage:
    """A meeting's participants (everyone a token was made for), in the order they were made."""
    try:
        page = await service.participants(
            session, principal.tenant_id, meeting_id, status=status, limit=limit, cursor=cursor
        )
    except InvalidCursorError:
        raise BadRequest("The cursor is not valid.") from None
    return ParticipantPage(
        items=[participant_out(p) for p in page.items], next_cursor=page.next_cursor
    )


@meetings_router.get("/{meeting_id}/recordings", response_model=RecordingPage)
async def list_recordings(
    meeting_id: str,
    principal: MeetingsRead,
    service: ServiceDep,
    media: MediaDep,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> RecordingPage:
    """A meeting's recordings, newest first, with where their media stands (its download links:
    ``GET /v1/recordings/{media_recording_id}``)."""
    try:
        page = await service.recordings(
            session, principal.tenant_id, meeting_id, limit=limit, cursor=cursor
        )
    except InvalidCursorError:
        raise BadRequest("The cursor is not valid.") from None
    found: dict[str, RecordingMedia] = {}
    if any(r.media_recording_id for r in page.items):
        found = await media_of_meeting(media, principal.tenant_id, meeting_id)
    items = [recording_out(r, found.get(r.media_recording_id or "")) for r in page.items]
    return RecordingPage(items=items, next_cursor=page.next_cursor)
