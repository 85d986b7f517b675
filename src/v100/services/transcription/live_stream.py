"""A live session's WebSocket, from handshake to close (ADR 0038).

Before accepting: the session is claimed (created -> streaming: a session streams once) and its
first minute of credits held; a refusal answers the handshake with a problem+json status (404,
409, 402, 503). Then its backend opens (a failure closes 1011 ``backend-failed``), and four
tasks run until the first of them ends the stream:

- the receiver reads frames: binary frames are audio (fed to the decoder; an empty one is
  the old way to say CloseStream), text frames are control messages (``KeepAlive``,
  ``Finalize``, ``CloseStream``; another gets a ``Warning``); nothing at all for the
  session's ``idle_timeout`` ends it ``idle-timeout``, a dropped socket ``disconnected``;
- the pump takes decoded 16 kHz audio to the backend, holding each new minute's credits
  first (``insufficient-credits``) and bounding the audio (``too-long``); undecodable bytes
  end it ``audio-undecodable``;
- the sender sends the backend's events as Deepgram-shaped messages and measures each final
  result's delay from the arrival of the audio where its last word ends; a backend that fails
  ends it ``backend-failed``;
- the watcher writes a heartbeat with the progress, and ends it ``stopped`` when a stop is
  asked (pub/sub, or the row's ``stop_requested_at``) or ``too-long`` past the longest
  session.

Ending keeps what was heard: the decoder and the backend are flushed (their last final
results still sent while the socket is open), ``Metadata`` is sent, the socket closed with the
ending's code and reason, and the session settled (live_settle.py)."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from v100.ai.asr import LiveResult, LiveSession
from v100.ai.audio import SAMPLE_RATE
from v100.ai.live_audio import MARK, LiveAudioDecoder, UndecodableAudio
from v100.kit.auth import Principal
from v100.kit.bus import Subscription
from v100.kit.db import unit_of_work, utcnow
from v100.kit.errors import BackendUnavailable, PaymentRequired, ProblemError, UpstreamUnavailable
from v100.kit.http import Runtime, problem_response
from v100.kit.observability import get_logger
from v100.services.transcription import live_settle
from v100.services.transcription.errors import TranscriptFailed
from v100.services.transcription.live_backends import open_live
from v100.services.transcription.live_credits import MinuteHolds, live_terms
from v100.services.transcription.live_messages import (
    event_message,
    metadata_message,
    warning_message,
)
from v100.services.transcription.live_repository import SessionRepository
from v100.services.transcription.live_schemas import SessionOptions
from v100.services.transcription.live_service import LiveSessionService, stop_channel
from v100.services.transcription.models import LiveSession as SessionRow
from v100.services.transcription.models import SessionStatus
from v100.services.transcription.resources import RESOURCES
from v100.services.transcription.settings import TranscriptionSettings

__all__ = ["Ending", "serve"]

_log = get_logger("v100.transcription.live")
# Sessions streaming in this process (bounded by ``live_max_streams``).
_STREAMING: set[str] = set()
# Close codes (RFC 6455): normal, bad data, policy, internal (as Deepgram's NET-0001).
NORMAL, BAD_DATA, POLICY, INTERNAL = 1000, 1007, 1008, 1011
_DRAIN_SECONDS = 60.0  # the longest the flush at the end may take


@dataclass(frozen=True, slots=True)
class Ending:
    """Why a stream ends: a slug, a sentence, the close code sent; ``failed`` for the
    session's status; ``flush`` False when the audio not yet heard is dropped (it cannot or
    may not be decoded)."""

    reason: str
    detail: str
    code: int
    failed: bool = False
    flush: bool = True


class _Arrivals:
    """When each second of the stream's audio arrived (monotonic), to measure latency."""

    def __init__(self) -> None:
        self._ends: list[float] = []
        self._times: list[float] = []

    def add(self, audio_end: float, at: float) -> None:
        self._ends.append(audio_end)
        self._times.append(at)

    def of(self, audio_time: float) -> float | None:
        index = bisect.bisect_left(self._ends, audio_time)
        return self._times[index] if index < len(self._times) else None


