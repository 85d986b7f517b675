"""The transcript document: what the transcription service answers for a finished transcript,
and what media_processor's captions are made from. Times are seconds from the start of the
audio; every word has a start and an end (``aligned`` False: the word carries its segment's
timing, which the aligner could not refine); ``speaker`` is 0, 1, ... in the order the speakers
first speak, when diarization ran (None otherwise).

Besides the backend's ``segments``, the same words are grouped two more ways, the same for
every backend: ``utterances`` (one speaker's words without a pause longer than 0.8 s, like
Deepgram's ``utt_split``) and ``paragraphs`` of ``sentences`` (a new paragraph at a change of
speaker or a long pause, like Deepgram's ``paragraphs``). They point into the document's words
(``words()``: every segment's words in order) by ``first_word`` and ``num_words``.

    {"language": "en", "language_probability": 0.98, "duration": 61.2, "text": "...",
     "segments": [{"text": "...", "start": 0.0, "end": 4.1, "speaker": 0,
                   "words": [{"word": "Hello", "start": 0.0, "end": 0.4,
                              "confidence": 0.97, "aligned": true, "speaker": 0}]}],
     "utterances": [{"text": "Hello there.", "start": 0.0, "end": 0.9, "speaker": 0,
                     "confidence": 0.95, "first_word": 0, "num_words": 2}],
     "paragraphs": [{"start": 0.0, "end": 4.1, "speaker": 0, "first_word": 0, "num_words": 9,
                     "sentences": [{"text": "Hello there.", "start": 0.0, "end": 0.9,
                                    "first_word": 0, "num_words": 2}]}]}
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "MAX_PARAGRAPH_SENTENCES",
    "MAX_SENTENCE_WORDS",
    "MAX_UTTERANCE_WORDS",
    "TranscriptDocument",
    "TranscriptParagraphDoc",
    "TranscriptSegmentDoc",
    "TranscriptSentenceDoc",
    "TranscriptUtteranceDoc",
    "TranscriptWordDoc",
]

# Longer than any audio the platform takes (a 24 h recording), as a bound on every time.
_MAX_SECONDS = 7 * 24 * 3600.0
_MAX_WORD = 200
# Where a grouping is cut even without a pause, so every text stays within its bound.
MAX_UTTERANCE_WORDS = 400
MAX_SENTENCE_WORDS = 100
MAX_PARAGRAPH_SENTENCES = 10
_MAX_INDEX = 10_000_000


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TranscriptWordDoc(_Doc):
    word: str = Field(max_length=_MAX_WORD)
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


class _WordSpan(_Doc):
    start: float = Field(ge=0, le=_MAX_SECONDS)
    end: float = Field(ge=0, le=_MAX_SECONDS)
    # The span's words: ``document.words()[first_word : first_word + num_words]``.
    first_word: int = Field(ge=0, le=_MAX_INDEX)
    num_words: int = Field(ge=1, le=MAX_UTTERANCE_WORDS)


class TranscriptUtteranceDoc(_WordSpan):
    text: str = Field(max_length=MAX_UTTERANCE_WORDS * (_MAX_WORD + 1))
    speaker: int | None = Field(default=None, ge=0, le=1000)
    confidence: float = Field(ge=0, le=1)  # the mean of its words'


class TranscriptSentenceDoc(_WordSpan):
    text: str = Field(max_length=MAX_SENTENCE_WORDS * (_MAX_WORD + 1))
    num_words: int = Field(ge=1, le=MAX_SENTENCE_WORDS)


class TranscriptParagraphDoc(_WordSpan):
    speaker: int | None = Field(default=None, ge=0, le=1000)
    num_words: int = Field(ge=1, le=MAX_SENTENCE_WORDS * MAX_PARAGRAPH_SENTENCES)
    sentences: list[TranscriptSentenceDoc] = Field(min_length=1, max_length=MAX_PARAGRAPH_SENTENCES)


class TranscriptDocument(_Doc):
    language: str | None = Field(default=None, max_length=16)
    language_probability: float | None = Field(default=None, ge=0, le=1)
    duration: float = Field(ge=0, le=_MAX_SECONDS)
    text: str = Field(default="", max_length=2_000_000)
    segments: list[TranscriptSegmentDoc] = Field(default_factory=list, max_length=100_000)
    utterances: list[TranscriptUtteranceDoc] = Field(default_factory=list, max_length=200_000)
    paragraphs: list[TranscriptParagraphDoc] = Field(default_factory=list, max_length=200_000)

    @model_validator(mode="after")
    def _spans_within_words(self) -> TranscriptDocument:
        count = sum(len(segment.words) for segment in self.segments)
        for span in [*self.utterances, *self.paragraphs]:
            if span.first_word + span.num_words > count:
                raise ValueError(f"an utterance or paragraph points past the {count} words")
        return self

    def words(self) -> list[TranscriptWordDoc]:
        """Every segment's words in order: what ``first_word`` counts in."""
        return [word for segment in self.segments for word in segment.words]
