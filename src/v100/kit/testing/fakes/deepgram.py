"""A local fake of Deepgram's speech-to-text API, speaking its documented wire format:
``POST /v1/listen`` with ``Authorization: Token <key>``, the options as query parameters
(``model``, ``punctuate``, ``smart_format``, ``diarize``, ``utterances``, ``utt_split``,
``paragraphs``, ``language`` or ``detect_language``), the audio as the raw body (or JSON
``{"url"}``), answered with ``{"metadata": {...}, "results": {"channels": [{"alternatives":
[{"transcript", "confidence", "words", "paragraphs"}], "detected_language",
"language_confidence"}], "utterances": [...]}}``; errors as ``{"err_code", "err_msg",
"request_id"}`` (401 INVALID_AUTH, 402 ASR_PAYMENT_REQUIRED, 429 TOO_MANY_REQUESTS, 400 Bad
Request). The live WebSocket ``/v1/listen`` is in ``_deepgram_live.py``.

It does no speech recognition, so it never invents text: a test registers what a recording
says (its words, their times and speakers) and the fake answers that for those exact bytes.
Audio it does not know gets what Deepgram gives for audio without speech, an empty transcript
(a WAV, or ``linear16`` PCM, whose length gives the duration); bytes that are neither get 400
``failed to process audio: corrupt or unsupported data``.

    fake = FakeDeepgram()
    fake.register(pcm16_bytes, [SpokenWord("Hello,", 0.3, 0.6, speaker=0), ...])
    async with serving(fake.app, lifespan="off") as base_url:
        ...                                   # the adapter posts to base_url + /v1/listen
        fake.fail_next(2, status=429)         # the next two calls answer 429
        fake.requests[-1].params              # what reached the API
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import uuid
import wave
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from v100.kit.testing.fakes._deepgram_live import LiveListener, LiveStream
from v100.kit.testing.fakes._deepgram_speech import (
    MODEL_UUID,
    Recording,
    SpokenWord,
    mean_confidence,
    on,
    transcript_text,
    word_json,
)

__all__ = ["FakeDeepgram", "ListenRequest", "LiveStream", "Recording", "SpokenWord"]

_SENTENCE_END = re.compile(r"[.?!]$")


@dataclass(frozen=True)
class ListenRequest:
    """One request that reached ``/v1/listen`` (after the simulated failures)."""

    params: dict[str, str]
    authorization: str
    content_type: str
    sha256: str


def _wav_frames(data: bytes) -> tuple[bytes, int, int] | None:
    """A WAV file's frames, sample rate and channels; None when ``data`` is not one."""
    if not data.startswith(b"RIFF"):
        return None
    try:
        with wave.open(io.BytesIO(data)) as source:
            return (
                source.readframes(source.getnframes()),
                source.getframerate(),
                source.getnchannels(),
            )
    except (wave.Error, EOFError):
        return None


def _error(status: int, code: str, message: str, request_id: str) -> JSONResponse:
    return JSONResponse(
        {"err_code": code, "err_msg": message, "request_id": request_id}, status_code=status
    )


def _groups(words: Sequence[SpokenWord], gap: float, by_speaker: bool) -> list[list[SpokenWord]]:
    """Words split where the silence between two is longer than ``gap`` or, when asked, where
    the speaker changes (how utterances and paragraphs break)."""
    groups: list[list[SpokenWord]] = []
    for word in words:
        if groups and (
            word.start - groups[-1][-1].end <= gap
            and not (by_speaker and word.speaker != groups[-1][-1].speaker)
        ):
            groups[-1].append(word)
        else:
            groups.append([word])
    return groups