class _Stream:
    def __init__(
        self,
        websocket: WebSocket,
        runtime: Runtime,
        settings: TranscriptionSettings,
        row: SessionRow,
        backend: LiveSession,
        decoder: LiveAudioDecoder,
        holds: MinuteHolds,
    ) -> None:
        self.websocket, self.runtime, self.settings = websocket, runtime, settings
        self.row, self.backend, self.decoder, self.holds = row, backend, decoder, holds
        self.options = SessionOptions.model_validate(row.options)
        self.ending: Ending | None = None
        self._ended = asyncio.Event()
        self._send_lock = asyncio.Lock()
        self.client_gone = False
        self.bytes_received = 0
        self.samples = 0
        self.digest = hashlib.sha256()
        self.arrivals = _Arrivals()
        self.latencies: list[float] = []
        self.interims = 0
        self.started = time.monotonic()

    @property
    def audio_seconds(self) -> float:
        return self.samples / SAMPLE_RATE

    def end(self, ending: Ending) -> None:
        if self.ending is None:
            self.ending = ending
            self._ended.set()

    async def run(self) -> Ending:
        tasks = {
            "receive": asyncio.create_task(self._guarded(self._receive())),
            "pump": asyncio.create_task(self._guarded(self._pump())),
            "send": asyncio.create_task(self._guarded(self._send_events())),
            "watch": asyncio.create_task(self._guarded(self._watch())),
        }
        try:
            await self._ended.wait()
            ending = self.ending
            assert ending is not None
            for name in ("receive", "watch"):
                tasks[name].cancel()
            if ending.flush:  # what is still to decode goes to the backend first
                self.decoder.end()
                await self._within(tasks["pump"])
            else:
                self.decoder.abort()
                tasks["pump"].cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.backend.close(), _DRAIN_SECONDS)
            await self._within(tasks["send"])
            await self._close_socket(ending)
            return ending
        finally:
            for task in tasks.values():
                task.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)

    async def _guarded(self, work: Any) -> None:
        """A task's unexpected failure ends the stream (failed) rather than leaving it."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            _log.exception("live stream task failed", session_id=self.row.id)
            self.end(Ending("backend-failed", f"The stream failed ({type(exc).__name__}).",
                            INTERNAL, failed=True, flush=False))  # fmt: skip

    async def _within(self, task: asyncio.Task[None]) -> None:
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(task), _DRAIN_SECONDS)

    # --- the caller's frames -----------------------------------------------------------------

    async def _receive(self) -> None:
        idle = self.options.idle_timeout
        while True:
            await self.decoder.room()
            try:
                message = await asyncio.wait_for(self.websocket.receive(), idle)
            except TimeoutError:
                self.end(Ending(
                    "idle-timeout",
                    f"No audio and no KeepAlive arrived for {idle:g} s (Deepgram's NET-0001): "
                    "send KeepAlive while there is no audio to send.", INTERNAL,
                ))  # fmt: skip
                return
            if message["type"] == "websocket.disconnect":
                self.client_gone = True
                code = message.get("code") or 1006
                detail = f"The client's socket went away (code {code}) before CloseStream."
                self.end(Ending("disconnected", detail + " What was heard is kept.", code))
                return
            data, text = message.get("bytes"), message.get("text")
            if data is not None:
                if not data:  # an empty binary frame: Deepgram's former CloseStream
                    self.end(Ending("close-stream", "The client closed the stream.", NORMAL))
                    return
                self.bytes_received += len(data)
                self.digest.update(data)
                self.decoder.feed(data)
            elif await self._control(text or ""):
                return

    async def _control(self, text: str) -> bool:
        """Act on a control message; whether it ends the stream."""
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "CloseStream":
            self.end(Ending("close-stream", "The client closed the stream.", NORMAL))
            return True
        if kind == "Finalize":
            await self.decoder.mark()
        elif kind != "KeepAlive":
            await self._send(warning_message(
                "unknown-message",
                "Text frames are control messages: {\"type\": \"KeepAlive\"}, \"Finalize\" or "
                "\"CloseStream\"; audio goes in binary frames. This one was not understood.",
            ))  # fmt: skip
        return False

    # --- audio to the backend ----------------------------------------------------------------

    async def _pump(self) -> None:
        limit = self.settings.max_audio_seconds
        try:
            async for item in self.decoder.pcm():
                if self.ending is not None and not self.ending.flush:
                    return
                if item is MARK:
                    await self.backend.finalize()
                    continue
                assert isinstance(item, bytes)
                samples = self.samples + len(item) // 2
                if samples / SAMPLE_RATE > limit:
                    self.end(Ending("too-long", f"A session hears at most {limit:.0f} s of "
                                    "audio.", POLICY, flush=False))  # fmt: skip
                    return
                await self.holds.cover(samples / SAMPLE_RATE)
                self.arrivals.add(samples / SAMPLE_RATE, time.monotonic())
                await self.backend.send_audio(item)
                self.samples = samples
        except UndecodableAudio as exc:
            self.end(Ending("audio-undecodable", f"The audio cannot be decoded as "
                            f"{self.options.encoding}: {exc}", BAD_DATA, failed=True))  # fmt: skip
        except TranscriptFailed as exc:
            self.end(Ending(exc.slug, exc.detail, POLICY, flush=False))

    # --- the backend's events to the caller --------------------------------------------------

    async def _send_events(self) -> None:
        model = self.row.backend
        try:
            async for event in self.backend.events():
                if isinstance(event, LiveResult):
                    self._measure(event)
                message = event_message(event, request_id=self.row.id, model=model)
                if message is not None:
                    await self._send(message)
        except Exception as exc:
            self.end(Ending("backend-failed", str(exc)[:400] or type(exc).__name__, INTERNAL,
                            failed=True, flush=False))  # fmt: skip

    def _measure(self, result: LiveResult) -> None:
        if not result.is_final:
            self.interims += 1
            return
        if result.words:
            arrived = self.arrivals.of(result.words[-1].end)
            if arrived is not None:
                self.latencies.append(time.monotonic() - arrived)

    async def _send(self, message: dict[str, Any]) -> None:
        if self.client_gone:
            return
        try:
            async with self._send_lock:
                await self.websocket.send_text(json.dumps(message))
        except (WebSocketDisconnect, RuntimeError, OSError):
            self.client_gone = True  # the receiver tells why when it reads the close

    async def _close_socket(self, ending: Ending) -> None:
        if self.client_gone or self.websocket.application_state != WebSocketState.CONNECTED:
            return
        await self._send(metadata_message(
            request_id=self.row.id, duration=self.audio_seconds,
            channels=self.options.channels or 1, sha256=self.digest.hexdigest(),
            created=self.row.created_at,
        ))  # fmt: skip
        reason = f"{ending.reason}: {ending.detail}".encode()[:123].decode(errors="ignore")
        with contextlib.suppress(Exception):
            await self.websocket.close(ending.code, reason)

    # --- heartbeat, stop and the longest session ---------------------------------------------

    async def _watch(self) -> None:
        every = self.settings.live_heartbeat_seconds
        bus = self.runtime.bus
        subscription: Subscription | None = None
        try:
            subscription = bus.subscribe(stop_channel(self.row.id))
            await subscription.open()
        except Exception as exc:  # the row's flag, read at each heartbeat, still stops it
            _log.warning("stop channel unavailable", session_id=self.row.id, error=repr(exc))
            subscription = None
        try:
            while True:
                asked = False
                if subscription is None:
                    await asyncio.sleep(every)
                else:
                    try:
                        await asyncio.wait_for(anext(subscription), every)
                        asked = True
                    except TimeoutError:
                        pass
                    except Exception as exc:  # the bus went away: the row's flag remains
                        _log.warning("stop channel lost", session_id=self.row.id, error=repr(exc))
                        with contextlib.suppress(Exception):
                            await subscription.close()
                        subscription = None
                if asked:
                    self.end(Ending("stopped", "Stopped through the API.", NORMAL))
                    return
                if time.monotonic() - self.started > self.settings.live_max_session_seconds:
                    self.end(Ending("too-long", "The session was open for "
                                    f"{self.settings.live_max_session_seconds:.0f} s, the most "
                                    "a session stays open.", POLICY))  # fmt: skip
                    return
                try:
                    stop = await self._heartbeat()
                except Exception as exc:  # the database blinked: the stream goes on
                    _log.warning("live heartbeat failed", session_id=self.row.id, error=repr(exc))
                    stop = False
                if stop:
                    self.end(Ending("stopped", "Stopped through the API.", NORMAL))
                    return
        finally:
            if subscription is not None:
                with contextlib.suppress(Exception):
                    await subscription.close()

    async def _heartbeat(self) -> bool:
        """Write the progress; whether a stop was asked."""
        assert self.runtime.sessions is not None
        async with unit_of_work(self.runtime.sessions) as session:
            row = await SessionRepository(session).change(
                self.row.id, expect_status=SessionStatus.STREAMING, heartbeat_at=utcnow(),
                audio_seconds=self.audio_seconds, bytes_received=self.bytes_received,
                final_results=len(self.backend.finals), interim_results=self.interims,
            )  # fmt: skip
        return row is None or row.stop_requested_at is not None


# --- the handshake -------------------------------------------------------------------------


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
    billing: Any,
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
    stream = _Stream(websocket, runtime, settings, row, backend, decoder, holds)
    # A server shutting down cancels this: the sweep fails the session ``abandoned`` later.
    ending = await stream.run()
    _log.info("live session ended", session_id=row.id, reason=ending.reason,
              seconds=round(stream.audio_seconds, 1))  # fmt: skip
    await live_settle.settle(runtime, row, stream_summary(stream), ending)


def stream_summary(stream: _Stream) -> live_settle.Heard:
    return live_settle.Heard(
        finals=list(stream.backend.finals),
        interims=stream.interims,
        language=stream.backend.language,
        language_probability=stream.backend.language_probability,
        audio_seconds=stream.audio_seconds,
        bytes_received=stream.bytes_received,
        latencies=stream.latencies,
        holds=stream.holds,
    )
