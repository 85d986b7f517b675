"""The transcript document built from a backend's transcript: utterances (one speaker, cut at a
pause over 0.8 s), paragraphs of sentences (cut at a change of speaker or a pause of 1.5 s), the
word limits that keep a monologue within the document's bounds, and spans that must point at
the document's own words."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from v100.ai.asr import Transcript, TranscriptSegment, Word, to_document
from v100.contracts.transcripts import (
    MAX_PARAGRAPH_SENTENCES,
    MAX_SENTENCE_WORDS,
    MAX_UTTERANCE_WORDS,
    TranscriptDocument,
)


def _transcript(
    said: list[tuple[str, float, float, int | None]], language: str = "en"
) -> Transcript:
    words = tuple(
        Word(text, start, end, 0.8, speaker=speaker) for text, start, end, speaker in said
    )
    segment = TranscriptSegment(
        " ".join(text for text, *_ in said), words[0].start, words[-1].end, words, -0.2, 0.01
    )
    return Transcript((segment,), language, 0.99, duration=words[-1].end + 1.0)


CONVERSATION = [
    ("Hello", 0.0, 0.3, 0),
    ("there.", 0.35, 0.7, 0),
    ("How", 0.8, 1.0, 0),  # 0.1 s pause: the same utterance, a new sentence
    ("are", 1.05, 1.2, 0),
    ("you?", 1.25, 1.5, 0),
    ("Fine,", 1.7, 2.0, 1),  # another speaker: a new utterance and paragraph
    ("thanks.", 2.05, 2.4, 1),
    ("And", 3.5, 3.7, 1),  # 1.1 s pause: a new utterance, the same paragraph
    ("you?", 3.75, 4.0, 1),
    ("Good.", 6.0, 6.4, 1),  # 2 s pause: a new paragraph, same speaker
]


def test_utterances_break_at_a_change_of_speaker_or_a_pause() -> None:
    document = to_document(_transcript(CONVERSATION))
    shown = [
        (u.text, u.speaker, u.start, u.end, u.first_word, u.num_words) for u in document.utterances
    ]
    assert shown == [
        ("Hello there. How are you?", 0, 0.0, 1.5, 0, 5),
        ("Fine, thanks.", 1, 1.7, 2.4, 5, 2),
        ("And you?", 1, 3.5, 4.0, 7, 2),
        ("Good.", 1, 6.0, 6.4, 9, 1),
    ]
    assert all(u.confidence == pytest.approx(0.8) for u in document.utterances)
    words = document.words()
    for utterance in document.utterances:
        span = words[utterance.first_word : utterance.first_word + utterance.num_words]
        assert " ".join(word.word for word in span) == utterance.text


def test_paragraphs_break_at_a_change_of_speaker_or_a_long_pause() -> None:
    document = to_document(_transcript(CONVERSATION))
    shown = [
        (p.speaker, p.start, p.end, p.first_word, p.num_words, [s.text for s in p.sentences])
        for p in document.paragraphs
    ]
    assert shown == [
        (0, 0.0, 1.5, 0, 5, ["Hello there.", "How are you?"]),
        (1, 1.7, 4.0, 5, 4, ["Fine, thanks.", "And you?"]),
        (1, 6.0, 6.4, 9, 1, ["Good."]),
    ]
    assert document.paragraphs[0].sentences[1].first_word == 2


def test_without_speakers_only_pauses_break() -> None:
    document = to_document(_transcript([(t, a, b, None) for t, a, b, _ in CONVERSATION]))
    assert [(u.text, u.speaker) for u in document.utterances] == [
        ("Hello there. How are you? Fine, thanks.", None),
        ("And you?", None),
        ("Good.", None),
    ]
    assert [len(p.sentences) for p in document.paragraphs] == [4, 1]


def test_languages_without_spaces_are_joined_without_them() -> None:
    said = [("你好", 0.0, 0.4, 0), ("世界。", 0.4, 0.9, 0)]
    document = to_document(_transcript(said, language="zh"))
    assert document.utterances[0].text == "你好世界。"
    assert document.paragraphs[0].sentences[0].text == "你好世界。"


def test_a_monologue_without_pauses_stays_within_the_limits() -> None:
    count = 2 * MAX_UTTERANCE_WORDS + 10
    said = [(f"word{i}", i * 0.3, i * 0.3 + 0.25, 0) for i in range(count)]
    document = to_document(_transcript(said))
    assert [u.num_words for u in document.utterances] == [
        MAX_UTTERANCE_WORDS,
        MAX_UTTERANCE_WORDS,
        10,
    ]
    sentences = [s for p in document.paragraphs for s in p.sentences]
    assert max(s.num_words for s in sentences) == MAX_SENTENCE_WORDS
    assert max(len(p.sentences) for p in document.paragraphs) <= MAX_PARAGRAPH_SENTENCES
    assert sum(p.num_words for p in document.paragraphs) == count
    # What the service stores reads back as the same document.
    assert TranscriptDocument.model_validate(document.model_dump(mode="json")) == document


def test_silence_has_no_utterances_or_paragraphs() -> None:
    document = to_document(Transcript((), None, None, duration=8.0))
    assert document.utterances == []
    assert document.paragraphs == []


def test_a_span_past_the_words_is_refused() -> None:
    document = to_document(_transcript(CONVERSATION)).model_dump(mode="json")
    document["utterances"][-1]["num_words"] = 2
    with pytest.raises(ValidationError, match="points past the 10 words"):
        TranscriptDocument.model_validate(document)
