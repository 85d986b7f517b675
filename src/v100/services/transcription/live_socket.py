"""A live session's WebSocket from handshake to settlement (ADR 0038). Before accepting: the
session is claimed (created -> streaming: a session streams once) and its first minute of
credits held; a refusal answers the handshake with a problem+json status (404, 409, 402, 503).
Then its backend opens (a failure closes 1011 ``backend-failed``), the stream runs
(live_stream.py), and the session is settled with what was heard (live_settle.py)."""

from __future__ import annotations

import contextlib

from starlette.websockets import WebSocket

from v100.ai.audio import SAMPLE_RATE
from v100.ai.live_audio import LiveAudioDecoder
from v100.contracts.billing import BillingClient
from v100.kit.auth import Principal
from v100.kit.db import unit_of_work
from v100.kit.errors import BackendUnavailable, PaymentRequired, ProblemError, UpstreamUnavailable
from v100.kit.http import Runtime, problem_response
from v100.kit.observability import get_logger
from v100.services.transcription import live_settle
from v100.services.transcription.errors import TranscriptFailed
from v100.services.transcription.live_backends import open_live
from v100.services.transcription.live_credits import MinuteHolds, live_terms
from v100.services.transcription.live_repository import SessionRepository
from v100.services.transcription.live_schemas import SessionOptions
from v100.services.transcription.live_service import LiveSessionService
from v100.services.transcription.live_stream import INTERNAL, POLICY, LiveStream
from v100.services.transcription.models import LiveSession as SessionRow
from v100.services.transcription.models import SessionStatus
from v100.services.transcription.resources import RESOURCES
from v100.services.transcription.settings import TranscriptionSettings

__all__ = ["serve"]

_log = get_logger("v100.transcription.live")
# Sessions streaming in this process (bounded by ``live_max_streams``).
_STREAMING: set[str] = set()


async def _deny(websocket: WebSocket, error: ProblemError) -> None:
    """Refuse the handshake with the problem as its HTTP answer (or a bare close where the
    server cannot answer one)."""
    try:
        await websocket.send_denial_response(problem_response(error, websocket.url.path))
    except RuntimeError:
        await websocket.close(POLICY, error.title)


async def serve(
    websocket: WebSocket,
    runtime: Runtime,
    settings: TranscriptionSettings,
    principal: Principal,
    session_id: str,
) -> None:
    """The WebSocket of one session, from handshake to settlement."""
    if runtime.sessions is None:
        await _deny(websocket, BackendUnavailable("transcription is not ready yet.", retry_after=1))
        return
    if len(_STREAMING) >= settings.live_max_streams:
        await _deny(websocket, BackendUnavailable(
            "This instance streams as many sessions as it may; try again shortly.", retry_after=5,
        ))  # fmt: skip
        return
    resources = await RESOURCES.current()
    service = LiveSessionService(settings, runtime.sessions, runtime.bus)
    try:
        async with unit_of_work(runtime.sessions) as db:
            row = await service.claim(db, principal.tenant_id, session_id)
    except ProblemError as error:
        await _deny(websocket, error)
        return
    _STREAMING.add(row.id)
    try:
        await _stream(websocket, runtime, settings, resources.billing, row)
    finally:
        _STREAMING.discard(row.id)


async def _stream(
    websocket: WebSocket,
    runtime: Runtime,
    settings: TranscriptionSettings,
    billing: BillingClient | None,
    row: SessionRow,
) -> None:
    assert runtime.sessions is not None
    sessions = runtime.sessions

    async def save_hold(hold_id: str | None, minutes: int) -> None:
        async with unit_of_work(sessions) as db:
            await SessionRepository(db).change(
                row.id, expect_status=SessionStatus.STREAMING, hold_id=hold_id,
                held_minutes=minutes,
            )  # fmt: skip

    holds = MinuteHolds(
        billing, live_terms(settings), session_id=row.id, tenant_id=row.tenant_id,
        per_minute=settings.credits_per_minute, save=save_hold,
    )  # fmt: skip
    options = SessionOptions.model_validate(row.options)
    try:
        await holds.open()
    except TranscriptFailed as exc:
        await live_settle.refused(runtime, row, exc.slug, exc.detail)
        refusal: ProblemError = PaymentRequired(exc.detail)
        if exc.slug == "billing-unavailable":
            refusal = UpstreamUnavailable(exc.detail, retry_after=5)
        await _deny(websocket, refusal)
        return
    # Accepted before the backend opens (Deepgram's handshake, the model's first load): a
    # gateway in front waits a couple of seconds at most for the upgrade.
    try:
        await websocket.accept()
    except Exception:  # the caller left during the handshake
        await holds.settle(0.0)
        await live_settle.refused(runtime, row, "disconnected", "The client left before the "
                                  "WebSocket was accepted.")  # fmt: skip
        return
    backend = open_live(row.backend, settings, options)
    try:
        if backend is None:
            raise RuntimeError(f"the {row.backend!r} backend is not configured here")
        await backend.__aenter__()
    except Exception as exc:
        _log.warning("live backend did not open", session_id=row.id, error=repr(exc))
        await holds.settle(0.0)
        detail = f"The {row.backend} backend could not open the stream: {exc}"[:400]
        await live_settle.refused(runtime, row, "backend-failed", detail)
        with contextlib.suppress(Exception):
            await websocket.close(INTERNAL, f"backend-failed: {detail}"[:123])
        return
    decoder = LiveAudioDecoder(
        options.encoding, sample_rate=options.sample_rate or SAMPLE_RATE,
        channels=options.channels or 1,
    )  # fmt: skip
    stream = LiveStream(websocket, runtime, settings, row, backend, decoder, holds)
    # A server shutting down cancels this: the sweep fails the session ``abandoned`` later.
    ending = await stream.run()
    _log.info("live session ended", session_id=row.id, reason=ending.reason,
              seconds=round(stream.audio_seconds, 1))  # fmt: skip
    await live_settle.settle(runtime, row, stream.heard(), ending)
