"""meeting's queries. Every change to a meeting's participants, rooms or recordings starts by
locking the meeting's row (``MeetingRepository.locked``): on PostgreSQL the changes of one
meeting then run one at a time (capacity checks hold, event sequence numbers follow the commit
order); SQLite runs every write one at a time anyway."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import ColumnElement, func, select

from v100.kit.db import Page, TenantRepository
from v100.services.meeting.models import BreakoutRoom, Meeting, MeetingRecording, Participant

__all__ = [
    "BreakoutRoomRepository",
    "MeetingRecordingRepository",
    "MeetingRepository",
    "ParticipantRepository",
]


class MeetingRepository(TenantRepository[Meeting]):
    model = Meeting

    async def page(
        self, tenant_id: str, *, status: str | None, limit: int, cursor: str | None
    ) -> Page[Meeting]:
        where: list[ColumnElement[bool]] = []
        if status is not None:
            where.append(Meeting.status == status)
        return await self.list(tenant_id, limit=limit, cursor=cursor, where=where)

    async def locked(self, tenant_id: str, meeting_id: str) -> Meeting | None:
        """The meeting as stored now, its row locked until the transaction ends."""
        statement = (
            self.select_for(tenant_id)
            .where(Meeting.id == meeting_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()


class ParticipantRepository(TenantRepository[Participant]):
    model = Participant

    async def of_meeting(
        self, tenant_id: str, meeting_id: str, *, statuses: Iterable[str] | None = None
    ) -> Sequence[Participant]:
        statement = self.select_for(tenant_id).where(Participant.meeting_id == meeting_id)
        if statuses is not None:
            statement = statement.where(Participant.status.in_(list(statuses)))
        statement = statement.order_by(Participant.id).execution_options(populate_existing=True)
        return (await self.session.execute(statement)).scalars().all()

    async def page(
        self,
        tenant_id: str,
        meeting_id: str,
        *,
        status: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Participant]:
        where: list[ColumnElement[bool]] = [Participant.meeting_id == meeting_id]
        if status is not None:
            where.append(Participant.status == status)
        return await self.list(
            tenant_id, limit=limit, cursor=cursor, where=where, newest_first=False
        )

    async def joined_count(self, tenant_id: str, meeting_id: str) -> int:
        statement = select(func.count()).where(
            Participant.tenant_id == tenant_id,
            Participant.meeting_id == meeting_id,
            Participant.status == "joined",
        )
        return int((await self.session.execute(statement)).scalar_one())

    async def joined_in_room(self, tenant_id: str, meeting_id: str, room: str) -> int:
        statement = select(func.count()).where(
            Participant.tenant_id == tenant_id,
            Participant.meeting_id == meeting_id,
            Participant.status == "joined",
            Participant.room == room,
        )
        return int((await self.session.execute(statement)).scalar_one())

    async def in_meeting(
        self, tenant_id: str, meeting_id: str, participant_id: str
    ) -> Participant | None:
        """The participant of this meeting as stored now, or None."""
        statement = (
            self.select_for(tenant_id)
            .where(Participant.id == participant_id, Participant.meeting_id == meeting_id)
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()


class BreakoutRoomRepository(TenantRepository[BreakoutRoom]):
    model = BreakoutRoom

    async def open_rooms(self, tenant_id: str, meeting_id: str) -> Sequence[BreakoutRoom]:
        statement = (
            self.select_for(tenant_id)
            .where(BreakoutRoom.meeting_id == meeting_id, BreakoutRoom.status == "open")
            .order_by(BreakoutRoom.id)
        )
        return (await self.session.execute(statement)).scalars().all()


class MeetingRecordingRepository(TenantRepository[MeetingRecording]):
    model = MeetingRecording

    async def page(
        self, tenant_id: str, meeting_id: str, *, limit: int, cursor: str | None
    ) -> Page[MeetingRecording]:
        where = [MeetingRecording.meeting_id == meeting_id]
        return await self.list(tenant_id, limit=limit, cursor=cursor, where=where)

    async def active(self, tenant_id: str, meeting_id: str) -> Sequence[MeetingRecording]:
        statement = self.select_for(tenant_id).where(
            MeetingRecording.meeting_id == meeting_id, MeetingRecording.status == "recording"
        )
        return (await self.session.execute(statement)).scalars().all()
