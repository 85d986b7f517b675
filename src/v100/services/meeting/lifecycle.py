"""The meeting's and its participants' moves, shared by the tenant's API and the participants'
routes. A meeting:

    scheduled ──first participant enters──▶ live ──end (API, or a host's token)──▶ ended
    (made instant: live at once)

A participant (one meeting token's holder):

    invited ──join──▶ joined ◀──rejoin── left        (waiting room off, or a host or co-host)
    invited ──join──▶ waiting ──admit──▶ joined       (waiting room on)
                         └──deny──▶ denied
    any ──remove──▶ removed (its token is refused from then on); joined ──end──▶ left

Every move runs with the meeting's row locked and is announced in the same transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from v100.contracts.events import (
    MEETING_PARTICIPANT_JOINED,
    MEETING_PARTICIPANT_LEFT,
    MEETING_STARTED,
)
from v100.contracts.meeting_tokens import MAIN_ROOM
from v100.kit.db import utcnow
from v100.services.meeting.announcer import Announcer
from v100.services.meeting.errors import MeetingEnded, MeetingFull, MeetingNotFound
from v100.services.meeting.models import Meeting, Participant
from v100.services.meeting.repository import MeetingRepository, ParticipantRepository

__all__ = ["enter", "go_live", "leave", "locked_meeting", "open_meeting"]


async def locked_meeting(session: AsyncSession, tenant_id: str, meeting_id: str) -> Meeting:
    meeting = await MeetingRepository(session).locked(tenant_id, meeting_id)
    if meeting is None:
        raise MeetingNotFound(f"Meeting {meeting_id} does not exist.")
    return meeting


async def open_meeting(session: AsyncSession, tenant_id: str, meeting_id: str) -> Meeting:
    """The locked meeting, refused once it has ended."""
    meeting = await locked_meeting(session, tenant_id, meeting_id)
    if meeting.status == "ended":
        raise MeetingEnded(f"Meeting {meeting_id} has ended.")
    return meeting


async def go_live(session: AsyncSession, announcer: Announcer, meeting: Meeting) -> None:
    if meeting.status != "scheduled":
        return
    meeting.status = "live"
    meeting.started_at = utcnow()
    await announcer.announce(session, meeting, MEETING_STARTED)


async def enter(
    session: AsyncSession,
    announcer: Announcer,
    meeting: Meeting,
    participant: Participant,
    *events: str,
) -> None:
    """``participant`` joins the main room when there is space (409 ``meeting-full``), and
    ``events`` (admitted, say) are announced before ``joined``."""
    joined = await ParticipantRepository(session).joined_count(meeting.tenant_id, meeting.id)
    if joined >= meeting.max_participants:
        raise MeetingFull(f"Meeting {meeting.id} has {meeting.max_participants} participants in.")
    await go_live(session, announcer, meeting)
    participant.status = "joined"
    participant.room = MAIN_ROOM
    participant.joined_at = utcnow()
    participant.left_at = None
    for event in events:
        await announcer.announce(session, meeting, event, participant)
    await announcer.announce(session, meeting, MEETING_PARTICIPANT_JOINED, participant)


async def leave(
    session: AsyncSession,
    announcer: Announcer,
    meeting: Meeting,
    participant: Participant,
    *,
    reason: str,
    status: str = "left",
) -> None:
    """``participant`` leaves (``status`` left, or removed); announced when it was in."""
    was_in = participant.status == "joined"
    was_at = participant.room
    participant.status = status
    participant.room = MAIN_ROOM
    if was_in:
        participant.left_at = utcnow()
        # from_room: the breakout room it left from (the main room's is implied).
        await announcer.announce(
            session, meeting, MEETING_PARTICIPANT_LEFT, participant, reason=reason,
            from_room=None if was_at == MAIN_ROOM else was_at,
        )  # fmt: skip
    else:
        await session.flush()
