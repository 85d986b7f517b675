"""A live session's accepted WebSocket, until it ends (ADR 0038). Four tasks run until the first
of them ends the stream:

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
results still sent while the socket is open), ``Metadata`` is sent and the socket closed with
the ending's code and reason. The handshake before and the settlement after are
live_socket.py's."""

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
from v100.kit.bus import Subscription
from v100.kit.db import unit_of_work, utcnow
from v100.kit.http import Runtime
from v100.kit.observability import get_logger
from v100.services.transcription import live_settle
from v100.services.transcription.errors import TranscriptFailed
from v100.services.transcription.live_credits import MinuteHolds
from v100.services.transcription.live_messages import (
    event_message,
    metadata_message,
    warning_message,
)
from v100.services.transcription.live_repository import SessionRepository
from v100.services.transcription.live_schemas import SessionOptions
from v100.services.transcription.live_service import stop_channel
from v100.services.transcription.models import LiveSession as SessionRow
from v100.services.transcription.models import SessionStatus
from v100.services.transcription.settings import TranscriptionSettings

__all__ = ["Ending", "LiveStream"]

_log = get_logger("v100.transcription.live")
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


class LiveStream:
    """One accepted stream: its four tasks, the ending, what it heard."""

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

    def heard(self) -> live_settle.Heard:
        return live_settle.Heard(
            finals=list(self.backend.finals),
            interims=self.interims,
            language=self.backend.language,
            language_probability=self.backend.language_probability,
            audio_seconds=self.audio_seconds,
            bytes_received=self.bytes_received,
            latencies=self.latencies,
            holds=self.holds,
        )
