"""Live sessions' endpoints under ``/v1/transcription-sessions``: make one (its options; 201 with
its WebSocket), read, list and stop them, and the WebSocket itself
(``/{id}/stream``: audio in, Deepgram-shaped results out; live_socket.py). Thin: parse, call
``LiveSessionService``, shape."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, WebSocket
from starlette.responses import JSONResponse

from v100.kit.db import InvalidCursorError
from v100.kit.errors import BadRequest
from v100.kit.http import RuntimeDep, SessionDep
from v100.kit.idempotency import IdempotencyKey, idempotent
from v100.services.transcription import live_socket
from v100.services.transcription.api import Cursor, Limit, TranscriptsRead, TranscriptsWrite
from v100.services.transcription.deps import LiveServiceDep, SettingsDep
from v100.services.transcription.live_schemas import (
    LatencyOut,
    SessionCreate,
    SessionEnd,
    SessionError,
    SessionOptions,
    SessionOut,
    SessionPage,
)
from v100.services.transcription.models import LiveSession, SessionStatus
from v100.services.transcription.settings import TranscriptionSettings

__all__ = ["SESSIONS", "sessions_router"]

SESSIONS = "/v1/transcription-sessions"
sessions_router = APIRouter(prefix=SESSIONS, tags=["transcription sessions"])


def _stream_url(settings: TranscriptionSettings, path: str) -> str:
    public = settings.platform.public_url.rstrip("/")
    scheme, _, rest = public.partition("://")
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}{path}"


def _out(row: LiveSession, settings: TranscriptionSettings) -> SessionOut:
    path = f"{SESSIONS}/{row.id}/stream"
    ended = error = latency = None
    if row.end_reason is not None:
        ended = SessionEnd(reason=row.end_reason, detail=row.end_detail, close_code=row.close_code)
        if row.status == SessionStatus.FAILED:
            error = SessionError(type=f"/problems/{row.end_reason}", detail=row.end_detail)
    if row.latency_median_ms is not None and row.latency_p90_ms is not None:
        latency = LatencyOut(median_ms=row.latency_median_ms, p90_ms=row.latency_p90_ms)
    return SessionOut(
        id=row.id,
        status=row.status,
        backend=row.backend,
        options=SessionOptions.model_validate(row.options),
        stream_path=path,
        stream_url=_stream_url(settings, path),
        audio_seconds=round(row.audio_seconds, 3),
        bytes_received=row.bytes_received,
        final_results=row.final_results,
        interim_results=row.interim_results,
        final_latency=latency,
        credits_charged=row.credits_charged,
        transcript_id=row.transcript_id,
        ended=ended,
        error=error,
        created_at=row.created_at,
        updated_at=row.updated_at,
        started_at=row.started_at,
        ended_at=row.ended_at,
    )


@sessions_router.post("", status_code=201, response_model=SessionOut)
async def create_session(
    body: SessionCreate,
    key: IdempotencyKey,
    principal: TranscriptsWrite,
    service: LiveServiceDep,
    settings: SettingsDep,
    session: SessionDep,
) -> JSONResponse:
    """Start a live session: 201 with its WebSocket (``stream_path``), to connect to next."""
    created = service.create(session, principal.tenant_id, body)
    return await idempotent(
        session, principal.tenant_id, key, "create_session", body, created,
        lambda row: _out(row, settings), status=201,
    )  # fmt: skip


@sessions_router.get("", response_model=SessionPage)
async def list_sessions(
    principal: TranscriptsRead,
    service: LiveServiceDep,
    settings: SettingsDep,
    session: SessionDep,
    status: Literal["created", "streaming", "closed", "failed"] | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> SessionPage:
    """The tenant's live sessions, newest first."""
    try:
        page = await service.page(
            session, principal.tenant_id, status=status, limit=limit, cursor=cursor
        )
    except InvalidCursorError:
        raise BadRequest("The cursor is not valid.") from None
    return SessionPage(
        items=[_out(row, settings) for row in page.items], next_cursor=page.next_cursor
    )


@sessions_router.get("/{session_id}", response_model=SessionOut)
async def get_session(
    session_id: str,
    principal: TranscriptsRead,
    service: LiveServiceDep,
    settings: SettingsDep,
    session: SessionDep,
) -> SessionOut:
    """One live session: its status, the audio it received, its timings, why it ended."""
    return _out(await service.get(session, principal.tenant_id, session_id), settings)


@sessions_router.post("/{session_id}/stop", response_model=SessionOut)
async def stop_session(
    session_id: str, principal: TranscriptsWrite, service: LiveServiceDep, settings: SettingsDep
) -> SessionOut:
    """Stop a session: its stream flushes its last results and closes; answers once it has
    (or after a few seconds, still streaming)."""
    return _out(await service.stop_and_wait(principal.tenant_id, session_id), settings)


@sessions_router.websocket("/{session_id}/stream")
async def stream_session(
    websocket: WebSocket,
    session_id: str,
    principal: TranscriptsWrite,
    runtime: RuntimeDep,
    settings: SettingsDep,
) -> None:
    """Audio in (binary frames; KeepAlive, Finalize, CloseStream as text), results out."""
    await live_socket.serve(websocket, runtime, settings, principal, session_id)
