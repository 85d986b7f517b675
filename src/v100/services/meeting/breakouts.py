"""Breakout rooms (the admin grant): open rooms, assign participants to them, move one
participant, broadcast a message to every room, close them all and bring everyone back to the
main room. A participant's ``room`` says where it is; each change is ``meeting.participant.moved``.
No HTTP objects in here."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from v100.contracts.events import MEETING_BROADCAST, MEETING_PARTICIPANT_MOVED
from v100.contracts.meeting_tokens import MAIN_ROOM
from v100.kit.db import new_id
from v100.services.meeting.access import Caller
from v100.services.meeting.announcer import Announcer
from v100.services.meeting.errors import (
    BreakoutRoomNotFound,
    ParticipantNotFound,
    ParticipantNotJoined,
    TooManyBreakoutRooms,
)
from v100.services.meeting.lifecycle import open_meeting
from v100.services.meeting.models import BreakoutRoom, Meeting, Participant
from v100.services.meeting.repository import BreakoutRoomRepository, ParticipantRepository

__all__ = ["Breakouts"]


class Breakouts:
    def __init__(self, announcer: Announcer, max_rooms: int) -> None:
        self.announcer = announcer
        self.max_rooms = max_rooms

    async def open(
        self, session: AsyncSession, caller: Caller, names: list[str]
    ) -> list[BreakoutRoom]:
        caller.require("admin")
        meeting = await open_meeting(session, caller.tenant_id, caller.participant.meeting_id)
        repository = BreakoutRoomRepository(session)
        existing = await repository.open_rooms(meeting.tenant_id, meeting.id)
        if len(existing) + len(names) > self.max_rooms:
            raise TooManyBreakoutRooms(f"A meeting has at most {self.max_rooms} breakout rooms.")
        made = [
            BreakoutRoom(
                id=new_id(), tenant_id=meeting.tenant_id, meeting_id=meeting.id, name=name,
                status="open",
            )
            for name in names
        ]  # fmt: skip
        for room in made:
            await repository.add(room)
        return made

    async def assign(
        self, session: AsyncSession, caller: Caller, assignments: dict[str, str]
    ) -> list[Participant]:
        """Move each participant to its room ("main" or a breakout room's id); all or none."""
        caller.require("admin")
        meeting = await open_meeting(session, caller.tenant_id, caller.participant.meeting_id)
        rooms = {room.id for room in await BreakoutRoomRepository(session).open_rooms(
            meeting.tenant_id, meeting.id
        )}  # fmt: skip
        moved = []
        for participant_id, room in assignments.items():
            if room != MAIN_ROOM and room not in rooms:
                raise BreakoutRoomNotFound(f"Breakout room {room} is not open in this meeting.")
            moved.append(await self._move(session, meeting, participant_id, room))
        return moved

    async def move(
        self, session: AsyncSession, caller: Caller, participant_id: str, room: str
    ) -> Participant:
        return (await self.assign(session, caller, {participant_id: room}))[0]

    async def broadcast(self, session: AsyncSession, caller: Caller, message: str) -> int:
        """A message to every room (live channel); the event's sequence number."""
        caller.require("admin")
        meeting = await open_meeting(session, caller.tenant_id, caller.participant.meeting_id)
        data = await self.announcer.announce(
            session, meeting, MEETING_BROADCAST, caller.participant, message=message
        )
        return data.sequence

    async def close(self, session: AsyncSession, caller: Caller) -> list[Participant]:
        """Close every breakout room; everyone in one returns to the main room."""
        caller.require("admin")
        meeting = await open_meeting(session, caller.tenant_id, caller.participant.meeting_id)
        for room in await BreakoutRoomRepository(session).open_rooms(meeting.tenant_id, meeting.id):
            room.status = "closed"
        joined = await ParticipantRepository(session).of_meeting(
            meeting.tenant_id, meeting.id, statuses=("joined",)
        )
        returned = []
        for participant in joined:
            if participant.room != MAIN_ROOM:
                returned.append(await self._move(session, meeting, participant.id, MAIN_ROOM))
        await session.flush()
        return returned

    async def _move(
        self, session: AsyncSession, meeting: Meeting, participant_id: str, room: str
    ) -> Participant:
        participant = await ParticipantRepository(session).in_meeting(
            meeting.tenant_id, meeting.id, participant_id
        )
        if participant is None:
            raise ParticipantNotFound(f"Participant {participant_id} is not in this meeting.")
        if participant.status != "joined":
            raise ParticipantNotJoined(f"Participant {participant_id} is {participant.status}.")
        if participant.room == room:
            return participant
        came_from, participant.room = participant.room, room
        await self.announcer.announce(
            session, meeting, MEETING_PARTICIPANT_MOVED, participant, from_room=came_from
        )
        return participant
