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
    MEETINGS_STREAM,
    MeetingEventData,
    MeetingParticipantInfo,
    meeting_live_channel,
)
from v100.kit.bus import Bus, Event
from v100.kit.db import session_hooks
from v100.kit.errors import BackendUnavailable
from v100.kit.observability import get_logger
from v100.services.meeting.models import Meeting, Participant

__all__ = ["SOURCE", "Announcer", "participant_info"]

SOURCE = "meeting"
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
    """Numbers a meeting's events and publishes them on one bus after commit."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus

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
