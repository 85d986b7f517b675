"""recording_processor's routes for the platform's other services, under the scope
``service:recordings`` that no tenant credential can hold (``contracts/recordings.py`` is their
client; the tenant is the internal token's): the meeting service makes a recording of one of
its meetings, with the upload capability its recording page appends chunks to, reads where its
recordings stand, and ends a stopped recording's upload at the bytes stored (docs/adr/0057)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.responses import JSONResponse

from v100.contracts.recordings import (
    END_UPLOAD_PATH,
    MEDIA_PATH,
    MEETING_RECORDINGS_PATH,
    MeetingRecordingCreate,
    RecordingDownload,
    RecordingMedia,
)
from v100.kit.auth import Principal
from v100.kit.db import InvalidCursorError, new_id, unit_of_work
from v100.kit.errors import BadRequest
from v100.kit.http import Authorized, Listing, Provided, SessionDep
from v100.kit.idempotency import IdempotencyKey, fingerprint, idempotent, recall, replay_response
from v100.kit.tus import TusUploadNotFound, UploadGone, UploadOwner
from v100.services.recording_processor.capabilities import UploadCapabilities
from v100.services.recording_processor.deps import ServiceDep, SettingsDep
from v100.services.recording_processor.meeting_uploads import (
    WEBM,
    end_meeting_upload,
    meeting_upload_server,
    upload_path,
)
from v100.services.recording_processor.models import Recording
from v100.services.recording_processor.service import Download, RecordingService
from v100.services.recording_processor.settings import RecordingProcessorSettings

__all__ = ["internal_router"]

ServiceRecordings = Annotated[Principal, Depends(Authorized("service:recordings"))]
CapabilitiesDep = Annotated[UploadCapabilities, Depends(Provided(UploadCapabilities))]

internal_router = APIRouter(tags=["recordings (platform services)"])


def _media(
    recording: Recording,
    *,
    downloads: list[Download] | None = None,
    received: int | None = None,
    upload: tuple[str, int] | None = None,
) -> RecordingMedia:
    return RecordingMedia(
        recording_id=recording.id,
        meeting_id=recording.meeting_id,
        status=recording.status,
        stage=recording.stage,
        percent=recording.percent,
        received=received,
        upload_url=upload[0] if upload else None,
        upload_expires_at=datetime.fromtimestamp(upload[1], UTC) if upload else None,
        duration=recording.duration,
        audio_only=recording.audio_only,
        error=recording.error,
        error_detail=recording.error_detail,
        downloads=[
            RecordingDownload.model_validate(link, from_attributes=True) for link in downloads or []
        ],
    )


def _capability(
    settings: RecordingProcessorSettings,
    capabilities: UploadCapabilities,
    recording: Recording,
) -> tuple[str, int]:
    assert recording.tus_upload_id is not None
    expires_at = int(time.time()) + settings.upload_url_seconds
    token = capabilities.sign(
        recording.tenant_id, recording.id, recording.tus_upload_id, expires_at
    )
    base = settings.platform.public_url.rstrip("/")
    return f"{base}{upload_path(token, recording.tus_upload_id)}", expires_at


@internal_router.post(MEETING_RECORDINGS_PATH, status_code=201, response_model=RecordingMedia)
async def record_meeting(
    body: MeetingRecordingCreate,
    key: IdempotencyKey,
    principal: ServiceRecordings,
    service: ServiceDep,
    settings: SettingsDep,
    capabilities: CapabilitiesDep,
) -> JSONResponse:
    """A new recording of the meeting, uploading, with the capability URL its page appends
    WebM chunks to over tus (the same answer again for the same Idempotency-Key)."""
    tenant_id, meeting_id = principal.tenant_id, body.meeting_id
    operation = "record_meeting"
    print_ = fingerprint(operation, body.model_dump(mode="json"))
    async with unit_of_work(service.sessions) as session:
        earlier = await recall(session, tenant_id, key, print_)
    if earlier is not None:
        return replay_response(earlier, replayed=True)
    # The tus upload first, in its own transaction (the store's multipart upload with it): a
    # race lost to a concurrent retry leaves it unused, and it expires unwritten.
    recording_id = new_id()
    uploads = meeting_upload_server(settings).uploads(service.sessions, service.storage)
    upload = await uploads.create(
        UploadOwner(tenant_id=tenant_id, user_id=recording_id),
        length=None,
        metadata={"meeting_id": meeting_id},
        content_type=WEBM,
    )
    async with unit_of_work(service.sessions) as session:
        work = service.create(
            session, tenant_id, title=body.title, meeting_id=meeting_id,
            recording_id=recording_id, tus_upload_id=upload.id,
        )  # fmt: skip
        return await idempotent(
            session, tenant_id, key, operation, body, work,
            lambda made: _media(made, received=0, upload=_capability(settings, capabilities, made)),
            status=201,
        )  # fmt: skip


@internal_router.get(MEETING_RECORDINGS_PATH, response_model=Listing[RecordingMedia])
async def meeting_recordings(
    meeting_id: Annotated[str, Query(min_length=1, max_length=36)],
    principal: ServiceRecordings,
    service: ServiceDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Listing[RecordingMedia]:
    """The meeting's recordings, newest first, without links."""
    try:
        page = await service.page(
            session, principal.tenant_id, meeting_id=meeting_id, limit=limit, cursor=cursor
        )
    except InvalidCursorError:
        raise BadRequest("The cursor is not valid.") from None
    return Listing[RecordingMedia](
        items=[_media(r) for r in page.items], next_cursor=page.next_cursor
    )


@internal_router.get(MEDIA_PATH, response_model=RecordingMedia)
async def recording_media(
    recording_id: str,
    principal: ServiceRecordings,
    service: ServiceDep,
    session: SessionDep,
    settings: SettingsDep,
) -> RecordingMedia:
    """Where one recording stands: the bytes received while uploading, presigned links once
    ready."""
    recording = await service.get(session, principal.tenant_id, recording_id)
    return _media(
        recording,
        downloads=await service.downloads(recording),
        received=await _received(service, settings, recording),
    )


async def _received(
    service: RecordingService, settings: RecordingProcessorSettings, recording: Recording
) -> int | None:
    if recording.status != "uploading" or recording.tus_upload_id is None:
        return recording.source_size
    uploads = meeting_upload_server(settings).uploads(service.sessions, service.storage)
    owner = UploadOwner(tenant_id=recording.tenant_id, user_id=recording.id)
    try:
        return (await uploads.get(recording.tus_upload_id, owner)).offset
    except (TusUploadNotFound, UploadGone):
        return None


@internal_router.post(END_UPLOAD_PATH, response_model=RecordingMedia)
async def end_upload(
    recording_id: str,
    principal: ServiceRecordings,
    service: ServiceDep,
    settings: SettingsDep,
) -> RecordingMedia:
    """End a stopped meeting recording's upload at the bytes stored, which starts their
    processing (errored ``recording-empty`` with none); past uploading, the recording as it
    is. 423 ``upload-locked`` while a chunk is still being written: ask again."""
    async with unit_of_work(service.sessions) as session:
        recording = await service.get(session, principal.tenant_id, recording_id)
    uploads = meeting_upload_server(settings).uploads(service.sessions, service.storage)
    await end_meeting_upload(uploads, recording)
    async with unit_of_work(service.sessions) as session:
        recording = await service.get(session, principal.tenant_id, recording_id)
    return _media(recording, received=recording.source_size)
