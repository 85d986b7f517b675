"""Candidate clips: every run of whole sentences whose length fits the request. A clip opens at
its first sentence, or at a cut just before it when the silence before the sentence holds one
(the picture changes with the first words), and closes after a sentence's end, or at a cut just
after it; it never cuts a word. Without a transcript (no speech), clips run from one scene
boundary to another."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from v100.ai.highlights._settings import HighlightRequest, HighlightSettings
from v100.ai.highlights._transcript import Sentence

__all__ = ["Candidate", "candidates"]


@dataclass(frozen=True, slots=True)
class Candidate:
    start: float
    end: float
    # Its sentences, first and last (inclusive); None when the video has no transcript.
    first_sentence: int | None
    last_sentence: int | None
    # Its words in the transcript's word list: [first_word, end_word).
    first_word: int
    end_word: int
    starts_at_cut: bool
    ends_at_cut: bool

    @property
    def duration(self) -> float:
        return self.end - self.start


def _opening(
    sentence: float, silence_from: float, cuts: Sequence[float], settings: HighlightSettings
) -> tuple[float, bool]:
    """Where a clip whose first word is at ``sentence`` opens, and whether on a cut."""
    i = bisect.bisect_right(cuts, sentence) - 1
    if i >= 0 and silence_from <= cuts[i] and sentence - cuts[i] <= settings.cut_snap:
        return cuts[i], True
    # Never after the first word, even where the aligner overlaps two sentences.
    return min(sentence, max(silence_from, sentence - settings.lead, 0.0)), False


def _closing(
    sentence: float, silence_to: float, cuts: Sequence[float], settings: HighlightSettings
) -> tuple[float, bool]:
    """Where a clip whose last word ends at ``sentence`` closes, and whether on a cut."""
    i = bisect.bisect_left(cuts, sentence)
    if i < len(cuts) and cuts[i] <= silence_to and cuts[i] - sentence <= settings.cut_snap:
        return cuts[i], True
    return max(sentence, min(silence_to, sentence + settings.tail)), False


def candidates(
    sentences: Sequence[Sentence],
    cuts: Sequence[float],
    duration: float,
    request: HighlightRequest,
    settings: HighlightSettings,
) -> list[Candidate]:
    """Every candidate, in order of start then end. ``cuts`` sorted, in seconds."""
    if not sentences:
        return _scene_spans(cuts, duration, request)
    found = []
    for i, first in enumerate(sentences):
        silence_from = sentences[i - 1].end if i else 0.0
        start, at_cut = _opening(first.start, silence_from, cuts, settings)
        for j in range(i, len(sentences)):
            last = sentences[j]
            silence_to = sentences[j + 1].start if j + 1 < len(sentences) else duration
            end, end_cut = _closing(last.end, silence_to, cuts, settings)
            if end - start > request.max_duration:
                break
            if end - start >= request.min_duration:
                found.append(
                    Candidate(
                        start=start, end=end, first_sentence=i, last_sentence=j,
                        first_word=first.first_word, end_word=last.first_word + last.num_words,
                        starts_at_cut=at_cut, ends_at_cut=end_cut,
                    )
                )  # fmt: skip
    return found


def _scene_spans(
    cuts: Sequence[float], duration: float, request: HighlightRequest
) -> list[Candidate]:
    edges = [0.0, *(cut for cut in cuts if 0.0 < cut < duration), duration]
    found = []
    for i in range(len(edges) - 1):
        for j in range(i + 1, len(edges)):
            length = edges[j] - edges[i]
            if length > request.max_duration:
                break
            if length >= request.min_duration:
                found.append(
                    Candidate(
                        start=edges[i], end=edges[j], first_sentence=None, last_sentence=None,
                        first_word=0, end_word=0, starts_at_cut=i > 0,
                        ends_at_cut=j < len(edges) - 1,
                    )
                )  # fmt: skip
    return found
