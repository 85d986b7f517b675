"""What meeting's endpoints are given, typed: its settings, its domain objects on the bus, the
meeting token minter, and the ``Caller`` of a participant's route (its meeting token checked
against the participant as stored)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from v100.contracts.meeting_tokens import MeetingTokens
from v100.contracts.recordings import RecordingsClient
from v100.kit.http import Provided, RuntimeDep, SessionDep, SettingsOf
from v100.services.meeting.access import Caller, identify
from v100.services.meeting.announcer import Announcer
from v100.services.meeting.breakouts import Breakouts
from v100.services.meeting.errors import MeetingTokenRefused, MeetingTokenRequired
from v100.services.meeting.media import RoomMedia
from v100.services.meeting.recordings import Recordings
from v100.services.meeting.room import Room
from v100.services.meeting.service import MeetingService
from v100.services.meeting.settings import MeetingSettings

__all__ = [
    "BreakoutsDep",
    "CallerDep",
    "MediaDep",
    "RecordingsDep",
    "RoomDep",
    "ServiceDep",
    "SettingsDep",
    "TokensDep",
]

SettingsDep = Annotated[MeetingSettings, Depends(SettingsOf(MeetingSettings))]
TokensDep = Annotated[MeetingTokens, Depends(Provided(MeetingTokens))]


async def get_announcer(runtime: RuntimeDep) -> Announcer:
    return Announcer(runtime.bus, runtime.find(RoomMedia))


AnnouncerDep = Annotated[Announcer, Depends(get_announcer)]


MediaDep = Annotated[RecordingsClient, Depends(Provided(RecordingsClient))]


async def get_service(
    announcer: AnnouncerDep, settings: SettingsDep, tokens: TokensDep, media: MediaDep
) -> MeetingService:
    return MeetingService(announcer, settings, tokens, media)


async def get_room(announcer: AnnouncerDep, media: MediaDep) -> Room:
    return Room(announcer, media)


async def get_breakouts(announcer: AnnouncerDep, settings: SettingsDep) -> Breakouts:
    return Breakouts(announcer, settings.max_breakout_rooms)


async def get_recordings(announcer: AnnouncerDep, media: MediaDep) -> Recordings:
    return Recordings(announcer, media)


async def get_caller(
    meeting_id: str, request: Request, session: SessionDep, tokens: TokensDep
) -> Caller:
    """The participant acting, from ``Authorization: Bearer <meeting token>``."""
    if getattr(request.state, "principal", None) is not None:
        # A tenant's (or a service's) internal token: valid, but not a participant.
        raise MeetingTokenRequired("This route takes a participant's meeting token.")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise MeetingTokenRefused(
            "A meeting token is required (Authorization: Bearer).",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return await identify(session, tokens, token.strip(), meeting_id)


ServiceDep = Annotated[MeetingService, Depends(get_service)]
RoomDep = Annotated[Room, Depends(get_room)]
BreakoutsDep = Annotated[Breakouts, Depends(get_breakouts)]
RecordingsDep = Annotated[Recordings, Depends(get_recordings)]
CallerDep = Annotated[Caller, Depends(get_caller)]
