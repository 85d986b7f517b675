"""The transcript document: what the transcription service answers for a finished transcript,
and what media_processor's captions are made from. Times are seconds from the start of the
audio; every word has a start and an end (``aligned`` False: the word carries its segment's
timing, which the aligner could not refine); ``speaker`` is 0, 1, ... when diarization ran.

    {"language": "en", "language_probability": 0.98, "duration": 61.2, "text": "...",
     "segments": [{"text": "...", "start": 0.0, "end": 4.1, "speaker": 0,
                   "words": [{"word": "Hello", "start": 0.0, "end": 0.4,
                              "confidence": 0.97, "aligned": true, "speaker": 0}]}]}
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["TranscriptDocument", "TranscriptSegmentDoc", "TranscriptWordDoc"]

# Longer than any audio the platform takes (a 24 h recording), as a bound on every time.
_MAX_SECONDS = 7 * 24 * 3600.0


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TranscriptWordDoc(_Doc):
    word: str = Field(max_length=200)
    start: float = Field(ge=0, le=_MAX_SECONDS)
    end: float = Field(ge=0, le=_MAX_SECONDS)
    confidence: float = Field(ge=0, le=1)
    aligned: bool = True
    speaker: int | None = Field(default=None, ge=0, le=1000)


class TranscriptSegmentDoc(_Doc):
    text: str = Field(max_length=20_000)
    start: float = Field(ge=0, le=_MAX_SECONDS)
    end: float = Field(ge=0, le=_MAX_SECONDS)
    speaker: int | None = Field(default=None, ge=0, le=1000)
    words: list[TranscriptWordDoc] = Field(default_factory=list, max_length=20_000)


class TranscriptDocument(_Doc):
    language: str | None = Field(default=None, max_length=16)
    language_probability: float | None = Field(default=None, ge=0, le=1)
    duration: float = Field(ge=0, le=_MAX_SECONDS)
    text: str = Field(default="", max_length=2_000_000)
    segments: list[TranscriptSegmentDoc] = Field(default_factory=list, max_length=100_000)
