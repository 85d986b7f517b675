"""The fake Deepgram's live WebSocket ``/v1/listen``: ``Token`` auth on the handshake (401
refused before the upgrade), binary ``linear16`` audio in; ``Results`` out as the audio covers
the words of a registered recording (interim while a phrase grows, then ``is_final`` with
``speech_final`` once ``endpointing`` ms of audio pass after its last word), ``SpeechStarted``
with ``vad_events``, ``UtteranceEnd`` once ``utterance_end_ms`` pass after the last final word;
``KeepAlive`` accepted silently, ``Finalize`` flushes (``from_finalize``), ``CloseStream``
flushes, sends ``Metadata`` and closes 1000. No audio or text message for the fake's
``no_audio_timeout``: closed 1011 with a NET-0001 reason, as Deepgram does after 10 s.

Audio that is not (a prefix of) a registered recording is heard as silence: empty results."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from v100.kit.testing.fakes._deepgram_speech import (
    MODEL_UUID,
    Recording,
    SpokenWord,
    mean_confidence,
    on,
    transcript_text,
    word_json,
)

if TYPE_CHECKING:
    from v100.kit.testing.fakes.deepgram import FakeDeepgram

__all__ = ["NET_0001", "LiveListener", "LiveStream"]

NET_0001 = (
    "Deepgram did not receive audio data or a text message within the timeout window. "
    "See https://dpgr.am/net0001"
)
# Deepgram finalizes what it has every few seconds even without a pause.
_FINAL_WINDOW = 3.0


@dataclass
class LiveStream:
    """One live connection as the fake saw it."""

    params: dict[str, str]
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    audio: bytearray = field(default_factory=bytearray)
    text_messages: list[str] = field(default_factory=list)  # each text frame's "type"
    sent: list[dict[str, Any]] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str = ""

    @property
    def keepalives(self) -> int:
        return self.text_messages.count("KeepAlive")


class _Listening:
    """The state of one stream: how much audio came, and which words were already told."""

    def __init__(self, fake: FakeDeepgram, stream: LiveStream, socket: WebSocket) -> None:
        self.fake, self.stream, self.socket = fake, stream, socket
        params = stream.params
        self.params = params
        self.rate = int(params.get("sample_rate", "16000"))
        self.channels = int(params.get("channels", "1"))
        self.linear16 = params.get("encoding") == "linear16"
        endpointing = params.get("endpointing", "10")
        self.endpoint = None if endpointing == "false" else int(endpointing) / 1000
        self.interim = on(params, "interim_results")
        gap = params.get("utterance_end_ms")
        self.utterance_end = int(gap) / 1000 if gap and self.interim else None
        self.vad_events = on(params, "vad_events")
        self.done = 0  # words already in a final result
        self.final_until = 0.0  # where the next result's span starts
        self.interim_words = 0
        self.last_final_end: float | None = None  # awaiting its UtteranceEnd
        self.started: set[int] = set()  # words SpeechStarted was sent for

    @property
    def heard(self) -> float:
        return len(self.stream.audio) / (2 * self.rate * self.channels)

    def words(self) -> tuple[SpokenWord, ...]:
        """The words of the registered recording this audio is the start of; none when it is
        no recording we know (so we say nothing rather than invent)."""
        audio = bytes(self.stream.audio)
        if not self.linear16 or not audio:
            return ()
        for recording in self.fake.recordings.values():
            if self._matches(recording, audio):
                return recording.words
        return ()

    def _matches(self, recording: Recording, audio: bytes) -> bool:
        return (
            recording.pcm is not None
            and recording.sample_rate == self.rate
            and recording.pcm[: len(audio)] == audio
        )

    async def send(self, message: dict[str, Any]) -> None:
        self.stream.sent.append(message)
        await self.socket.send_text(json.dumps(message))

    async def result(
        self, words: tuple[SpokenWord, ...], end: float, *, final: bool, speech_final: bool,
        from_finalize: bool = False,
    ) -> None:  # fmt: skip
        await self.send({
            "type": "Results",
            "channel_index": [0, 1],
            "duration": max(0.0, end - self.final_until),
            "start": self.final_until,
            "is_final": final,
            "speech_final": speech_final,
            "channel": {"alternatives": [{
                "transcript": transcript_text(words, self.params),
                "confidence": mean_confidence(words),
                "words": [word_json(w, self.params, live=True) for w in words],
            }]},
            "metadata": {
                "request_id": self.stream.request_id,
                "model_info": {"name": f"2-general-{self.params.get('model', 'base')}",
                               "version": "2024-01-09.29447",
                               "arch": self.params.get("model", "base")},
                "model_uuid": MODEL_UUID,
            },
            "from_finalize": from_finalize,
        })  # fmt: skip
        if final:
            self.done += len(words)
            self.final_until = end
            self.interim_words = 0
            if words:
                self.last_final_end = words[-1].end

    async def advance(self) -> None:
        """Say what the audio heard so far lets Deepgram say."""
        words, heard = self.words(), self.heard
        pending = tuple(w for w in words[self.done :] if w.end <= heard)
        upcoming = (
            words[self.done + len(pending)] if len(words) > self.done + len(pending) else None
        )
        if self.vad_events:
            for index, word in enumerate(words[self.done :], self.done):
                opens = index == 0 or word.start - words[index - 1].end > (self.endpoint or 0)
                if opens and word.start <= heard and index not in self.started:
                    self.started.add(index)
                    await self.send({"type": "SpeechStarted", "channel": [0, 1],
                                     "timestamp": word.start})  # fmt: skip
        if pending and self.endpoint is not None:
            pause_ends = pending[-1].end + self.endpoint
            if heard >= pause_ends and (upcoming is None or upcoming.start >= pause_ends):
                await self.result(pending, pause_ends, final=True, speech_final=True)
                pending = ()
        if pending and self.interim and len(pending) > self.interim_words:
            self.interim_words = len(pending)
            await self.result(pending, heard, final=False, speech_final=False)
        if heard - self.final_until >= _FINAL_WINDOW and (
            pending or upcoming is None or upcoming.start >= heard
        ):
            await self.result(pending, heard, final=True, speech_final=False)
        if self.utterance_end is not None and self.last_final_end is not None:
            quiet_until = self.last_final_end + self.utterance_end
            upcoming = words[self.done] if len(words) > self.done else None
            if heard >= quiet_until and (upcoming is None or upcoming.start > quiet_until):
                await self.send({"type": "UtteranceEnd", "channel": [0, 1],
                                 "last_word_end": self.last_final_end})  # fmt: skip
                self.last_final_end = None

    async def flush(self, *, from_finalize: bool) -> None:
        """Every word fully heard and not yet final, as a final result."""
        heard = self.heard
        pending = tuple(w for w in self.words()[self.done :] if w.end <= heard)
        if pending or heard > self.final_until:
            await self.result(pending, heard, final=True, speech_final=False,
                              from_finalize=from_finalize)  # fmt: skip

    async def metadata(self) -> None:
        await self.send({
            "type": "Metadata",
            "transaction_key": "deprecated",
            "request_id": self.stream.request_id,
            "sha256": hashlib.sha256(bytes(self.stream.audio)).hexdigest(),
            "created": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "duration": self.heard,
            "channels": self.channels,
        })  # fmt: skip


class LiveListener:
    def __init__(self, fake: FakeDeepgram) -> None:
        self.fake = fake

    async def serve(self, socket: WebSocket) -> None:
        request_id = str(uuid.uuid4())
        if not self.fake.authorized(socket.headers.get("authorization", "")):
            await socket.send_denial_response(JSONResponse(
                {"err_code": "INVALID_AUTH", "err_msg": "Invalid credentials.",
                 "request_id": request_id}, status_code=401,
            ))  # fmt: skip
            return
        stream = LiveStream(dict(socket.query_params), request_id=request_id)
        self.fake.streams.append(stream)
        await socket.accept(headers=[(b"dg-request-id", request_id.encode())])
        listening = _Listening(self.fake, stream, socket)
        try:
            await self._loop(listening)
        except WebSocketDisconnect as gone:
            stream.close_code = gone.code

    async def _loop(self, listening: _Listening) -> None:
        stream, socket = listening.stream, listening.socket
        while True:
            try:
                message = await asyncio.wait_for(socket.receive(), self.fake.no_audio_timeout)
            except TimeoutError:
                stream.close_code, stream.close_reason = 1011, NET_0001
                await socket.close(1011, NET_0001)
                return
            if message["type"] == "websocket.disconnect":
                stream.close_code = message.get("code")
                return
            data, text = message.get("bytes"), message.get("text")
            if data is not None:
                if not data:  # the old way to end a stream: an empty frame
                    text = json.dumps({"type": "CloseStream"})
                else:
                    stream.audio.extend(data)
                    await listening.advance()
                    continue
            kind = _kind(text)
            stream.text_messages.append(kind)
            if kind == "Finalize":
                await listening.flush(from_finalize=True)
            elif kind == "CloseStream":
                await listening.flush(from_finalize=False)
                await listening.metadata()
                stream.close_code = 1000
                await socket.close(1000)
                return
            # KeepAlive, and anything else, only resets the timeout (no answer).


def _kind(text: str | None) -> str:
    try:
        message = json.loads(text or "")
    except ValueError:
        return "?"
    return str(message.get("type", "?")) if isinstance(message, dict) else "?"
