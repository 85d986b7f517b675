"""The language of a text, from ``py3langid`` (its model ships inside the package): an ISO
639-1 code and a probability normalised over the languages it knows."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

__all__ = ["LanguageGuess", "identify_language", "rank_languages"]


@dataclass(frozen=True, slots=True)
class LanguageGuess:
    language: str  # ISO 639-1, e.g. "en"
    probability: float  # 0..1


_lock = threading.Lock()
_identifier: Any = None


def _get_identifier() -> Any:
    global _identifier
    with _lock:
        if _identifier is None:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            _identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        return _identifier


def identify_language(text: str, *, among: list[str] | None = None) -> LanguageGuess | None:
    """The most likely language of ``text``, or None when it has no letters to go on.
    ``among`` limits the answer to those languages (ISO 639-1 codes)."""
    if not any(ch.isalpha() for ch in text):
        return None
    identifier = _get_identifier()
    with _lock:  # set_languages changes the shared model
        identifier.set_languages(among)
        try:
            language, probability = identifier.classify(text)
        finally:
            identifier.set_languages(None)
    return LanguageGuess(language=str(language), probability=float(probability))


def rank_languages(text: str, *, top: int = 5) -> list[LanguageGuess]:
    """The ``top`` most likely languages of ``text``, best first (the first is what
    ``identify_language`` answers); empty when it has no letters to go on."""
    if not any(ch.isalpha() for ch in text):
        return []
    identifier = _get_identifier()
    with _lock:
        ranked = identifier.rank(text)[:top]
    return [LanguageGuess(language=str(code), probability=float(p)) for code, p in ranked]
