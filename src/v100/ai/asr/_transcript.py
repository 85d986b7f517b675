"""What a transcription returns, whatever the backend: segments of words, each word with its
own start, end and confidence, the detected language and the audio's duration."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from v100.ai.audio import Pcm, PcmFile

__all__ = ["AudioSource", "Transcriber", "Transcript", "TranscriptSegment", "Word"]

# A path to any audio or video file FFmpeg reads, or 16 kHz mono float32 PCM (in memory, or
# decoded to disk by ``v100.ai.audio.decode_pcm``).
AudioSource = str | Path | Pcm | PcmFile


@dataclass(frozen=True, slots=True)
class Word:
    text: str
    start: float  # seconds from the start of the audio
    end: float
    probability: float
    # False when the aligner gave the word no timing of its own and it carries its segment's
    # (seen with numbers: whisperX#559). Every word has a start and an end either way.
    aligned: bool = True
    # Who spoke it (0, 1, ...), when the backend or a diarization step told; None otherwise.
    speaker: int | None = None


@dataclass(frozen=True, slots=True)
class TranscriptSegment:
    text: str
    start: float
    end: float
    words: tuple[Word, ...]
    avg_logprob: float
    no_speech_prob: float
    speaker: int | None = None


@dataclass(frozen=True, slots=True)
class Transcript:
    segments: tuple[TranscriptSegment, ...]
    # None when nothing was heard (no speech found), or the caller named the language and so
    # nothing was detected (then ``language`` is that one and the probability is 1).
    language: str | None
    language_probability: float | None
    duration: float  # seconds of audio given
    speech_duration: float = 0.0  # seconds the VAD kept and the model decoded
    backend: str = ""

    @property
    def text(self) -> str:
        return " ".join(segment.text for segment in self.segments).strip()

    @property
    def words(self) -> list[Word]:
        return [word for segment in self.segments for word in segment.words]


@runtime_checkable
class Transcriber(Protocol):
    """A speech-to-text backend. ``transcribe`` blocks (CPU or network); ``transcribe_async``
    runs it without holding up the event loop."""

    name: str

    def transcribe(self, audio: AudioSource, language: str | None = None) -> Transcript: ...

    async def transcribe_async(
        self, audio: AudioSource, language: str | None = None
    ) -> Transcript: ...
