"""meeting's request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from v100.contracts.recordings import RecordingMedia
from v100.kit.http import Listing, refusing_null
from v100.kit.text import Line

__all__ = [
    "AdmitAllOut",
    "AssignmentsIn",
    "BreakoutRoomOut",
    "BreakoutRoomsIn",
    "BroadcastIn",
    "GrantsIn",
    "GrantsOut",
    "MeetingCreate",
    "MeetingOut",
    "MeetingPage",
    "MeetingUpdate",
    "MoveIn",
    "MuteIn",
    "ParticipantOut",
    "ParticipantPage",
    "RecordingOut",
    "RecordingPage",
    "RoomOut",
    "RoomTokenOut",
    "TokenCreate",
    "TokenOut",
]

MeetingStatus = Literal["scheduled", "live", "ended"]
Role = Literal["host", "co-host", "participant", "viewer"]
ParticipantStatus = Literal["invited", "waiting", "joined", "left", "denied", "removed"]
Title = Annotated[Line, Field(min_length=1, max_length=200)]
Name = Annotated[Line, Field(min_length=1, max_length=100)]
MaxParticipants = Annotated[int, Field(ge=1, le=100_000)]


class MeetingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title = "Meeting"
    # A scheduled meeting starts at this time (it goes live when its first participant joins);
    # without it, the meeting is instant: live at once.
    starts_at: datetime | None = None
    max_participants: MaxParticipants | None = None
    waiting_room: bool = False
    locked: bool = False
    recording_allowed: bool = True


class MeetingUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    _no_nulls = refusing_null(
        "title", "max_participants", "waiting_room", "locked", "recording_allowed"
    )

    title: Title | None = None
    starts_at: datetime | None = None
    max_participants: MaxParticipants | None = None
    waiting_room: bool | None = None
    locked: bool | None = None
    recording_allowed: bool | None = None


class MeetingOut(BaseModel):
    id: str
    title: str
    status: MeetingStatus
    starts_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    max_participants: int
    waiting_room: bool
    locked: bool
    recording_allowed: bool
    # The sequence number of the meeting's latest event (0 before any).
    event_sequence: int
    created_at: datetime
    updated_at: datetime


MeetingPage = Listing[MeetingOut]


class GrantsIn(BaseModel):
    """Grants that differ from the role's (LiveKit's VideoGrant): what is left out is the
    role's."""

    model_config = ConfigDict(extra="forbid")

    join: bool | None = None
    publish: bool | None = None
    subscribe: bool | None = None
    admin: bool | None = None
    record: bool | None = None


class GrantsOut(BaseModel):
    join: bool
    publish: bool
    subscribe: bool
    admin: bool
    record: bool


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    role: Role = "participant"
    grants: GrantsIn | None = None
    ttl_seconds: Annotated[int, Field(ge=60, le=7 * 24 * 3600)] | None = None


class TokenOut(BaseModel):
    # Give it to the participant's browser: ``Authorization: Bearer <token>``.
    token: str
    meeting_id: str
    participant_id: str
    name: str
    role: Role
    grants: GrantsOut
    expires_at: datetime


class ParticipantOut(BaseModel):
    id: str
    meeting_id: str
    name: str
    role: Role
    grants: GrantsOut
    status: ParticipantStatus
    # "main" or a breakout room's id.
    room: str
    joined_at: datetime | None
    left_at: datetime | None
    created_at: datetime


ParticipantPage = Listing[ParticipantOut]


class BreakoutRoomOut(BaseModel):
    id: str
    name: str
    status: Literal["open", "closed"]
    participant_ids: list[str]


class RecordingOut(BaseModel):
    id: str
    meeting_id: str
    status: Literal["recording", "stopped"]
    started_by: str
    stopped_by: str | None
    started_at: datetime
    stopped_at: datetime | None
    # The recording in recording_processor holding its media (docs/adr/0057).
    media_recording_id: str | None = None
    # Where its media stands: uploading (bytes ``received``), processing (``percent``), ready
    # (``downloads`` on a single recording: the MP4, thumbnail and WebM source, presigned),
    # errored. The answer that starts a recording carries ``upload_url``, the capability its
    # recording page appends WebM chunks to (tus). None when recording_processor was not
    # reached (the lifecycle is still answered).
    media: RecordingMedia | None = None


RecordingPage = Listing[RecordingOut]


class RoomOut(BaseModel):
    """A participant's view of the meeting: who is in, who waits (for those with the admin
    grant), the open breakout rooms and running recordings."""

    meeting: MeetingOut
    me: ParticipantOut
    participants: list[ParticipantOut]
    waiting: list[ParticipantOut]
    breakout_rooms: list[BreakoutRoomOut]
    recordings: list[RecordingOut]


class RoomTokenOut(BaseModel):
    """The caller's meeting token for the room it is in now: what its page presents to
    signaling and realtime (their room is the token's ``room``)."""

    token: str
    # "main" or a breakout room's id.
    room: str
    expires_at: datetime


class AdmitAllOut(BaseModel):
    admitted: list[ParticipantOut]
    # Those still waiting because the meeting filled up.
    still_waiting: list[ParticipantOut]


class BreakoutRoomsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    names: Annotated[list[Name], Field(min_length=1, max_length=50)]


class AssignmentsIn(BaseModel):
    """Participant id -> breakout room id (or "main")."""

    model_config = ConfigDict(extra="forbid")

    assignments: Annotated[
        dict[Annotated[str, Field(max_length=36)], Annotated[str, Field(max_length=36)]],
        Field(min_length=1, max_length=1000),
    ]


class MoveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # A breakout room's id, or "main".
    room: Annotated[str, Field(min_length=1, max_length=36)]


class BroadcastIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: Annotated[Line, Field(min_length=1, max_length=1000)]


class MuteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["audio", "video"] = "audio"
