"""meeting's domain for the tenant's credential: meetings (create, read, list, change, end) and
the meeting tokens that let participants in (``contracts.meeting_tokens``). Its states are
drawn in lifecycle.py. No HTTP objects in here."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from v100.contracts.events import MEETING_ENDED, MEETING_RECORDING_STOPPED
from v100.contracts.meeting_tokens import MeetingGrants, MeetingRole, MeetingToken, MeetingTokens
from v100.contracts.recordings import RecordingsClient
from v100.kit.db import Page, new_id, utcnow
from v100.kit.errors import ValidationFailed
from v100.services.meeting.announcer import Announcer
from v100.services.meeting.errors import MeetingNotFound
from v100.services.meeting.lifecycle import go_live, leave, locked_meeting, open_meeting
from v100.services.meeting.media_uploads import end_uploads_after_commit
from v100.services.meeting.models import Meeting, MeetingRecording, Participant
from v100.services.meeting.repository import (
    BreakoutRoomRepository,
    MeetingRecordingRepository,
    MeetingRepository,
    ParticipantRepository,
)
from v100.services.meeting.settings import MeetingSettings

__all__ = ["GRANT_NAMES", "MeetingService", "Minted", "grants_of"]

GRANT_NAMES = ("join", "publish", "subscribe", "admin", "record")


def grants_of(participant: Participant) -> MeetingGrants:
    return MeetingGrants(**{name: bool(participant.grants.get(name)) for name in GRANT_NAMES})


@dataclass(frozen=True, slots=True)
class Minted:
    token: str
    participant: Participant


class MeetingService:
    """One per request: the announcer, the settings, the token minter and recording_processor's
    client (ending a meeting ends its recordings' uploads)."""

    def __init__(
        self,
        announcer: Announcer,
        settings: MeetingSettings,
        tokens: MeetingTokens,
        media: RecordingsClient,
    ) -> None:
        self.announcer = announcer
        self.settings = settings
        self.tokens = tokens
        self.media = media

    async def create(
        self,
        session: AsyncSession,
        tenant_id: str,
        *,
        title: str,
        starts_at: datetime | None,
        max_participants: int | None,
        waiting_room: bool,
        locked: bool,
        recording_allowed: bool,
    ) -> Meeting:
        meeting = Meeting(
            id=new_id(),
            tenant_id=tenant_id,
            title=title,
            status="scheduled",
            starts_at=_aware(starts_at),
            max_participants=self._capacity(max_participants),
            waiting_room=waiting_room,
            locked=locked,
            recording_allowed=recording_allowed,
            event_sequence=0,
        )
        await MeetingRepository(session).add(meeting)
        if starts_at is None:  # instant
            await go_live(session, self.announcer, meeting)
        return meeting

    async def get(self, session: AsyncSession, tenant_id: str, meeting_id: str) -> Meeting:
        meeting = await MeetingRepository(session).get(tenant_id, meeting_id)
        if meeting is None:
            raise MeetingNotFound(f"Meeting {meeting_id} does not exist.")
        return meeting

    async def page(
        self,
        session: AsyncSession,
        tenant_id: str,
        *,
        status: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Meeting]:
        return await MeetingRepository(session).page(
            tenant_id, status=status, limit=limit, cursor=cursor
        )

    async def update(
        self, session: AsyncSession, tenant_id: str, meeting_id: str, changes: dict[str, Any]
    ) -> Meeting:
        """Change the title, start time or settings of a meeting that has not ended."""
        meeting = await open_meeting(session, tenant_id, meeting_id)
        if "max_participants" in changes:
            changes["max_participants"] = self._capacity(changes["max_participants"])
        if "starts_at" in changes:
            changes["starts_at"] = _aware(changes["starts_at"])
        for name, value in changes.items():
            setattr(meeting, name, value)
        meeting.updated_at = utcnow()
        await session.flush()
        return meeting

    async def end(self, session: AsyncSession, tenant_id: str, meeting_id: str) -> Meeting:
        """End the meeting: everyone in leaves, recordings stop, breakout rooms close. Ending
        an ended meeting answers it as it is."""
        meeting = await locked_meeting(session, tenant_id, meeting_id)
        if meeting.status == "ended":
            return meeting
        await end_meeting(session, self.announcer, self.media, meeting, by=None)
        return meeting

    async def mint(
        self,
        session: AsyncSession,
        tenant_id: str,
        meeting_id: str,
        *,
        name: str,
        role: MeetingRole,
        grants: dict[str, bool],
        ttl_seconds: int | None,
    ) -> Minted:
        """A new participant of the meeting and its token: the role's grants, changed by
        ``grants``, valid for ``ttl_seconds`` (the configured default when None)."""
        meeting = await open_meeting(session, tenant_id, meeting_id)
        ttl = ttl_seconds or self.settings.token_ttl_seconds
        if ttl > self.settings.max_token_ttl_seconds:
            raise ValidationFailed(
                f"ttl_seconds is at most {self.settings.max_token_ttl_seconds} here."
            )
        base = MeetingGrants.for_role(role)
        granted = {name: grants.get(name, getattr(base, name)) for name in GRANT_NAMES}
        now = time.time()
        expires_at = int(now) + ttl
        participant = Participant(
            id=new_id(),
            tenant_id=tenant_id,
            meeting_id=meeting.id,
            name=name,
            role=role,
            grants=granted,
            token_id=str(uuid.uuid4()),
            token_expires_at=datetime.fromtimestamp(expires_at, UTC),
            status="invited",
            room="main",
        )
        await ParticipantRepository(session).add(participant)
        token = self.tokens.mint(
            MeetingToken(
                tenant_id=tenant_id,
                meeting_id=meeting.id,
                participant_id=participant.id,
                name=name,
                role=role,
                grants=MeetingGrants(**granted),
                expires_at=expires_at,
                token_id=participant.token_id,
            ),
            now=now,
        )
        return Minted(token, participant)

    async def participants(
        self,
        session: AsyncSession,
        tenant_id: str,
        meeting_id: str,
        *,
        status: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Participant]:
        await self.get(session, tenant_id, meeting_id)
        return await ParticipantRepository(session).page(
            tenant_id, meeting_id, status=status, limit=limit, cursor=cursor
        )

    async def recordings(
        self,
        session: AsyncSession,
        tenant_id: str,
        meeting_id: str,
        *,
        limit: int,
        cursor: str | None,
    ) -> Page[MeetingRecording]:
        await self.get(session, tenant_id, meeting_id)
        return await MeetingRecordingRepository(session).page(
            tenant_id, meeting_id, limit=limit, cursor=cursor
        )

    def _capacity(self, wanted: int | None) -> int:
        if wanted is None:
            return self.settings.default_max_participants
        if wanted > self.settings.max_participants_limit:
            raise ValidationFailed(
                f"max_participants is at most {self.settings.max_participants_limit} here."
            )
        return wanted


async def end_meeting(
    session: AsyncSession,
    announcer: Announcer,
    media: RecordingsClient,
    meeting: Meeting,
    *,
    by: str | None,
) -> None:
    """Everyone leaves, recordings stop (their uploads ended at the bytes stored once this
    commits), breakout rooms close, then ``meeting.ended``."""
    meeting.status = "ended"
    meeting.ended_at = utcnow()
    tenant_id = meeting.tenant_id
    stopped = list(await MeetingRecordingRepository(session).active(tenant_id, meeting.id))
    for recording in stopped:
        recording.status = "stopped"
        recording.stopped_at = utcnow()
        recording.stopped_by = by
        await announcer.announce(
            session, meeting, MEETING_RECORDING_STOPPED, recording_id=recording.id
        )
    end_uploads_after_commit(session, media, stopped)
    for room in await BreakoutRoomRepository(session).open_rooms(tenant_id, meeting.id):
        room.status = "closed"
    present = await ParticipantRepository(session).of_meeting(
        tenant_id, meeting.id, statuses=("joined", "waiting")
    )
    for participant in present:
        await leave(session, announcer, meeting, participant, reason="ended")
    await announcer.announce(session, meeting, MEETING_ENDED)


def _aware(moment: datetime | None) -> datetime | None:
    """A time without a zone is taken as UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)
