"""What participants do with their meeting tokens in the main room: join (or knock at the
waiting room), leave, see the room; and, with the admin grant, admit, deny and admit all from
the waiting room, lock and unlock, ask someone to mute, remove someone, end the meeting. The
states are drawn in lifecycle.py. No HTTP objects in here."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from v100.contracts.events import (
    MEETING_LOCKED,
    MEETING_PARTICIPANT_ADMITTED,
    MEETING_PARTICIPANT_DENIED,
    MEETING_PARTICIPANT_MUTE_REQUESTED,
    MEETING_PARTICIPANT_WAITING,
    MEETING_UNLOCKED,
)
from v100.contracts.meeting_tokens import MeetingToken, MeetingTokens
from v100.contracts.recordings import RecordingsClient
from v100.kit.db import utcnow
from v100.services.meeting.access import Caller
from v100.services.meeting.announcer import Announcer
from v100.services.meeting.errors import (
    MeetingFull,
    MeetingLocked,
    ParticipantDenied,
    ParticipantNotFound,
    ParticipantNotJoined,
    ParticipantNotWaiting,
)
from v100.services.meeting.lifecycle import enter, leave, locked_meeting, open_meeting
from v100.services.meeting.models import BreakoutRoom, Meeting, MeetingRecording, Participant
from v100.services.meeting.repository import (
    BreakoutRoomRepository,
    MeetingRecordingRepository,
    ParticipantRepository,
)
from v100.services.meeting.service import end_meeting, grants_of

__all__ = ["Room", "RoomView"]

_HOSTS = ("host", "co-host")


@dataclass(frozen=True, slots=True)
class RoomView:
    meeting: Meeting
    me: Participant
    participants: list[Participant]
    waiting: list[Participant]
    breakout_rooms: list[BreakoutRoom]
    recordings: list[MeetingRecording]


class Room:
    def __init__(self, announcer: Announcer, media: RecordingsClient) -> None:
        self.announcer = announcer
        # recording_processor: ending the meeting ends its recordings' uploads.
        self.media = media

    async def join(self, session: AsyncSession, caller: Caller) -> Participant:
        """Enter, or knock when the waiting room is on and the caller is no host. Idempotent:
        joining again while in (or waiting) answers the same."""
        caller.require("join")
        me = caller.participant
        meeting = await open_meeting(session, caller.tenant_id, me.meeting_id)
        me = await self._fresh(session, meeting, me.id)
        if me.status in ("joined", "waiting"):
            return me
        if me.status == "denied":
            raise ParticipantDenied("The host turned this participant away.")
        host = me.role in _HOSTS
        if meeting.locked and not host:
            raise MeetingLocked(f"Meeting {meeting.id} is locked.")
        if meeting.waiting_room and not host and me.status == "invited":
            me.status = "waiting"
            await self.announcer.announce(session, meeting, MEETING_PARTICIPANT_WAITING, me)
            return me
        await enter(session, self.announcer, meeting, me)
        return me

    async def leave(self, session: AsyncSession, caller: Caller) -> Participant:
        """Leave (from the waiting room too). Idempotent."""
        meeting = await locked_meeting(session, caller.tenant_id, caller.participant.meeting_id)
        me = await self._fresh(session, meeting, caller.participant.id)
        if me.status == "joined":
            await leave(session, self.announcer, meeting, me, reason="left")
        elif me.status == "waiting":  # knocks again on the next join
            me.status = "invited"
            await session.flush()
        return me

    async def view(self, session: AsyncSession, caller: Caller) -> RoomView:
        me = caller.participant
        tenant_id, meeting_id = caller.tenant_id, me.meeting_id
        meeting = await locked_meeting(session, tenant_id, meeting_id)
        everyone = await ParticipantRepository(session).of_meeting(
            tenant_id, meeting_id, statuses=("joined", "waiting")
        )
        admin = bool(me.grants.get("admin"))
        return RoomView(
            meeting=meeting,
            me=me,
            participants=[p for p in everyone if p.status == "joined"],
            waiting=[p for p in everyone if p.status == "waiting"] if admin else [],
            breakout_rooms=list(
                await BreakoutRoomRepository(session).open_rooms(tenant_id, meeting_id)
            ),
            recordings=list(
                await MeetingRecordingRepository(session).active(tenant_id, meeting_id)
            ),
        )

    async def room_token(
        self, session: AsyncSession, caller: Caller, tokens: MeetingTokens
    ) -> tuple[str, Participant]:
        """The caller's meeting token for the room it is in now (``main`` or a breakout room):
        what its page presents to signaling and realtime after a move. The same participant,
        ``jti`` and expiry as the token it holds (so it acts on these routes as that one did,
        and lives no longer); its grants as stored now."""
        meeting = await open_meeting(session, caller.tenant_id, caller.participant.meeting_id)
        me = await self._fresh(session, meeting, caller.participant.id)
        if me.status != "joined":
            raise ParticipantNotJoined(f"Participant {me.id} is {me.status}.")
        held = caller.token
        token = MeetingToken(
            tenant_id=held.tenant_id,
            meeting_id=held.meeting_id,
            participant_id=me.id,
            name=me.name,
            role=held.role,
            grants=grants_of(me),
            expires_at=held.expires_at,
            token_id=held.token_id,
            room=me.room,
        )
        return tokens.mint(token), me

    # -- the waiting room (admin grant) ----------------------------------------------------

    async def admit(
        self, session: AsyncSession, caller: Caller, participant_id: str
    ) -> Participant:
        caller.require("admin")
        meeting = await open_meeting(session, caller.tenant_id, caller.participant.meeting_id)
        waiting = await self._fresh(session, meeting, participant_id)
        if waiting.status != "waiting":
            raise ParticipantNotWaiting(f"Participant {participant_id} is {waiting.status}.")
        await enter(session, self.announcer, meeting, waiting, MEETING_PARTICIPANT_ADMITTED)
        return waiting

    async def deny(self, session: AsyncSession, caller: Caller, participant_id: str) -> Participant:
        caller.require("admin")
        meeting = await open_meeting(session, caller.tenant_id, caller.participant.meeting_id)
        waiting = await self._fresh(session, meeting, participant_id)
        if waiting.status != "waiting":
            raise ParticipantNotWaiting(f"Participant {participant_id} is {waiting.status}.")
        waiting.status = "denied"
        await self.announcer.announce(session, meeting, MEETING_PARTICIPANT_DENIED, waiting)
        return waiting

    async def admit_all(
        self, session: AsyncSession, caller: Caller
    ) -> tuple[list[Participant], list[Participant]]:
        """Admit everyone waiting, in the order they knocked, while there is space: (admitted,
        still waiting)."""
        caller.require("admin")
        meeting = await open_meeting(session, caller.tenant_id, caller.participant.meeting_id)
        waiting = await ParticipantRepository(session).of_meeting(
            meeting.tenant_id, meeting.id, statuses=("waiting",)
        )
        admitted: list[Participant] = []
        for index, participant in enumerate(waiting):
            try:
                await enter(
                    session, self.announcer, meeting, participant, MEETING_PARTICIPANT_ADMITTED
                )
            except MeetingFull:
                return admitted, list(waiting[index:])
            admitted.append(participant)
        return admitted, []

    # -- moderation (admin grant) ----------------------------------------------------------

    async def set_locked(self, session: AsyncSession, caller: Caller, locked: bool) -> Meeting:
        caller.require("admin")
        meeting = await open_meeting(session, caller.tenant_id, caller.participant.meeting_id)
        if meeting.locked != locked:
            meeting.locked = locked
            meeting.updated_at = utcnow()
            event = MEETING_LOCKED if locked else MEETING_UNLOCKED
            await self.announcer.announce(session, meeting, event, caller.participant)
        return meeting

    async def request_mute(
        self, session: AsyncSession, caller: Caller, participant_id: str, kind: str
    ) -> Participant:
        """Ask a participant to mute (the realtime and signaling side carry it to them)."""
        caller.require("admin")
        meeting = await open_meeting(session, caller.tenant_id, caller.participant.meeting_id)
        target = await self._fresh(session, meeting, participant_id)
        if target.status != "joined":
            raise ParticipantNotJoined(f"Participant {participant_id} is {target.status}.")
        await self.announcer.announce(
            session, meeting, MEETING_PARTICIPANT_MUTE_REQUESTED, target, kind=kind
        )
        return target

    async def remove(
        self, session: AsyncSession, caller: Caller, participant_id: str
    ) -> Participant:
        """Remove a participant: it leaves, and its token is refused from then on."""
        caller.require("admin")
        meeting = await locked_meeting(session, caller.tenant_id, caller.participant.meeting_id)
        target = await self._fresh(session, meeting, participant_id)
        if target.status != "removed":
            await leave(
                session, self.announcer, meeting, target, reason="removed", status="removed"
            )
        return target

    async def end(self, session: AsyncSession, caller: Caller) -> Meeting:
        caller.require("admin")
        meeting = await locked_meeting(session, caller.tenant_id, caller.participant.meeting_id)
        if meeting.status != "ended":
            await end_meeting(
                session, self.announcer, self.media, meeting, by=caller.participant.id
            )
        return meeting

    async def _fresh(
        self, session: AsyncSession, meeting: Meeting, participant_id: str
    ) -> Participant:
        participant = await ParticipantRepository(session).in_meeting(
            meeting.tenant_id, meeting.id, participant_id
        )
        if participant is None:
            raise ParticipantNotFound(f"Participant {participant_id} is not in this meeting.")
        return participant
