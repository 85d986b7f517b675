"""What the fake Deepgram knows a recording says, and the word JSON both its REST answers and
its live results are made of."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MODEL_UUID", "Recording", "SpokenWord", "mean_confidence", "on", "transcript_text",
    "word_json",
]  # fmt: skip

MODEL_UUID = "1abfe86b-e047-4eed-858a-35e5625b41ee"  # one fixed id for the fake's model


@dataclass(frozen=True)
class SpokenWord:
    """One word a recording says: as it would be written (``"Hello,"``), when, and by whom."""

    text: str
    start: float
    end: float
    speaker: int = 0
    confidence: float = 0.98

    @property
    def word(self) -> str:
        """Deepgram's bare form: lower case, no punctuation."""
        return re.sub(r"[^\w'-]", "", self.text.lower())


@dataclass(frozen=True)
class Recording:
    """What a test says a recording contains."""

    words: tuple[SpokenWord, ...]
    duration: float
    language: str = "en"
    language_confidence: float = 0.99
    pcm: bytes | None = None  # its 16 kHz mono linear16 samples, when known (live matching)
    sample_rate: int = 16_000


def word_json(word: SpokenWord, params: dict[str, str], *, live: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "word": word.word, "start": word.start, "end": word.end, "confidence": word.confidence,
    }  # fmt: skip
    if on(params, "punctuate") or on(params, "smart_format"):
        out["punctuated_word"] = word.text
    if on(params, "diarize"):
        out["speaker"] = word.speaker
        if not live:  # documented for pre-recorded only
            out["speaker_confidence"] = 0.9
    return out


def transcript_text(words: Sequence[SpokenWord], params: dict[str, str]) -> str:
    punctuated = on(params, "punctuate") or on(params, "smart_format")
    return " ".join(w.text if punctuated else w.word for w in words)


def mean_confidence(words: Sequence[SpokenWord]) -> float:
    return sum(w.confidence for w in words) / len(words) if words else 0.0


def on(params: dict[str, str], name: str) -> bool:
    return params.get(name, "false").lower() == "true"
