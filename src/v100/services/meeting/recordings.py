"""A meeting's recordings, as a lifecycle (the record grant): start, stop, list, with their
media. The media lives in recording_processor (docs/adr/0057): starting a recording asks it for
a recording of this meeting, whose answer carries the upload capability the host's recording
page appends WebM chunks to (page/recorder.js); the row keeps that recording's id, and reading
a recording asks recording_processor where its media stands (processing progress, download
links once ready). This service keeps when a recording ran and who started and stopped it, and
announces ``meeting.recording.started`` and ``.stopped``.

Once a stop commits (the room route, ``POST /v1/meetings/{id}/end``, the host ending the
meeting), recording_processor is told to end the recording's upload at the bytes stored: the
host's page may be gone and never send its last chunk. A page still alive stopped its recorder
first (its last chunk ended the upload, so this changes nothing); one that learns of the stop
later gets 409 on its last chunk and says the recording was ended elsewhere. A call that fails
is not retried here: recording_processor's idle sweep ends the upload the same way later.
No HTTP objects in here."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from v100.contracts.events import MEETING_RECORDING_STARTED, MEETING_RECORDING_STOPPED
from v100.contracts.recordings import RecordingMedia, RecordingMissing, RecordingsClient
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
from v100.services.meeting.media_uploads import end_uploads_after_commit
from v100.services.meeting.models import MeetingRecording
from v100.services.meeting.repository import MeetingRecordingRepository

__all__ = ["Recordings", "media_of", "media_of_meeting"]


async def media_of(client: RecordingsClient, recording: MeetingRecording) -> RecordingMedia | None:
    """The recording's media with fresh download links; None for a recording made before
    recordings had media (or whose media is gone)."""
    if recording.media_recording_id is None:
        return None
    try:
        return await client.media(recording.tenant_id, recording.media_recording_id)
    except RecordingMissing:
        return None


async def media_of_meeting(
    client: RecordingsClient, tenant_id: str, meeting_id: str
) -> dict[str, RecordingMedia]:
    """The meeting's media recordings by id (one call, no links)."""
    return {m.recording_id: m for m in await client.of_meeting(tenant_id, meeting_id)}


class Recordings:
    def __init__(self, announcer: Announcer, media: RecordingsClient) -> None:
        self.announcer = announcer
        self.media = media

    async def start(
        self, session: AsyncSession, caller: Caller
    ) -> tuple[MeetingRecording, RecordingMedia]:
        """Start recording the live meeting, with the media recording its page uploads to;
        while one runs, starting answers it (one at a time) with the same upload capability."""
        caller.require("record")
        meeting = await open_meeting(session, caller.tenant_id, caller.participant.meeting_id)
        if not meeting.recording_allowed:
            raise RecordingNotAllowed(f"Meeting {meeting.id} does not allow recording.")
        if meeting.status != "live":
            raise MeetingNotLive(f"Meeting {meeting.id} is {meeting.status}.")
        repository = MeetingRecordingRepository(session)
        running = await repository.active(meeting.tenant_id, meeting.id)
        if running:
            return running[0], await self._media_for(running[0], meeting.title)
        recording = MeetingRecording(
            id=new_id(),
            tenant_id=meeting.tenant_id,
            meeting_id=meeting.id,
            status="recording",
            started_by=caller.participant.id,
            started_at=utcnow(),
        )
        # Asked under the recording's own id: a retry (this transaction rolled back, or the
        # answer lost) gets the same media recording back, never a second one.
        media = await self._media_for(recording, meeting.title)
        await repository.add(recording)
        await self.announcer.announce(
            session, meeting, MEETING_RECORDING_STARTED, caller.participant,
            recording_id=recording.id,
        )  # fmt: skip
        return recording, media

    async def _media_for(self, recording: MeetingRecording, title: str) -> RecordingMedia:
        media = await self.media.for_meeting(
            recording.tenant_id, recording.meeting_id, key=f"meeting-recording:{recording.id}",
            title=title,
        )  # fmt: skip
        recording.media_recording_id = media.recording_id
        return media

    async def read(
        self, session: AsyncSession, caller: Caller, recording_id: str
    ) -> tuple[MeetingRecording, RecordingMedia | None]:
        """One of the meeting's recordings with its media as it stands (record grant)."""
        caller.require("record")
        recording = await MeetingRecordingRepository(session).get(caller.tenant_id, recording_id)
        if recording is None or recording.meeting_id != caller.participant.meeting_id:
            raise RecordingNotFound(f"Recording {recording_id} is not this meeting's.")
        return recording, await media_of(self.media, recording)

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
        end_uploads_after_commit(session, self.media, [recording])
        return recording
