"""Deepgram's live speech to text (``wss /v1/listen``): a session that sends 16 kHz
``linear16`` PCM, keeps an idle socket open with ``KeepAlive`` (deepgram-python-sdk#319: the
server closes after about 10 s without audio, code 1011, NET-0001), yields the server's
messages as typed events and ends with ``CloseStream``, waiting for the last results."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from v100.ai.asr._deepgram import (
    DeepgramAuthError,
    DeepgramBadRequest,
    DeepgramError,
    DeepgramPaymentRequired,
    DeepgramRateLimited,
    DeepgramStreamClosed,
    DeepgramUnavailable,
    pcm16,
)
from v100.ai.asr._live import (
    LiveEvent,
    LiveMetadata,
    LiveResult,
    LiveSpeechStarted,
    LiveUtteranceEnd,
    drain,
)
from v100.ai.asr._transcript import Word
from v100.ai.audio import SAMPLE_RATE

__all__ = ["DEEPGRAM_LIVE_URL", "DeepgramLiveSession"]

DEEPGRAM_LIVE_URL = "wss://api.deepgram.com"

# Why the server closed, in words a caller can act on, by the code its close reason names
# (the reason reads "... See https://dpgr.am/net0001").
_REASONS = {
    "NET-0001": "no audio or KeepAlive reached Deepgram within its timeout",
    "NET-0000": "Deepgram produced no response within its timeout",
    "DATA-0000": "Deepgram could not decode the audio (check encoding and sample_rate)",
}


def _event(message: Mapping[str, Any]) -> LiveEvent | None:
    kind = message.get("type")
    if kind == "Results":
        alternative = (message.get("channel", {}).get("alternatives") or [{}])[0]
        index = message.get("channel_index") or [0]
        return LiveResult(
            transcript=str(alternative.get("transcript", "")),
            confidence=float(alternative.get("confidence", 0.0)),
            words=tuple(
                Word(
                    text=str(w.get("punctuated_word") or w["word"]),
                    start=float(w["start"]),
                    end=float(w["end"]),
                    probability=float(w.get("confidence", 0.0)),
                    speaker=int(w["speaker"]) if w.get("speaker") is not None else None,
                )
                for w in alternative.get("words") or ()
            ),
            start=float(message.get("start", 0.0)),
            duration=float(message.get("duration", 0.0)),
            is_final=bool(message.get("is_final", False)),
            speech_final=bool(message.get("speech_final", False)),
            from_finalize=bool(message.get("from_finalize", False)),
            channel=int(index[0]),
        )
    if kind == "UtteranceEnd":
        return LiveUtteranceEnd(
            last_word_end=float(message.get("last_word_end", 0.0)),
            channel=int((message.get("channel") or [0])[0]),
        )
    if kind == "SpeechStarted":
        return LiveSpeechStarted(
            timestamp=float(message.get("timestamp", 0.0)),
            channel=int((message.get("channel") or [0])[0]),
        )
    if kind == "Metadata":
        return LiveMetadata(
            request_id=str(message.get("request_id", "")),
            duration=float(message.get("duration", 0.0)),
            channels=int(message.get("channels", 0)),
            sha256=message.get("sha256"),
        )
    return None  # a message type this client does not know yet: skipped


class DeepgramLiveSession:
    """One live stream. ``async with`` opens it (a refused key raises ``DeepgramAuthError``
    at once); ``send_audio`` takes 16-bit little-endian bytes or a float32 array; iterating
    ``events()`` yields what Deepgram sends, and raises ``DeepgramStreamClosed`` if the server
    closes the stream itself; leaving the block sends ``CloseStream`` and waits up to
    ``close_timeout`` for the final results and the metadata.

    While no audio is sent for ``keepalive_every`` seconds, a ``KeepAlive`` text frame goes
    out (Deepgram advises every 3-5 s against its 10 s timeout); None turns that off."""

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEEPGRAM_LIVE_URL,
        model: str = "nova-2",
        language: str | None = "en",
        sample_rate: int = SAMPLE_RATE,
        interim_results: bool = True,
        endpointing_ms: int | None = 300,
        utterance_end_ms: int | None = 1000,
        vad_events: bool = False,
        smart_format: bool = True,
        punctuate: bool = True,
        diarize: bool = False,
        keepalive_every: float | None = 4.0,
        open_timeout: float = 10.0,
        close_timeout: float = 10.0,
    ) -> None:
        params: dict[str, str] = {
            "model": model,
            "encoding": "linear16",
            "sample_rate": str(sample_rate),
            "channels": "1",
            "interim_results": "true" if interim_results else "false",
            "smart_format": "true" if smart_format else "false",
            "punctuate": "true" if punctuate else "false",
            "diarize": "true" if diarize else "false",
            "vad_events": "true" if vad_events else "false",
            "endpointing": str(endpointing_ms) if endpointing_ms is not None else "false",
        }
        if language:
            params["language"] = language
        if utterance_end_ms is not None:
            # Deepgram sends UtteranceEnd only with interim results on.
            params["utterance_end_ms"] = str(utterance_end_ms)
        self.url = base_url.rstrip("/") + "/v1/listen?" + urlencode(params)
        # Live results carry no detected language: the named one, or None.
        self.language = language
        self.language_probability = 1.0 if language else None
        self._key = api_key
        self._keepalive_every = keepalive_every
        self._open_timeout = open_timeout
        self._close_timeout = close_timeout
        self._socket: ClientConnection | None = None
        self._events: asyncio.Queue[LiveEvent | None] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._last_sent = time.monotonic()
        self._closing = False
        self.closed: DeepgramStreamClosed | None = None  # set when the server ended it
        self.finals: list[LiveResult] = []  # every final result, in order
        self.metadata: LiveMetadata | None = None
        self.keepalives_sent = 0

    # --- opening and closing -----------------------------------------------------------

    async def __aenter__(self) -> DeepgramLiveSession:
        try:
            self._socket = await connect(
                self.url,
                additional_headers={"Authorization": f"Token {self._key}"},
                open_timeout=self._open_timeout,
                close_timeout=self._close_timeout,
                max_size=None,
            )
        except InvalidStatus as exc:
            raise _handshake_refusal(exc) from exc
        except (OSError, TimeoutError) as exc:
            raise DeepgramUnavailable(f"could not open Deepgram's stream: {exc}") from exc
        self._last_sent = time.monotonic()
        self._tasks.append(asyncio.create_task(self._read(), name="deepgram-read"))
        if self._keepalive_every:
            self._tasks.append(asyncio.create_task(self._keepalive(), name="deepgram-keepalive"))
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:  # fmt: skip
        await self.close()

    async def close(self) -> None:
        """``CloseStream``, then wait for the server to send what it has and close."""
        if self._socket is None:
            return
        self._closing = True
        if self.closed is None:
            with contextlib.suppress(ConnectionClosed):
                await self._socket.send(json.dumps({"type": "CloseStream"}))
        reader = self._tasks[0] if self._tasks else None
        if reader is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(reader), self._close_timeout)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._socket.close()

    # --- sending -------------------------------------------------------------------------

    async def send_audio(self, audio: bytes | np.ndarray[Any, Any]) -> None:
        """One chunk of audio: ``linear16`` bytes, or float32 samples converted to them.
        An empty chunk is not sent (Deepgram once read an empty frame as the end)."""
        data = audio if isinstance(audio, bytes | bytearray | memoryview) else pcm16(audio)
        if not data:
            return
        await self._send(bytes(data))

    async def finalize(self) -> None:
        """``Finalize``: make Deepgram turn what it has heard into final results now."""
        await self._send(json.dumps({"type": "Finalize"}))

    async def _send(self, frame: str | bytes) -> None:
        if self._socket is None:
            raise RuntimeError("the session is not open: use `async with`")
        if self.closed is not None:
            raise self.closed
        try:
            await self._socket.send(frame)
        except ConnectionClosed as exc:
            raise self.closed or _stream_closed(exc) from exc
        self._last_sent = time.monotonic()

    async def _keepalive(self) -> None:
        assert self._keepalive_every is not None
        every = self._keepalive_every
        while True:
            idle = time.monotonic() - self._last_sent
            if idle < every:
                await asyncio.sleep(every - idle)
                continue
            try:
                await self._send(json.dumps({"type": "KeepAlive"}))  # a text frame, as asked
            except DeepgramError:
                return
            self.keepalives_sent += 1

    # --- receiving -----------------------------------------------------------------------

    async def _read(self) -> None:
        assert self._socket is not None
        try:
            async for message in self._socket:
                if isinstance(message, bytes):
                    continue  # the listen API sends only text
                event = _event(json.loads(message))
                if event is None:
                    continue
                if isinstance(event, LiveResult) and event.is_final:
                    self.finals.append(event)
                if isinstance(event, LiveMetadata):
                    self.metadata = event
                self._events.put_nowait(event)
        except ConnectionClosed as exc:
            self.closed = _stream_closed(exc)
        else:
            code, reason = self._socket.close_code, self._socket.close_reason or ""
            # Closing normally is the answer to our CloseStream; anything else is the server's.
            if not (self._closing and code in (1000, None)):
                self.closed = _closed(code, reason)
        finally:
            self._events.put_nowait(None)

    def events(self) -> AsyncIterator[LiveEvent]:
        """What Deepgram sends, in order, until the stream ends; ``DeepgramStreamClosed``
        if the server ended it (not after our ``CloseStream``)."""
        return drain(self._events, lambda: self.closed)

    def transcript(self) -> str:
        """The text of every final result so far."""
        return " ".join(r.transcript for r in self.finals if r.transcript).strip()


def _closed(code: int | None, reason: str) -> DeepgramStreamClosed:
    plain = reason.upper().replace("-", "")
    known = next((key for key in _REASONS if key.replace("-", "") in plain), None)
    message = f"Deepgram closed the stream (code {code}{', ' + known if known else ''})"
    message += f": {_REASONS[known]}" if known else ""
    message += f" [{reason}]" if reason else ""
    return DeepgramStreamClosed(message, code=code, reason=reason)


def _stream_closed(exc: ConnectionClosed) -> DeepgramStreamClosed:
    close = exc.rcvd
    return _closed(close.code if close else None, close.reason if close else "no close frame")


def _handshake_refusal(exc: InvalidStatus) -> DeepgramError:
    status = exc.response.status_code
    body = exc.response.body or b""
    try:
        detail = json.loads(body)
    except ValueError:
        detail = {}
    detail = detail if isinstance(detail, dict) else {}
    code, text = detail.get("err_code"), detail.get("err_msg") or body.decode(errors="replace")
    request_id = detail.get("request_id")
    kind: type[DeepgramError] = {
        401: DeepgramAuthError, 403: DeepgramAuthError, 402: DeepgramPaymentRequired,
        429: DeepgramRateLimited,
    }.get(status, DeepgramUnavailable if status >= 500 else DeepgramBadRequest)  # fmt: skip
    return kind(
        f"Deepgram refused the stream (HTTP {status} {code or ''}): {text}".replace(" )", ")"),
        status=status, err_code=code, request_id=request_id,
    )  # fmt: skip
