"""A transcript's words grouped the ways readers know from Deepgram, the same for every
backend: utterances (one speaker's words without a pause longer than ``UTTERANCE_PAUSE``, as
Deepgram's ``utt_split`` of 0.8 s) and paragraphs of sentences (a new paragraph when the speaker
changes or after a pause of ``PARAGRAPH_PAUSE``). Each also ends at its word limit
(``contracts.transcripts``), so a monologue with no pause still fits the document."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from statistics import fmean

from v100.contracts.transcripts import (
    MAX_PARAGRAPH_SENTENCES,
    MAX_SENTENCE_WORDS,
    MAX_UTTERANCE_WORDS,
    TranscriptParagraphDoc,
    TranscriptSentenceDoc,
    TranscriptUtteranceDoc,
    TranscriptWordDoc,
)

__all__ = ["PARAGRAPH_PAUSE", "UTTERANCE_PAUSE", "paragraphs", "utterances"]

UTTERANCE_PAUSE = 0.8
PARAGRAPH_PAUSE = 1.5
# A word that ends a sentence (closing quotes and brackets after the mark allowed).
_SENTENCE_END = re.compile("[.?!\u2026\u3002\uff1f\uff01]['\")\\]\u201d\u2019]*$")
# Languages written without spaces between words (Whisper's codes).
_UNSPACED = frozenset({"zh", "yue", "ja", "th", "lo", "my", "km", "bo"})

Words = Sequence[TranscriptWordDoc]
# Whether a new group starts at this word: (previous word, this word, words in the group).
Breaks = Callable[[TranscriptWordDoc, TranscriptWordDoc, int], bool]


def _runs(words: Words, breaks: Breaks) -> Iterator[tuple[int, int]]:
    """(first index, count) of each group of consecutive words."""
    first = 0
    for i in range(1, len(words)):
        if breaks(words[i - 1], words[i], i - first):
            yield first, i - first
            first = i
    if words:
        yield first, len(words) - first


def _text(words: Words, language: str | None) -> str:
    return ("" if language in _UNSPACED else " ").join(word.word for word in words)


def utterances(words: Words, language: str | None) -> list[TranscriptUtteranceDoc]:
    def breaks(before: TranscriptWordDoc, word: TranscriptWordDoc, count: int) -> bool:
        return (
            word.speaker != before.speaker
            or word.start - before.end > UTTERANCE_PAUSE
            or count >= MAX_UTTERANCE_WORDS
        )

    found = []
    for first, count in _runs(words, breaks):
        span = words[first : first + count]
        found.append(
            TranscriptUtteranceDoc(
                start=span[0].start, end=max(word.end for word in span), first_word=first,
                num_words=count, text=_text(span, language), speaker=span[0].speaker,
                confidence=fmean(word.confidence for word in span),
            )
        )  # fmt: skip
    return found


def _sentences(words: Words, language: str | None) -> list[TranscriptSentenceDoc]:
    def breaks(before: TranscriptWordDoc, word: TranscriptWordDoc, count: int) -> bool:
        return (
            bool(_SENTENCE_END.search(before.word))
            or word.speaker != before.speaker
            or word.start - before.end >= PARAGRAPH_PAUSE
            or count >= MAX_SENTENCE_WORDS
        )

    found = []
    for first, count in _runs(words, breaks):
        span = words[first : first + count]
        found.append(
            TranscriptSentenceDoc(
                start=span[0].start, end=max(word.end for word in span), first_word=first,
                num_words=count, text=_text(span, language),
            )
        )  # fmt: skip
    return found


def paragraphs(words: Words, language: str | None) -> list[TranscriptParagraphDoc]:
    found: list[TranscriptParagraphDoc] = []
    group: list[TranscriptSentenceDoc] = []

    def close() -> None:
        found.append(
            TranscriptParagraphDoc(
                start=group[0].start, end=max(s.end for s in group),
                first_word=group[0].first_word, num_words=sum(s.num_words for s in group),
                speaker=words[group[0].first_word].speaker, sentences=group.copy(),
            )
        )  # fmt: skip
        group.clear()

    for sentence in _sentences(words, language):
        if group and (
            words[sentence.first_word].speaker != words[group[-1].first_word].speaker
            or sentence.start - group[-1].end >= PARAGRAPH_PAUSE
            or len(group) >= MAX_PARAGRAPH_SENTENCES
        ):
            close()
        group.append(sentence)
    if group:
        close()
    return found
