"""How meeting's rows become answers (shared by the tenant's and the participants' routes)."""

from __future__ import annotations

from v100.contracts.recordings import RecordingMedia
from v100.services.meeting.models import BreakoutRoom, Meeting, MeetingRecording, Participant
from v100.services.meeting.schemas import (
    BreakoutRoomOut,
    GrantsOut,
    MeetingOut,
    ParticipantOut,
    RecordingOut,
)
from v100.services.meeting.service import grants_of

__all__ = ["breakout_out", "grants_out", "meeting_out", "participant_out", "recording_out"]


def meeting_out(meeting: Meeting) -> MeetingOut:
    return MeetingOut.model_validate(meeting, from_attributes=True)


def grants_out(participant: Participant) -> GrantsOut:
    grants = grants_of(participant)
    return GrantsOut(
        join=grants.join, publish=grants.publish, subscribe=grants.subscribe,
        admin=grants.admin, record=grants.record,
    )  # fmt: skip


def participant_out(participant: Participant) -> ParticipantOut:
    return ParticipantOut(
        id=participant.id,
        meeting_id=participant.meeting_id,
        name=participant.name,
        role=participant.role,
        grants=grants_out(participant),
        status=participant.status,
        room=participant.room,
        joined_at=participant.joined_at,
        left_at=participant.left_at,
        created_at=participant.created_at,
    )


def recording_out(recording: MeetingRecording, media: RecordingMedia | None = None) -> RecordingOut:
    out = RecordingOut.model_validate(recording, from_attributes=True)
    return out.model_copy(update={"media": media})


def breakout_out(room: BreakoutRoom, participants: list[Participant]) -> BreakoutRoomOut:
    return BreakoutRoomOut(
        id=room.id,
        name=room.name,
        status=room.status,
        participant_ids=[p.id for p in participants if p.room == room.id],
    )