@dataclass
class FakeDeepgram:
    api_key: str = "fake-deepgram-key-0123456789abcdef"
    # Seconds without audio or a text message before a live stream is closed (1011,
    # NET-0001); Deepgram's is 10, tests use less.
    no_audio_timeout: float = 10.0
    recordings: dict[str, Recording] = field(default_factory=dict)
    # URL -> the bytes Deepgram would fetch there (the fake fetches nothing itself).
    remote: dict[str, bytes] = field(default_factory=dict)
    requests: list[ListenRequest] = field(default_factory=list)
    attempts: int = 0  # every POST, the simulated failures included
    streams: list[LiveStream] = field(default_factory=list)
    _failures: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.app = Starlette(
            routes=[
                Route("/v1/listen", self._listen, methods=["POST"]),
                WebSocketRoute("/v1/listen", LiveListener(self).serve),
            ]
        )

    # --- what the test says ------------------------------------------------------------

    def register(
        self, audio: bytes, words: Iterable[SpokenWord], *, language: str = "en",
        language_confidence: float = 0.99, duration: float | None = None,
    ) -> Recording:  # fmt: skip
        """``audio`` (16 kHz mono linear16 samples, or a WAV file of them, or any file with
        ``duration`` given) says ``words``."""
        frames = _wav_frames(audio)
        pcm, rate = (frames[0], frames[1]) if frames else (audio, 16_000)
        if duration is None:
            duration = len(pcm) / (2 * rate)
        spoken = tuple(sorted(words, key=lambda w: w.start))
        if any(w.end > duration + 1e-6 or w.start > w.end for w in spoken):
            raise ValueError("every word must lie inside the recording")
        recording = Recording(
            spoken, duration, language, language_confidence, pcm=pcm, sample_rate=rate
        )
        self.recordings[hashlib.sha256(pcm).hexdigest()] = recording
        return recording

    def fail_next(self, count: int = 1, *, status: int = 429) -> None:
        """The next ``count`` calls answer ``status``: 429, 402 or a 5xx."""
        self._failures.extend([status] * count)

    def authorized(self, header: str) -> bool:
        return header == f"Token {self.api_key}"

    # --- POST /v1/listen -----------------------------------------------------------------

    async def _listen(self, request: Request) -> JSONResponse:
        request_id = str(uuid.uuid4())
        self.attempts += 1
        if self._failures:
            status = self._failures.pop(0)
            if status == 429:
                return _error(429, "TOO_MANY_REQUESTS",
                              "Too many requests. Please try again later", request_id)  # fmt: skip
            if status == 402:
                return _error(402, "ASR_PAYMENT_REQUIRED",
                              "Project does not have enough credits for an ASR request and "
                              "does not have an overage agreement.", request_id)  # fmt: skip
            return _error(status, "INTERNAL_SERVER_ERROR", "Internal server error.", request_id)
        authorization = request.headers.get("authorization", "")
        if not self.authorized(authorization):
            return _error(401, "INVALID_AUTH", "Invalid credentials.", request_id)
        params = dict(request.query_params)
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        body = await request.body()
        if content_type == "application/json":
            try:
                url = json.loads(body)["url"]
            except (ValueError, KeyError, TypeError):
                return _error(400, "Bad Request", "Content-type was application/json, but we "
                              "could not process the JSON payload.", request_id)  # fmt: skip
            if url not in self.remote:
                # The code users report for a URL Deepgram cannot fetch (not on its errors page).
                message = "Could not fetch the media at the given URL."
                return _error(400, "REMOTE_CONTENT_ERROR", message, request_id)
            body = self.remote[url]
        self.requests.append(
            ListenRequest(params, authorization, content_type, hashlib.sha256(body).hexdigest())
        )
        recording = self._recording(body, params)
        if recording is None:
            return _error(400, "Bad Request",
                          "Bad Request: failed to process audio: corrupt or unsupported data",
                          request_id)  # fmt: skip
        return JSONResponse(self._answer(recording, params, request_id, body))

    def _recording(self, body: bytes, params: dict[str, str]) -> Recording | None:
        """The registered recording ``body`` is, or an empty one for unknown audio we can
        measure, or None for bytes that are not audio."""
        frames = _wav_frames(body)
        pcm = frames[0] if frames else body
        known = self.recordings.get(hashlib.sha256(pcm).hexdigest())
        if known is not None:
            return known
        if frames:
            rate, channels = frames[1], frames[2]
        elif params.get("encoding") == "linear16" and "sample_rate" in params:
            rate, channels = int(params["sample_rate"]), int(params.get("channels", "1"))
        else:
            return None
        return Recording((), len(pcm) / (2 * rate * channels), language="en")

    def _answer(
        self, recording: Recording, params: dict[str, str], request_id: str, body: bytes
    ) -> dict[str, Any]:
        words = list(recording.words)
        alternative: dict[str, Any] = {
            "transcript": transcript_text(words, params),
            "confidence": mean_confidence(words),
            "words": [word_json(w, params) for w in words],
        }
        if on(params, "paragraphs"):
            alternative["paragraphs"] = self._paragraphs(words, params)
        channel: dict[str, Any] = {"alternatives": [alternative]}
        if on(params, "detect_language"):
            channel["detected_language"] = recording.language
            channel["language_confidence"] = recording.language_confidence if words else 0.0
        results: dict[str, Any] = {"channels": [channel]}
        if on(params, "utterances"):
            gap = float(params.get("utt_split", "0.8"))
            results["utterances"] = [
                self._utterance(group, params)
                for group in _groups(words, gap, on(params, "diarize"))
            ]
        return {
            "metadata": {
                "transaction_key": "deprecated",
                "request_id": request_id,
                "sha256": hashlib.sha256(body).hexdigest(),
                "created": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                "duration": recording.duration,
                "channels": 1,
                "models": [MODEL_UUID],
                "model_info": {
                    MODEL_UUID: {
                        "name": f"2-general-{params.get('model', 'base')}",
                        "version": "2024-01-09.29447",
                        "arch": params.get("model", "base"),
                    }
                },
            },
            "results": results,
        }

    @staticmethod
    def _utterance(words: list[SpokenWord], params: dict[str, str]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "start": words[0].start,
            "end": words[-1].end,
            "confidence": mean_confidence(words),
            "channel": 0,
            "transcript": transcript_text(words, params),
            "words": [word_json(w, params) for w in words],
            "id": str(uuid.uuid4()),
        }
        if on(params, "diarize"):
            out["speaker"] = words[0].speaker
        return out

    @staticmethod
    def _paragraphs(words: list[SpokenWord], params: dict[str, str]) -> dict[str, Any]:
        # Where the real service breaks paragraphs is its own; the fake breaks on a speaker
        # change (with diarize) or a silence over 1.5 s, and sentences after . ? !
        paragraphs = []
        lines = []
        for group in _groups(words, 1.5, on(params, "diarize")):
            sentences: list[list[SpokenWord]] = [[]]
            for word in group:
                sentences[-1].append(word)
                if _SENTENCE_END.search(word.text):
                    sentences.append([])
            sentences = [s for s in sentences if s]
            paragraph: dict[str, Any] = {
                "sentences": [
                    {"text": " ".join(w.text for w in s), "start": s[0].start, "end": s[-1].end}
                    for s in sentences
                ],
                "num_words": len(group),
                "start": group[0].start,
                "end": group[-1].end,
            }
            text = " ".join(w.text for w in group)
            if on(params, "diarize"):
                paragraph["speaker"] = group[0].speaker
                text = f"Speaker {group[0].speaker}: {text}"
            paragraphs.append(paragraph)
            lines.append(text)
        return {"transcript": "\n" + "\n\n".join(lines), "paragraphs": paragraphs}
