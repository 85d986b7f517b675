"""A meeting recording's chunked ingest over kit.tus (docs/adr/0057): the recording page
appends the WebM that MediaRecorder writes, a chunk every few seconds, to one tus upload made
with the recording (deferred length), at ``/v1/recordings/uploads/<capability>/<upload id>``.
The capability in the path is the credential (capabilities.py): HEAD tells the page the
offset stored, PATCH appends at it, and the PATCH that carries ``Upload-Length`` ends the
upload. When the last byte is stored, the recording moves to ``processing`` and its job is
queued, in the transaction that marks the upload completed.

A page that is gone never sends that last PATCH: the meeting service ends the upload at the
bytes stored when it stops the recording (``end_meeting_upload``), and the expiry sweep does the
same for an upload idle past ``meeting_upload_idle_seconds`` instead of dropping it. What was
stored is a WebM cut at a chunk boundary, which plays (MediaRecorder's chunks are whole
clusters); with nothing stored the recording is errored ``recording-empty``."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.routing import BaseRoute

from v100.kit.db import session_hooks, unit_of_work, utcnow
from v100.kit.http import runtime_of
from v100.kit.jobs import enqueue
from v100.kit.tus import (
    InvalidTusRequest,
    TusServer,
    TusSettings,
    TusUpload,
    TusUploadNotFound,
    TusUploads,
    UploadOwner,
)
from v100.services.recording_processor.capabilities import UploadCapabilities
from v100.services.recording_processor.errors import EmptyRecording
from v100.services.recording_processor.lifecycle import mark_errored
from v100.services.recording_processor.models import Recording
from v100.services.recording_processor.progress import Announcer, snapshot
from v100.services.recording_processor.repository import RecordingRepository
from v100.services.recording_processor.resources import RESOURCES
from v100.services.recording_processor.settings import RecordingProcessorSettings

__all__ = [
    "UPLOADS_PATH",
    "end_meeting_upload",
    "meeting_upload_routes",
    "meeting_upload_server",
    "upload_path",
]

# Under the gateway's public prefixes: the path carries its own credential.
UPLOADS_PATH = "/v1/recordings/uploads/{token}"
KEY_PREFIX = "recordings/meeting-uploads"
WEBM = "video/webm"


def upload_path(token: str, upload_id: str) -> str:
    return f"/v1/recordings/uploads/{token}/{upload_id}"


async def on_complete(session: AsyncSession, upload: TusUpload) -> None:
    """The last byte is stored: the recording's source is the upload's object; queue its
    processing (idempotent: a retried hook finds the recording past ``uploading``)."""
    if upload.tenant_id is None or upload.user_id is None:
        return
    announcer = Announcer((await RESOURCES.current()).bus)
    if upload.offset == 0:  # ended before any chunk was stored (or never begun)
        recording = await RecordingRepository(session).fresh(upload.tenant_id, upload.user_id)
        if recording is not None:
            await mark_errored(
                session, announcer, recording, EmptyRecording.slug,
                "The recording ended before any of its content was uploaded.",
                expect_status="uploading",
            )  # fmt: skip
        return
    done = await RecordingRepository(session).change(
        upload.tenant_id,
        upload.user_id,
        expect_status="uploading",
        status="processing",
        stage="queued",
        percent=0,
        source_key=upload.object_key,
        source_size=upload.offset,
        source_content_type=upload.content_type or WEBM,
        uploaded_at=utcnow(),
    )
    if done is None:
        return
    done.job_id = await enqueue(
        session,
        "recording_processor.process_recording",
        done.id,
        tenant_id=done.tenant_id,
        dedupe_key=f"recording:{done.id}",
    )
    await session.flush()
    state, tenant_id = snapshot(done), done.tenant_id
    session_hooks(session).after_commit(lambda: announcer.changed(tenant_id, state, uploaded=True))


async def _capability_owner(request: Request) -> UploadOwner:
    """``authorize``: the capability in the path admits its one upload, and only that."""
    runtime = runtime_of(request)
    grant = runtime.get(UploadCapabilities).verify(request.path_params["token"])
    upload_id = request.path_params.get("upload_id")
    if upload_id is None:
        raise InvalidTusRequest("The upload exists already: HEAD and PATCH its URL.")
    if upload_id != grant.upload_id:
        raise TusUploadNotFound(f"no upload {upload_id!r}")
    return UploadOwner(tenant_id=grant.tenant_id, user_id=grant.recording_id)


@lru_cache(maxsize=8)
def _server(max_size: int, idle_seconds: int) -> TusServer:
    settings = TusSettings(
        max_size=max_size,
        key_prefix=KEY_PREFIX,
        expires_in=timedelta(seconds=idle_seconds),
        # A page that went quiet for the whole idle window is gone: what it stored is kept.
        end_when_expired=True,
    )
    return TusServer(authorize=_capability_owner, settings=settings, on_complete=on_complete)


def meeting_upload_server(settings: RecordingProcessorSettings) -> TusServer:
    """The tus endpoint of meeting recordings under ``settings`` (its limit: the largest
    recording accepted)."""
    return _server(settings.max_recording_bytes, settings.meeting_upload_idle_seconds)


def meeting_upload_routes(settings: RecordingProcessorSettings) -> list[BaseRoute]:
    """The tus routes, public (the capability is checked by ``authorize``), to put before the
    JSON routes."""
    return list[BaseRoute](meeting_upload_server(settings).routes(UPLOADS_PATH, scope=None))


async def end_meeting_upload(uploads: TusUploads, recording: Recording) -> None:
    """End the recording's upload at the bytes stored (its page is gone, or the meeting
    stopped it): the recording moves to processing (errored ``recording-empty`` with nothing
    stored) in the transaction that completes the upload. Ending an ended one does nothing;
    one whose upload record is gone is errored. ``UploadLocked`` (423) while a chunk is still
    being written past ``head_waits_for_writer``: ask again."""
    if recording.status != "uploading" or recording.tus_upload_id is None:
        return
    owner = UploadOwner(tenant_id=recording.tenant_id, user_id=recording.id)
    try:
        await uploads.end(recording.tus_upload_id, owner)
    except TusUploadNotFound:
        async with unit_of_work(uploads.sessions) as session:
            announcer = Announcer((await RESOURCES.current()).bus)
            await mark_errored(
                session, announcer, recording, EmptyRecording.slug,
                "The recording's upload was gone when it ended.", expect_status="uploading",
            )  # fmt: skip
