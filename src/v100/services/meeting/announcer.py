"""Telling the world what happened in a meeting. Each event takes the meeting's next sequence
number in the transaction that made the change (the meeting's row is locked: numbers follow the
commit order) and is published after commit: every event to the meeting's live channel
(pub/sub), the durable ones also to the ``meetings`` stream, which the integration service
turns into webhooks and the event stream. Best effort after commit: the rows are the truth."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from v100.contracts.events import (
    MEETING_DURABLE_EVENT_TYPES,
    MEETING_MEDIA_CHANGED,
    MEETING_PARTICIPANT_JOINED,
    MEETING_PARTICIPANT_LEFT,
    MEETING_PARTICIPANT_MOVED,
    MEETINGS_STREAM,
    MeetingEventData,
    MeetingParticipantInfo,
    meeting_live_channel,
)
from v100.kit.bus import Bus, Event
from v100.kit.db import session_hooks
from v100.kit.errors import BackendUnavailable
from v100.kit.observability import get_logger
from v100.services.meeting.media import RoomMedia
from v100.services.meeting.models import Meeting, Participant

__all__ = ["SOURCE", "Announcer", "participant_info"]

SOURCE = "meeting"
# The moves that change how many are in a room, after which its media path is looked at.
_MOVES = frozenset(
    (MEETING_PARTICIPANT_JOINED, MEETING_PARTICIPANT_LEFT, MEETING_PARTICIPANT_MOVED)
)
_log = get_logger("v100.meeting.events")


def participant_info(participant: Participant) -> MeetingParticipantInfo:
    return MeetingParticipantInfo(
        id=participant.id,
        name=participant.name,
        role=participant.role,
        status=participant.status,
        room=participant.room,
    )


class Announcer:
    """Numbers a meeting's events and publishes them on one bus after commit. Every move in or
    out of a room is announced here, so here ``media`` (media.py) follows each room's size: it
    may put the room on the SFU or take it off, which is announced in turn."""

    def __init__(self, bus: Bus, media: RoomMedia | None = None) -> None:
        self.bus = bus
        self.media = media

    async def announce(
        self,
        session: AsyncSession,
        meeting: Meeting,
        event_type: str,
        participant: Participant | None = None,
        **fields: Any,
    ) -> MeetingEventData:
        """Number the event (``meeting`` is locked by the caller and already changed) and
        publish it once the transaction commits."""
        meeting.event_sequence += 1
        await session.flush()
        data = MeetingEventData(
            meeting_id=meeting.id,
            sequence=meeting.event_sequence,
            status=meeting.status,
            participant=None if participant is None else participant_info(participant),
            **fields,
        )
        event = Event(
            type=event_type,
            source=SOURCE,
            tenant_id=meeting.tenant_id,
            data=data.model_dump(mode="json", exclude_none=True),
        )
        session_hooks(session).after_commit(lambda: self._publish(event))
        if self.media is not None and participant is not None and event_type in _MOVES:
            rooms = {participant.room, fields.get("from_room") or participant.room}
            for room, media in await self.media.follow(session, meeting, rooms):
                await self.announce(session, meeting, MEETING_MEDIA_CHANGED, room=room, media=media)
        return data

    async def _publish(self, event: Event) -> None:
        meeting_id = str(event.data["meeting_id"])
        try:
            await self.bus.publish_ephemeral(meeting_live_channel(meeting_id), event.to_json())
        except BackendUnavailable as exc:
            _log.warning("meeting event not sent live", type=event.type, error=str(exc))
        if event.type not in MEETING_DURABLE_EVENT_TYPES:
            return
        try:
            await self.bus.publish(MEETINGS_STREAM, event)
        except BackendUnavailable as exc:
            _log.warning(
                "meeting event not published", type=event.type, meeting=meeting_id, error=str(exc)
            )
