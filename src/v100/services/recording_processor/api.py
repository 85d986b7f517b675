"""recording_processor's endpoints under ``/v1/recordings``: create a recording, stream its
content in (PUT, or in the creating POST itself), read it with presigned download links, list
them, and follow its progress over a WebSocket. Thin: parse, call ``RecordingService``, shape."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Query, Request, WebSocket
from pydantic import ValidationError
from starlette.responses import JSONResponse

from v100.kit.auth import Principal
from v100.kit.db import InvalidCursorError, unit_of_work
from v100.kit.errors import BadRequest, PayloadTooLarge, ValidationFailed
from v100.kit.http import Authorized, RuntimeDep, SessionDep
from v100.kit.idempotency import IdempotencyKey, idempotent
from v100.services.recording_processor.deps import ServiceDep, SettingsDep
from v100.services.recording_processor.live import follow
from v100.services.recording_processor.models import Recording
from v100.services.recording_processor.schemas import (
    DownloadOut,
    RecordingCreate,
    RecordingError,
    RecordingOut,
    RecordingPage,
)
from v100.services.recording_processor.service import Download, RecordingService

RecordingsRead = Annotated[Principal, Depends(Authorized("recordings:read"))]
RecordingsWrite = Annotated[Principal, Depends(Authorized("recordings:write"))]

__all__ = ["recordings_router"]

PREFIX = "/v1/recordings"
recordings_router = APIRouter(prefix=PREFIX, tags=["recordings"])

Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(max_length=200)]
_MAX_JSON = 64 * 1024
_CREATE_BODY = {
    "requestBody": {
        "description": "JSON metadata (then PUT the content), or the recording itself "
        "(any other Content-Type; title and meeting_id as query parameters).",
        "content": {
            "application/json": {"schema": RecordingCreate.model_json_schema()},
            "video/webm": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def _out(recording: Recording, downloads: list[Download] | None = None) -> RecordingOut:
    error = None
    if recording.error is not None:
        error = RecordingError(type=f"/problems/{recording.error}", detail=recording.error_detail)
    return RecordingOut(
        id=recording.id,
        meeting_id=recording.meeting_id,
        title=recording.title,
        status=recording.status,
        stage=recording.stage,
        percent=recording.percent,
        error=error,
        upload_url=f"{PREFIX}/{recording.id}/content" if recording.status == "uploading" else None,
        progress_url=f"{PREFIX}/{recording.id}/progress",
        source_size=recording.source_size,
        duration=recording.duration,
        width=recording.width,
        height=recording.height,
        audio_only=recording.audio_only,
        created_at=recording.created_at,
        updated_at=recording.updated_at,
        uploaded_at=recording.uploaded_at,
        ready_at=recording.ready_at,
        downloads=None
        if downloads is None
        else [DownloadOut.model_validate(link, from_attributes=True) for link in downloads],
    )


def _declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    return int(value) if value is not None and value.isdigit() else None


async def _receive(
    service: RecordingService, request: Request, principal: Principal, recording_id: str
) -> JSONResponse:
    recording = await service.receive(
        principal.tenant_id,
        recording_id,
        request.stream(),
        declared_length=_declared_length(request),
        content_type=request.headers.get("content-type"),
    )
    return JSONResponse(_out(recording).model_dump(mode="json"), status_code=202)


@recordings_router.post(
    "", status_code=201, response_model=RecordingOut, openapi_extra=_CREATE_BODY
)
async def create_recording(
    request: Request,
    key: IdempotencyKey,
    principal: RecordingsWrite,
    service: ServiceDep,
    title: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    meeting_id: Annotated[str | None, Query(min_length=1, max_length=36)] = None,
) -> JSONResponse:
    """Create a recording (JSON metadata), or create it and upload its content in one request."""
    content_type = request.headers.get("content-type", "")
    raw = not content_type.startswith("application/json") and _declared_length(request) != 0
    if raw:
        body = RecordingCreate.model_validate(
            {k: v for k, v in {"title": title, "meeting_id": meeting_id}.items() if v is not None}
        )
    else:
        body = await _json_body(request)

    # Its own unit of work: the upload that may follow must not hold a transaction open.
    operation = "create_recording_with_content" if raw else "create_recording"
    async with unit_of_work(service.sessions) as session:
        recording = service.create(
            session, principal.tenant_id, title=body.title, meeting_id=body.meeting_id
        )
        created = await idempotent(
            session, principal.tenant_id, key, operation, body, recording, _out, status=201
        )
    if not raw:
        return created
    recording_id = orjson.loads(created.body)["id"]
    async with unit_of_work(service.sessions) as session:
        current = await service.get(session, principal.tenant_id, recording_id)
    if current.status != "uploading":  # a retry of an upload that already went through
        return JSONResponse(_out(current).model_dump(mode="json"), status_code=202)
    return await _receive(service, request, principal, recording_id)


async def _json_body(request: Request) -> RecordingCreate:
    too_large = PayloadTooLarge(f"Recording metadata is at most {_MAX_JSON} bytes of JSON.")
    if (_declared_length(request) or 0) > _MAX_JSON:
        raise too_large
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > _MAX_JSON:
            raise too_large
    try:
        return RecordingCreate.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        raise ValidationFailed(
            "The recording metadata is not valid.", extra={"errors": errors}
        ) from None


@recordings_router.put("/{recording_id}/content", status_code=202, response_model=RecordingOut)
async def upload_content(
    recording_id: str, request: Request, principal: RecordingsWrite, service: ServiceDep
) -> JSONResponse:
    """Stream a recording's content in (WebM; at most the configured limit, 413 beyond)."""
    return await _receive(service, request, principal, recording_id)


@recordings_router.get("", response_model=RecordingPage)
async def list_recordings(
    principal: RecordingsRead,
    service: ServiceDep,
    session: SessionDep,
    meeting_id: Annotated[str | None, Query(max_length=36)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> RecordingPage:
    """The tenant's recordings, newest first (optionally of one meeting)."""
    try:
        page = await service.page(
            session, principal.tenant_id, meeting_id=meeting_id, limit=limit, cursor=cursor
        )
    except InvalidCursorError:
        raise BadRequest("The cursor is not valid.") from None
    return RecordingPage(items=[_out(r) for r in page.items], next_cursor=page.next_cursor)


@recordings_router.get("/{recording_id}", response_model=RecordingOut)
async def get_recording(
    recording_id: str, principal: RecordingsRead, service: ServiceDep, session: SessionDep
) -> RecordingOut:
    """One recording, with presigned links to its MP4, thumbnail and source."""
    recording = await service.get(session, principal.tenant_id, recording_id)
    return _out(recording, await service.downloads(recording))


@recordings_router.websocket("/{recording_id}/progress")
async def recording_progress(
    websocket: WebSocket,
    recording_id: str,
    principal: RecordingsRead,
    runtime: RuntimeDep,
    settings: SettingsDep,
) -> None:
    """Progress messages (stage, percent) until ready or errored; the first is the current state."""
    await follow(websocket, runtime, settings, principal, recording_id)
