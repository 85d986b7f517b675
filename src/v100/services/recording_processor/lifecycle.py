"""The recording state machine's moves shared by ingest and processing:

    uploading ──content stored──▶ processing ──MP4 and thumbnail stored──▶ ready
        │                             │
        └──too large, empty──▶ errored ◀──unreadable, no streams, attempts exhausted

Each move is a conditional update (it names the state it leaves) in the caller's unit of work,
announced after commit."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from v100.kit.db import session_hooks
from v100.services.recording_processor.models import Recording
from v100.services.recording_processor.progress import Announcer, snapshot
from v100.services.recording_processor.repository import RecordingRepository

__all__ = ["mark_errored"]


async def mark_errored(
    session: AsyncSession,
    announcer: Announcer,
    recording: Recording,
    error: str,
    detail: str,
    *,
    expect_status: str | tuple[str, ...] = ("uploading", "processing"),
    expect_upload_id: str | None = None,
) -> Recording | None:
    """Move ``recording`` to errored with a problem slug and a reason; None when it had
    already left ``expect_status`` (another request or job settled it first)."""
    changed = await RecordingRepository(session).change(
        recording.tenant_id,
        recording.id,
        expect_status=expect_status,
        expect_upload_id=expect_upload_id,
        status="errored",
        stage="errored",
        error=error,
        error_detail=detail[:500],
        upload_id=None,
    )
    if changed is not None:
        state = snapshot(changed)
        session_hooks(session).after_commit(lambda: announcer.changed(changed.tenant_id, state))
    return changed
