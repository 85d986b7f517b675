"""The transcript as the scorer reads it: its sentences in order (with where each paragraph
opens and closes) and a table of its words, each counted once for every feature a factor
reads, kept as running sums so any span's counts cost two lookups."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from v100.ai.highlights._lexicon import (
    EMOTION,
    FILLERS,
    INTENSIFIERS,
    NUMBER_WORDS,
    STOPWORDS,
    YOU,
    normalise,
    stem,
)
from v100.contracts.transcripts import TranscriptDocument

__all__ = ["Sentence", "WordTable", "read_transcript"]

# The features counted per word, in the order of ``WordTable.counts``' rows.
FEATURES = (
    "words", "content", "filler", "emotion", "intensifier", "number", "you",
    "exclaim", "question", "shout", "proper",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Sentence:
    index: int
    # Its words: ``table.raw[first_word : first_word + num_words]``.
    first_word: int
    num_words: int
    start: float
    end: float
    text: str
    paragraph: int
    opens_paragraph: bool
    closes_paragraph: bool


@dataclass(frozen=True, slots=True)
class WordTable:
    raw: list[str]
    stems: list[str]
    starts: npt.NDArray[np.float64]
    # Running sums, one row per feature: the count over words [a, b) is
    # ``counts[:, b] - counts[:, a]``.
    counts: npt.NDArray[np.int64]

    def count(self, feature: str, first: int, end: int) -> int:
        row = FEATURES.index(feature)
        return int(self.counts[row, end] - self.counts[row, first])

    def first_at_or_after(self, time: float) -> int:
        return int(np.searchsorted(self.starts, time, side="left"))


def _features(word: str, opens_sentence: bool) -> list[int]:
    norm = normalise(word)
    letters = norm.replace("'", "")
    is_number = any(ch.isdigit() for ch in word) or "%" in word or norm in NUMBER_WORDS
    shout = len(letters) >= 2 and letters.isalpha() and word.strip("!?.,;:\"'").isupper()
    return [
        1,
        int(bool(letters) and norm not in STOPWORDS),
        int(norm in FILLERS),
        int(norm in EMOTION),
        int(norm in INTENSIFIERS),
        int(is_number),
        int(norm in YOU),
        int("!" in word),
        int("?" in word),
        int(shout),
        # A capitalised word inside a sentence: a name (Whisper writes them so).
        int(not opens_sentence and word[:1].isupper() and norm != "i" and not shout),
    ]


def read_transcript(document: TranscriptDocument) -> tuple[list[Sentence], WordTable]:
    words = document.words()
    sentences: list[Sentence] = []
    for p, paragraph in enumerate(document.paragraphs):
        last = len(paragraph.sentences) - 1
        for s, sentence in enumerate(paragraph.sentences):
            sentences.append(
                Sentence(
                    index=len(sentences),
                    first_word=sentence.first_word,
                    num_words=sentence.num_words,
                    start=sentence.start,
                    end=sentence.end,
                    text=sentence.text,
                    paragraph=p,
                    opens_paragraph=s == 0,
                    closes_paragraph=s == last,
                )
            )
    raw = [word.word for word in words]
    openers = {sentence.first_word for sentence in sentences}
    rows = np.array(
        [_features(word, i in openers) for i, word in enumerate(raw)], dtype=np.int64
    ).reshape(-1, len(FEATURES))
    counts = np.zeros((len(FEATURES), len(raw) + 1), dtype=np.int64)
    counts[:, 1:] = np.cumsum(rows, axis=0).T
    table = WordTable(
        raw=raw,
        stems=[stem(normalise(word)) for word in raw],
        starts=np.array([word.start for word in words], dtype=np.float64),
        counts=counts,
    )
    return sentences, table
