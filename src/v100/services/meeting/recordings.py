"""A meeting's recordings, as a lifecycle (the record grant): start, stop, list. The media
itself goes to recording_processor, which the recorder (the browser's MediaRecorder) uploads to
with the meeting's id (docs/recordings.md); this service keeps when a recording ran and who
started and stopped it, and announces ``meeting.recording.started`` and ``.stopped``.
No HTTP objects in here."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from v100.contracts.events import MEETING_RECORDING_STARTED, MEETING_RECORDING_STOPPED
from v100.kit.db import new_id, utcnow
from v100.services.meeting.access import Caller
from v100.services.meeting.announcer import Announcer
from v100.services.meeting.errors import (
    MeetingNotLive,
    RecordingNotActive,
    RecordingNotAllowed,
    RecordingNotFound,
)
from v100.services.meeting.lifecycle import locked_meeting, open_meeting
from v100.services.meeting.models import MeetingRecording
from v100.services.meeting.repository import MeetingRecordingRepository

__all__ = ["Recordings"]


class Recordings:
    def __init__(self, announcer: Announcer) -> None:
        self.announcer = announcer

    async def start(self, session: AsyncSession, caller: Caller) -> MeetingRecording:
        """Start recording the live meeting; while one runs, starting answers it (one at a
        time)."""
        caller.require("record")
        meeting = await open_meeting(session, caller.tenant_id, caller.participant.meeting_id)
        if not meeting.recording_allowed:
            raise RecordingNotAllowed(f"Meeting {meeting.id} does not allow recording.")
        if meeting.status != "live":
            raise MeetingNotLive(f"Meeting {meeting.id} is {meeting.status}.")
        repository = MeetingRecordingRepository(session)
        running = await repository.active(meeting.tenant_id, meeting.id)
        if running:
            return running[0]
        recording = MeetingRecording(
            id=new_id(),
            tenant_id=meeting.tenant_id,
            meeting_id=meeting.id,
            status="recording",
            started_by=caller.participant.id,
            started_at=utcnow(),
        )
        await repository.add(recording)
        await self.announcer.announce(
            session, meeting, MEETING_RECORDING_STARTED, caller.participant,
            recording_id=recording.id,
        )  # fmt: skip
        return recording

    async def stop(
        self, session: AsyncSession, caller: Caller, recording_id: str
    ) -> MeetingRecording:
        caller.require("record")
        meeting = await locked_meeting(session, caller.tenant_id, caller.participant.meeting_id)
        recording = await MeetingRecordingRepository(session).get(meeting.tenant_id, recording_id)
        if recording is None or recording.meeting_id != meeting.id:
            raise RecordingNotFound(f"Recording {recording_id} is not this meeting's.")
        if recording.status != "recording":
            raise RecordingNotActive(f"Recording {recording_id} has stopped.")
        recording.status = "stopped"
        recording.stopped_by = caller.participant.id
        recording.stopped_at = utcnow()
        await self.announcer.announce(
            session, meeting, MEETING_RECORDING_STOPPED, caller.participant,
            recording_id=recording.id,
        )  # fmt: skip
        return recording
