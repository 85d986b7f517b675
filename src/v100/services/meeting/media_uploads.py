"""Ending a stopped recording's upload in recording_processor (docs/adr/0057): once the stop
commits, recording_processor is asked to end the upload at the bytes stored, since the host's
page may be gone and never send its last chunk. A lost call is not retried here:
recording_processor's idle sweep ends the upload the same way later."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from v100.contracts.recordings import RecordingsClient
from v100.kit.db import session_hooks
from v100.kit.observability import get_logger
from v100.services.meeting.models import MeetingRecording

__all__ = ["end_uploads_after_commit"]

_log = get_logger("v100.meeting.recordings")


def end_uploads_after_commit(
    session: AsyncSession, client: RecordingsClient, stopped: list[MeetingRecording]
) -> None:
    """Once ``session`` commits, ask recording_processor to end the uploads of the
    ``stopped`` recordings at the bytes stored (idempotent there: a recording past uploading
    answers as it is)."""
    media = [(r.tenant_id, r.media_recording_id) for r in stopped if r.media_recording_id]
    if not media:
        return

    async def end() -> None:
        for tenant_id, media_recording_id in media:
            try:
                await client.end_upload(tenant_id, media_recording_id)
            except Exception as exc:  # a lost call: the idle sweep ends the upload later
                _log.warning(
                    "recording upload not ended", recording=media_recording_id, error=repr(exc)
                )

    session_hooks(session).after_commit(end)
