"""meeting's route for the platform's other services, under the scope ``service:meetings`` that
no tenant credential can hold (``contracts/meetings.py`` is its client; the tenant is the
internal token's): a participant's standing, which meeting_signaling and realtime ask before
they let a meeting token's socket into a room (docs/adr/0061). Read only: no lock is taken."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from v100.contracts.meetings import STANDING_PATH, ParticipantStanding
from v100.kit.auth import Principal
from v100.kit.http import Authorized, SessionDep
from v100.services.meeting.errors import MeetingNotFound, ParticipantNotFound
from v100.services.meeting.repository import MeetingRepository, ParticipantRepository

__all__ = ["internal_router"]

ServiceMeetings = Annotated[Principal, Depends(Authorized("service:meetings"))]

internal_router = APIRouter(tags=["meetings (platform services)"])


@internal_router.get(
    STANDING_PATH,
    response_model=ParticipantStanding,
    responses={404: {"description": "No such meeting, or no such participant in it"}},
)
async def participant_standing(
    meeting_id: str, participant_id: str, principal: ServiceMeetings, session: SessionDep
) -> ParticipantStanding:
    """Where a participant stands now: its status, its room, its token's id, the meeting's
    status."""
    meeting = await MeetingRepository(session).get(principal.tenant_id, meeting_id)
    if meeting is None:
        raise MeetingNotFound(f"Meeting {meeting_id} does not exist.")
    participant = await ParticipantRepository(session).in_meeting(
        principal.tenant_id, meeting_id, participant_id
    )
    if participant is None:
        raise ParticipantNotFound(f"Participant {participant_id} is not in this meeting.")
    return ParticipantStanding(
        meeting_id=meeting.id,
        participant_id=participant.id,
        token_id=participant.token_id,
        status=participant.status,
        room=participant.room,
        meeting_status=meeting.status,
    )
