"""Deepgram's pre-recorded speech to text (``POST /v1/listen``, nova-2) behind the
``Transcriber`` protocol, over its documented HTTP API with httpx, and the errors every
Deepgram call can raise (the live stream's are in ``_deepgram_live.py``).

    DeepgramError                 any refusal or failure, with status, err_code, request_id
    ├── DeepgramAuthError         401/403: the key is wrong or may not use this model
    ├── DeepgramPaymentRequired   402: the project is out of credits
    ├── DeepgramBadRequest        400 (and other 4xx): the audio or an option is refused
    ├── DeepgramRateLimited       429, still after the retries
    ├── DeepgramUnavailable       5xx or no answer, still after the retries
    └── DeepgramStreamClosed      a live stream the server closed (NET-0001, ...)
"""

from __future__ import annotations

import asyncio
import io
import math
import mimetypes
import random
import struct
import time
import wave
from collections.abc import AsyncIterator, Generator, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from v100.ai.asr._transcript import AudioSource, Transcript, TranscriptSegment, Word
from v100.ai.audio import SAMPLE_RATE, Pcm, PcmFile

__all__ = [
    "DEEPGRAM_API_URL",
    "DeepgramAuthError",
    "DeepgramBadRequest",
    "DeepgramError",
    "DeepgramOptions",
    "DeepgramPaymentRequired",
    "DeepgramRateLimited",
    "DeepgramStreamClosed",
    "DeepgramTranscriber",
    "DeepgramUnavailable",
    "pcm_to_wav",
    "transcript_from_response",
]

DEEPGRAM_API_URL = "https://api.deepgram.com"
_RETRIED = frozenset({429, 500, 502, 503, 504})
_CHUNK = 1 << 20


class DeepgramError(Exception):
    def __init__(
        self, message: str, *, status: int | None = None, err_code: str | None = None,
        request_id: str | None = None,
    ) -> None:  # fmt: skip
        super().__init__(message)
        self.status = status
        self.err_code = err_code
        self.request_id = request_id


class DeepgramAuthError(DeepgramError):
    pass


class DeepgramPaymentRequired(DeepgramError):
    pass


class DeepgramBadRequest(DeepgramError):
    pass


class DeepgramRateLimited(DeepgramError):
    pass


class DeepgramUnavailable(DeepgramError):
    pass


