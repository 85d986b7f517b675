"""transcription's endpoints under ``/v1/transcripts``: create a transcript from a URL or a
stored video (JSON) or from the file itself (``POST /v1/transcripts/files``, the raw body
streamed into storage), read one with its document, list them, delete one. Thin: parse, call
``TranscriptService``, shape."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import JSONResponse, Response

from v100.contracts.transcripts import TranscriptDocument
from v100.kit.auth import Principal
from v100.kit.db import InvalidCursorError, unit_of_work
from v100.kit.errors import PROBLEM_CONTENT_TYPE, BadRequest
from v100.kit.http import Authorized, SessionDep
from v100.kit.idempotency import IdempotencyKey, idempotent
from v100.services.transcription.deps import ServiceDep
from v100.services.transcription.models import Transcript, TranscriptStatus
from v100.services.transcription.schemas import (
    BackendName,
    Language,
    TranscriptCreate,
    TranscriptError,
    TranscriptOptions,
    TranscriptOut,
    TranscriptPage,
    TranscriptSource,
    UrlSource,
)

__all__ = ["PREFIX", "transcripts_router"]

TranscriptsRead = Annotated[Principal, Depends(Authorized("transcripts:read"))]
TranscriptsWrite = Annotated[Principal, Depends(Authorized("transcripts:write"))]

PREFIX = "/v1/transcripts"
FILES = f"{PREFIX}/files"
transcripts_router = APIRouter(prefix=PREFIX, tags=["transcripts"])

Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(max_length=200)]
# A file name to show with the transcript: one line, no control characters.
_NAME = r"^[^\x00-\x1f\x7f]+$"
_FILE_BODY = {
    "requestBody": {
        "required": True,
        "description": "The audio or video file itself (any container FFmpeg reads).",
        "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "audio/*": {"schema": {"type": "string", "format": "binary"}},
            "video/*": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


# A backend with no key here (Deepgram), or ``diarize: true`` where speakers cannot be found.
_NOT_CONFIGURED: dict[int | str, dict[str, Any]] = {
    501: {
        "description": "The backend, or the speaker diarization asked for, is not configured "
        "on this installation (problem+json, /problems/not-configured).",
        "content": {PROBLEM_CONTENT_TYPE: {}},
    }
}


def _out(row: Transcript, *, full: bool = True) -> TranscriptOut:
    error = None
    if row.error is not None:
        error = TranscriptError(type=f"/problems/{row.error}", detail=row.error_detail)
    document = None
    if full and row.status == TranscriptStatus.COMPLETED and row.document is not None:
        document = TranscriptDocument.model_validate(row.document)
    return TranscriptOut(
        id=row.id,
        status=row.status,
        source=TranscriptSource(
            kind=row.source_kind,
            url=row.source_url,
            video_id=row.source_video_id,
            name=row.source_name,
            content_type=row.source_content_type,
            size=row.source_size,
            session_id=row.source_session_id,
        ),
        backend=row.backend,
        automatic=row.automatic,
        diarize=row.diarize,
        language_requested=row.language_requested,
        language=row.language,
        language_probability=row.language_probability,
        duration=row.duration,
        speech_duration=row.speech_duration,
        word_count=row.word_count,
        text=None if document is None else document.text,
        document=document,
        credits_charged=row.credits_charged,
        error=error,
        created_at=row.created_at,
        updated_at=row.updated_at,
        completed_at=row.completed_at,
    )


@transcripts_router.post(
    "",
    status_code=202,
    response_model=TranscriptOut,
    responses={
        **_NOT_CONFIGURED,
        503: {"description": "video_processing did not answer about a video source"},
    },
)
async def create_transcript(
    body: TranscriptCreate,
    key: IdempotencyKey,
    principal: TranscriptsWrite,
    service: ServiceDep,
    session: SessionDep,
) -> JSONResponse:
    """Transcribe the audio or video file at a URL, or a stored video once it is ready (the
    job fetches it; 202, then poll)."""
    source = body.source
    if isinstance(source, UrlSource):
        queued = service.create_from_url(
            session, principal.tenant_id, url=str(source.url), language=body.language,
            backend=body.backend, diarize=body.diarize,
        )  # fmt: skip
    else:
        queued = service.create_from_video(
            session, principal.tenant_id, video_id=source.video_id, language=body.language,
            backend=body.backend, diarize=body.diarize,
        )  # fmt: skip
    return await idempotent(
        session, principal.tenant_id, key, "create_transcript", body, queued, _out, status=202
    )


def _declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    return int(value) if value is not None and value.isdigit() else None


@transcripts_router.post(
    "/files",
    status_code=202,
    response_model=TranscriptOut,
    responses=_NOT_CONFIGURED,
    openapi_extra=_FILE_BODY,
)
async def upload_transcript(
    request: Request,
    key: IdempotencyKey,
    principal: TranscriptsWrite,
    service: ServiceDep,
    language: Annotated[Language | None, Query()] = None,
    backend: Annotated[BackendName | None, Query()] = None,
    diarize: Annotated[bool | None, Query()] = None,
    name: Annotated[str | None, Query(min_length=1, max_length=200, pattern=_NAME)] = None,
) -> JSONResponse:
    """Transcribe the audio or video file sent as the request body (202, then poll)."""
    options = TranscriptOptions(language=language, backend=backend, diarize=diarize)
    chosen = service.backend_for(principal.tenant_id, backend)
    speakers = service.diarize_for(chosen, diarize)
    upload = await service.store_upload(
        principal.tenant_id, request.stream(), declared_length=_declared_length(request),
        content_type=request.headers.get("content-type"),
    )  # fmt: skip
    fingerprint = {**options.model_dump(), "name": name, "sha256": upload.sha256}
    created = kept = False
    try:
        async with unit_of_work(service.sessions) as session:

            async def create() -> Transcript:
                nonlocal created
                created = True
                return await service.create_from_upload(
                    session, principal.tenant_id, upload, name=name,
                    language=options.language, backend=chosen, diarize=speakers,
                )  # fmt: skip

            answer = await idempotent(
                session, principal.tenant_id, key, "upload_transcript", fingerprint,
                create(), _out, status=202,
            )  # fmt: skip
        kept = created
    finally:
        if not kept:  # a retry answered from the first request, or a refusal: not needed
            await service.storage.delete(upload.key)
    return answer


@transcripts_router.get("", response_model=TranscriptPage)
async def list_transcripts(
    principal: TranscriptsRead,
    service: ServiceDep,
    session: SessionDep,
    status: Literal["queued", "processing", "completed", "failed"] | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> TranscriptPage:
    """The tenant's transcripts, newest first (without their documents)."""
    try:
        page = await service.page(
            session, principal.tenant_id, status=status, limit=limit, cursor=cursor
        )
    except InvalidCursorError:
        raise BadRequest("The cursor is not valid.") from None
    return TranscriptPage(
        items=[_out(row, full=False) for row in page.items], next_cursor=page.next_cursor
    )


@transcripts_router.get("/{transcript_id}", response_model=TranscriptOut)
async def get_transcript(
    transcript_id: str, principal: TranscriptsRead, service: ServiceDep, session: SessionDep
) -> TranscriptOut:
    """One transcript, with its document (words, segments, language) once completed."""
    return _out(await service.get(session, principal.tenant_id, transcript_id))


@transcripts_router.delete("/{transcript_id}", status_code=204)
async def delete_transcript(
    transcript_id: str, principal: TranscriptsWrite, service: ServiceDep, session: SessionDep
) -> Response:
    """Delete a transcript and its stored source."""
    await service.delete(session, principal.tenant_id, transcript_id)
    return Response(status_code=204)
