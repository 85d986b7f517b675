"""What a live transcription session says, whatever the backend: the messages of Deepgram's
live API as typed events (``Results`` interim or final, ``UtteranceEnd``, ``SpeechStarted``,
``Metadata``), and the ``LiveSession`` interface both the local streaming engine and the
Deepgram client offer: audio in, events out, ``Finalize`` and a closing flush."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, runtime_checkable

import numpy as np

from v100.ai.asr._transcript import Word

__all__ = [
    "LiveEvent",
    "LiveMetadata",
    "LiveResult",
    "LiveSession",
    "LiveSpeechStarted",
    "LiveUtteranceEnd",
    "drain",
]


@dataclass(frozen=True, slots=True)
class LiveResult:
    """A ``Results`` message: interim (``is_final`` False, may still change), final for its
    span of audio, and ``speech_final`` when the speaker paused (endpointing)."""

    transcript: str
    confidence: float
    words: tuple[Word, ...]
    start: float  # seconds from the start of the stream
    duration: float
    is_final: bool
    speech_final: bool
    from_finalize: bool = False
    channel: int = 0


@dataclass(frozen=True, slots=True)
class LiveUtteranceEnd:
    """``UtteranceEnd``: no word for ``utterance_end_ms`` after the word ending at
    ``last_word_end``."""

    last_word_end: float
    channel: int = 0


@dataclass(frozen=True, slots=True)
class LiveSpeechStarted:
    timestamp: float
    channel: int = 0


@dataclass(frozen=True, slots=True)
class LiveMetadata:
    """The summary Deepgram sends last, after ``CloseStream``."""

    request_id: str
    duration: float
    channels: int
    sha256: str | None = None


LiveEvent = LiveResult | LiveUtteranceEnd | LiveSpeechStarted | LiveMetadata


@runtime_checkable
class LiveSession(Protocol):
    """One live stream of 16 kHz mono audio, opened by ``async with``. ``send_audio`` takes
    ``linear16`` bytes or float32 samples; ``events()`` yields what the backend says until the
    stream ends (and raises if the backend ended it); ``finalize`` makes the audio heard so far
    final now;
    ``close`` flushes the last results and ends ``events()``. ``language`` is the one the
    stream is heard in (named, or detected by then; None when unknown)."""

    finals: list[LiveResult]
    language: str | None
    language_probability: float | None

    async def __aenter__(self) -> LiveSession: ...

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        trace: TracebackType | None,
    ) -> None: ...  # fmt: skip

    async def send_audio(self, audio: bytes | np.ndarray[Any, Any]) -> None: ...

    async def finalize(self) -> None: ...

    async def close(self) -> None: ...

    def events(self) -> AsyncIterator[LiveEvent]: ...

    def transcript(self) -> str: ...


async def drain(
    queue: asyncio.Queue[LiveEvent | None], failure: Callable[[], BaseException | None]
) -> AsyncIterator[LiveEvent]:
    """A session's events from its queue until the None that ends them (left there, so later
    readers end too); then ``failure()``, if any, is raised."""
    while True:
        event = await queue.get()
        if event is None:
            queue.put_nowait(None)
            error = failure()
            if error is not None:
                raise error
            return
        yield event