class DeepgramStreamClosed(DeepgramError):
    """The server closed a live stream other than after our CloseStream: ``code`` and
    ``reason`` are its close frame's (1011 with NET-0001 when no audio or KeepAlive came)."""

    def __init__(self, message: str, *, code: int | None, reason: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


def _bool(value: bool) -> str:
    return "true" if value else "false"


@dataclass(frozen=True, slots=True)
class DeepgramOptions:
    """The query options of a pre-recorded request. With no language named, the request asks
    for ``detect_language``; with one, it sends ``language`` and nothing is detected."""

    model: str = "nova-2"
    smart_format: bool = True
    punctuate: bool = True
    # Deepgram now documents ``diarize_model`` too; ``diarize=true`` is what nova-2 takes.
    diarize: bool = True
    utterances: bool = True
    paragraphs: bool = False
    # Any other documented option, sent as given (``{"utt_split": "0.8"}``).
    extra: Mapping[str, str] = field(default_factory=dict)

    def query(self, language: str | None) -> dict[str, str]:
        params = {
            "model": self.model,
            "smart_format": _bool(self.smart_format),
            "punctuate": _bool(self.punctuate),
            "diarize": _bool(self.diarize),
            "utterances": _bool(self.utterances),
            "paragraphs": _bool(self.paragraphs),
        }
        if language:
            params["language"] = language
        else:
            params["detect_language"] = "true"
        params.update(self.extra)
        return params


def pcm_to_wav(pcm: Pcm, sample_rate: int = SAMPLE_RATE) -> bytes:
    """16 kHz float32 PCM as a 16-bit mono WAV file (what we upload for an array)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm16(pcm))
    return buffer.getvalue()


def pcm16(pcm: Pcm) -> bytes:
    """Float32 samples in [-1, 1] as little-endian signed 16-bit (Deepgram's ``linear16``)."""
    samples = np.asarray(pcm, dtype=np.float32)
    if samples.ndim != 1:
        raise ValueError("PCM must be one channel: a 1-D array of 16 kHz float32 samples")
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def _wav_header(frames: int, sample_rate: int = SAMPLE_RATE) -> bytes:
    """The 44-byte header of a 16-bit mono WAV file of ``frames`` samples."""
    data = frames * 2
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + data, b"WAVE", b"fmt ", 16, 1, 1, sample_rate,
        sample_rate * 2, 2, 16, b"data", data,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Upload:
    """One request body: a file streamed from disk (read again on each retry), decoded samples
    on disk streamed as a 16-bit WAV (a slice at a time), or bytes."""

    content_type: str
    path: Path | None = None
    pcm: PcmFile | None = None
    data: bytes | None = None
    json: dict[str, str] | None = None

    def length(self) -> int | None:
        if self.path is not None:
            return self.path.stat().st_size
        if self.pcm is not None:
            return 44 + 2 * self.pcm.size
        return None if self.data is None else len(self.data)

    def _blocks(self) -> Generator[bytes] | None:
        """The body a block at a time, read when asked (None: no streamed body)."""
        if self.path is not None:
            path = self.path

            def from_file() -> Generator[bytes]:
                with path.open("rb") as source:
                    while block := source.read(_CHUNK):
                        yield block

            return from_file()
        if self.pcm is not None:
            pcm, step = self.pcm, _CHUNK // 2

            def from_pcm() -> Generator[bytes]:
                yield _wav_header(pcm.size)
                for start in range(0, pcm.size, step):
                    yield pcm16(pcm[start : start + step])

            return from_pcm()
        return None

    def sync_body(self) -> bytes | Iterator[bytes] | None:
        blocks = self._blocks()
        return self.data if blocks is None else blocks

    def async_body(self) -> bytes | AsyncIterator[bytes] | None:
        blocks = self._blocks()
        if blocks is None:
            return self.data
        stream = blocks

        async def chunks() -> AsyncIterator[bytes]:
            try:
                while block := await asyncio.to_thread(next, stream, b""):
                    yield block
            finally:
                await asyncio.to_thread(stream.close)

        return chunks()


def _upload(audio: AudioSource) -> _Upload:
    if isinstance(audio, str | Path):
        path = Path(audio)
        if not path.is_file():
            raise FileNotFoundError(path)
        guessed = mimetypes.guess_type(path.name)[0]
        # Deepgram reads the container itself; the type only has to be audio or video.
        kind = guessed if guessed and guessed.split("/")[0] in ("audio", "video") else None
        return _Upload(kind or "application/octet-stream", path=path)
    if isinstance(audio, PcmFile):
        return _Upload("audio/wav", pcm=audio)
    return _Upload("audio/wav", data=pcm_to_wav(np.asarray(audio, dtype=np.float32)))


class DeepgramTranscriber:
    """Deepgram nova-2 over its REST API. ``transcribe`` blocks on the network;
    ``transcribe_async`` is natively async (no thread). 429 and 5xx answers and failed
    connections are retried ``retries`` times with exponential backoff (``Retry-After`` when
    Deepgram sends one); 400/401/402/403 are raised at once as typed errors."""

    name = "deepgram"

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEEPGRAM_API_URL,
        options: DeepgramOptions | None = None,
        timeout: float = 300.0,
        connect_timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 20.0,
    ) -> None:
        if not api_key:
            raise ValueError("a Deepgram API key is required")
        self._key = api_key
        self._url = base_url.rstrip("/") + "/v1/listen"
        self.options = options or DeepgramOptions()
        # Deepgram answers when the whole file is transcribed: the read timeout is long.
        self._timeout = httpx.Timeout(timeout, connect=connect_timeout)
        self._retries = retries
        self._backoff = backoff
        self._max_backoff = max_backoff

    # --- the Transcriber protocol ------------------------------------------------------

    # ``diarize`` (True/False) overrides ``options.diarize`` for one call: speakers or not.

    def transcribe(
        self, audio: AudioSource, language: str | None = None, *, diarize: bool | None = None
    ) -> Transcript:
        return self._sync(_upload(audio), self._options(diarize), language)

    async def transcribe_async(
        self, audio: AudioSource, language: str | None = None, *, diarize: bool | None = None
    ) -> Transcript:
        upload = await asyncio.to_thread(_upload, audio)  # encoding a long array is CPU work
        return await self._async(upload, self._options(diarize), language)

    async def transcribe_url_async(
        self, url: str, language: str | None = None, *, diarize: bool | None = None
    ) -> Transcript:
        """Deepgram fetches ``url`` itself (``{"url": ...}``): the caller vets the URL first."""
        upload = _Upload("application/json", json={"url": url})
        return await self._async(upload, self._options(diarize), language)

    def _options(self, diarize: bool | None) -> DeepgramOptions:
        return self.options if diarize is None else replace(self.options, diarize=diarize)

    # --- sending -----------------------------------------------------------------------

    def _request(
        self, upload: _Upload, options: DeepgramOptions, language: str | None, *, is_async: bool
    ) -> dict[str, Any]:
        """The keyword arguments of one POST (a fresh body each time: a retry reads again)."""
        headers = {"Authorization": f"Token {self._key}"}
        request: dict[str, Any] = {"params": options.query(language), "headers": headers}
        if upload.json is not None:
            request["json"] = upload.json
            return request
        headers["Content-Type"] = upload.content_type
        if (size := upload.length()) is not None:
            headers["Content-Length"] = str(size)
        request["content"] = upload.async_body() if is_async else upload.sync_body()
        return request

    def _sync(self, upload: _Upload, options: DeepgramOptions, language: str | None) -> Transcript:
        with httpx.Client(timeout=self._timeout, trust_env=False) as client:
            for attempt in range(self._retries + 1):
                try:
                    answer = client.post(
                        self._url, **self._request(upload, options, language, is_async=False)
                    )
                except httpx.TransportError as exc:
                    if attempt == self._retries:
                        raise DeepgramUnavailable(f"Deepgram did not answer: {exc}") from exc
                    time.sleep(self._delay(attempt, None))
                    continue
                if answer.status_code in _RETRIED and attempt < self._retries:
                    time.sleep(self._delay(attempt, answer))
                    continue
                return self._result(answer, language)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _async(
        self, upload: _Upload, options: DeepgramOptions, language: str | None
    ) -> Transcript:
        async with httpx.AsyncClient(timeout=self._timeout, trust_env=False) as client:
            for attempt in range(self._retries + 1):
                try:
                    answer = await client.post(
                        self._url, **self._request(upload, options, language, is_async=True)
                    )
                except httpx.TransportError as exc:
                    if attempt == self._retries:
                        raise DeepgramUnavailable(f"Deepgram did not answer: {exc}") from exc
                    await asyncio.sleep(self._delay(attempt, None))
                    continue
                if answer.status_code in _RETRIED and attempt < self._retries:
                    await asyncio.sleep(self._delay(attempt, answer))
                    continue
                return self._result(answer, language)
        raise AssertionError("unreachable")  # pragma: no cover

    def _delay(self, attempt: int, answer: httpx.Response | None) -> float:
        if answer is not None:
            after = answer.headers.get("retry-after", "")
            if after.replace(".", "", 1).isdigit():
                return min(float(after), self._max_backoff)
        # Full jitter: callers that were limited together do not come back together.
        return random.uniform(0, min(self._max_backoff, self._backoff * 2**attempt))

    def _result(self, answer: httpx.Response, language: str | None) -> Transcript:
        if answer.status_code >= 400:
            raise _refusal(answer)
        try:
            body = answer.json()
        except ValueError as exc:
            raise DeepgramUnavailable(
                "Deepgram answered with something that is not JSON", status=answer.status_code
            ) from exc
        return transcript_from_response(body, language=language, backend=self.name)


def _refusal(answer: httpx.Response) -> DeepgramError:
    """Deepgram's error body ``{err_code, err_msg, request_id}`` as a typed error."""
    status = answer.status_code
    try:
        body = answer.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    code = body.get("err_code") or body.get("category")
    text = body.get("err_msg") or body.get("message") or answer.reason_phrase
    request_id = body.get("request_id")
    kind: type[DeepgramError]
    if status in (401, 403):
        kind, what = DeepgramAuthError, "Deepgram refused the API key"
    elif status == 402:
        kind, what = DeepgramPaymentRequired, "Deepgram's project is out of credits"
    elif status == 429:
        kind, what = DeepgramRateLimited, "Deepgram is limiting our requests"
    elif status >= 500:
        kind, what = DeepgramUnavailable, "Deepgram failed"
    else:
        kind, what = DeepgramBadRequest, "Deepgram refused the request"
    message = f"{what} (HTTP {status} {code or ''}): {text}".replace(" )", ")")
    return kind(message, status=status, err_code=code, request_id=request_id)


# --- the answer, as a Transcript ---------------------------------------------------------


def _word(raw: Mapping[str, Any]) -> Word:
    speaker = raw.get("speaker")
    return Word(
        text=str(raw.get("punctuated_word") or raw["word"]),
        start=float(raw["start"]),
        end=float(raw["end"]),
        probability=float(raw.get("confidence", 0.0)),
        speaker=int(speaker) if speaker is not None else None,
    )


def _segment(
    text: str, start: float, end: float, words: tuple[Word, ...], confidence: float,
    speaker: Any,
) -> TranscriptSegment:  # fmt: skip
    return TranscriptSegment(
        text=text.strip(),
        start=start,
        end=end,
        words=words,
        # Deepgram gives a confidence, not a log-probability: its log stands in, so the
        # field reads the same way (0 is certain, more negative is less sure).
        avg_logprob=math.log(max(confidence, 1e-6)),
        no_speech_prob=0.0,  # Deepgram returns no segment for audio without speech
        speaker=int(speaker) if speaker is not None else None,
    )


def _segments(
    alternative: Mapping[str, Any], results: Mapping[str, Any]
) -> list[TranscriptSegment]:
    words = tuple(_word(w) for w in alternative.get("words") or ())
    utterances = results.get("utterances")
    if utterances:
        return [
            _segment(
                str(u.get("transcript", "")), float(u["start"]), float(u["end"]),
                tuple(_word(w) for w in u.get("words") or ()),
                float(u.get("confidence", 0.0)), u.get("speaker"),
            )
            for u in utterances
            if u.get("channel", 0) == 0
        ]  # fmt: skip
    paragraphs = (alternative.get("paragraphs") or {}).get("paragraphs")
    if paragraphs:
        segments = []
        for paragraph in paragraphs:
            start, end = float(paragraph["start"]), float(paragraph["end"])
            inside = tuple(w for w in words if start <= w.start and w.end <= end)
            text = " ".join(str(s.get("text", "")) for s in paragraph.get("sentences") or ())
            confidence = sum(w.probability for w in inside) / len(inside) if inside else 0.0
            segments.append(
                _segment(text, start, end, inside, confidence, paragraph.get("speaker"))
            )
        return segments
    if not words:
        return []
    return [
        _segment(
            str(alternative.get("transcript", "")), words[0].start, words[-1].end, words,
            float(alternative.get("confidence", 0.0)), None,
        )
    ]  # fmt: skip


def transcript_from_response(
    body: Mapping[str, Any], *, language: str | None = None, backend: str = "deepgram"
) -> Transcript:
    """A pre-recorded answer as a ``Transcript``: segments from ``results.utterances`` when
    asked for, else from the paragraphs, else one segment of every word; the detected language
    and its confidence from the first channel; the duration from ``metadata``."""
    try:
        results = body["results"]
        channel = results["channels"][0]
        alternatives = channel.get("alternatives") or [{}]
        segments = _segments(alternatives[0], results)
        duration = float(body.get("metadata", {}).get("duration", 0.0))
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise DeepgramUnavailable(f"Deepgram's answer is not a transcript: {exc!r}") from exc
    if language:
        found: str | None = language
        probability: float | None = 1.0
    elif segments and channel.get("detected_language"):
        found = str(channel["detected_language"])
        confidence = channel.get("language_confidence")
        probability = float(confidence) if confidence is not None else None
    else:
        found = probability = None  # nothing heard: nothing to say of its language
    return Transcript(
        segments=tuple(segments),
        language=found,
        language_probability=probability,
        duration=duration,
        speech_duration=sum(s.end - s.start for s in segments),
        backend=backend,
    )
