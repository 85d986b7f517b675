"""A backend's ``v100.ai.asr.Transcript`` as the platform's transcript document
(``contracts.transcripts.TranscriptDocument``): words stripped of Whisper's leading space, every
word with its start, end, confidence and speaker, times within the audio; the same words as
utterances and paragraphs (``grouping``), whichever backend heard them."""

from __future__ import annotations

from v100.ai.asr._grouping import paragraphs, utterances
from v100.ai.asr._transcript import Transcript, TranscriptSegment, Word
from v100.contracts.transcripts import (
    TranscriptDocument,
    TranscriptSegmentDoc,
    TranscriptWordDoc,
)

__all__ = ["to_document"]

_MAX_WORD = 200


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def _word(word: Word, duration: float) -> TranscriptWordDoc | None:
    text = word.text.strip()[:_MAX_WORD]
    if not text:
        return None
    start = _clamp(word.start, 0.0, duration)
    return TranscriptWordDoc(
        word=text,
        start=start,
        end=_clamp(word.end, start, duration),
        confidence=_clamp(word.probability, 0.0, 1.0),
        aligned=word.aligned,
        speaker=word.speaker,
    )


def _segment(segment: TranscriptSegment, duration: float) -> TranscriptSegmentDoc:
    start = _clamp(segment.start, 0.0, duration)
    words = [doc for word in segment.words if (doc := _word(word, duration)) is not None]
    return TranscriptSegmentDoc(
        text=segment.text.strip(),
        start=start,
        end=_clamp(segment.end, start, duration),
        speaker=segment.speaker,
        words=words,
    )


def to_document(transcript: Transcript) -> TranscriptDocument:
    duration = max(0.0, transcript.duration)
    segments = [_segment(segment, duration) for segment in transcript.segments]
    words = [word for segment in segments for word in segment.words]
    return TranscriptDocument(
        language=transcript.language,
        language_probability=(
            None
            if transcript.language_probability is None
            else _clamp(transcript.language_probability, 0.0, 1.0)
        ),
        duration=duration,
        text=transcript.text,
        segments=segments,
        utterances=utterances(words, transcript.language),
        paragraphs=paragraphs(words, transcript.language),
    )
