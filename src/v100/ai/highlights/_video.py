"""One video as the factors read it, prepared once for all its candidates: the transcript's
word table and sentences, the cuts in order, each curve's values sorted (so a span can be
placed against the whole video: "louder than 80% of it"), the time faces are on screen, and
the terms the clips should be about."""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from v100.ai.highlights._inputs import Curve, FaceSpan, SpeechSpan, VideoSignals
from v100.ai.highlights._lexicon import STOPWORDS, normalise, stem
from v100.ai.highlights._transcript import Sentence, WordTable

__all__ = ["CurveReader", "Terms", "Video"]

# Without keywords, relevance is to the video's own most frequent content terms.
_MAIN_TERMS = 8


class CurveReader:
    def __init__(self, curve: Curve) -> None:
        self.curve = curve
        self._values = np.asarray(curve.values, dtype=np.float64)
        self._sorted = np.sort(self._values)

    def median(self, start: float, end: float) -> float | None:
        """The median of the samples that ``[start, end)`` touches (a pause's silence inside
        a clip does not drag it down as it would a mean of decibels); None when it touches
        none."""
        curve = self.curve
        first = max(0, math.floor((start - curve.start) / curve.step))
        last = min(len(curve.values), math.ceil((end - curve.start) / curve.step))
        if last <= first:
            return None
        return float(np.median(self._values[first:last]))

    def share_below(self, value: float) -> float:
        """The share of the whole video's samples below ``value`` (ties count half)."""
        below = np.searchsorted(self._sorted, value, side="left")
        upto = np.searchsorted(self._sorted, value, side="right")
        return float((below + upto) / 2 / max(1, len(self._sorted)))


@dataclass(frozen=True, slots=True)
class Terms:
    """What relevance looks for: each term as a phrase of stems, and where each phrase starts
    in the word table (sorted)."""

    labels: tuple[str, ...]
    hits: tuple[tuple[int, ...], ...]
    requested: bool

    def count(self, first: int, end: int) -> list[int]:
        return [bisect.bisect_left(h, end) - bisect.bisect_left(h, first) for h in self.hits]


def _terms(table: WordTable, keywords: Sequence[str]) -> Terms:
    if keywords:
        labels = tuple(dict.fromkeys(k.strip() for k in keywords if k.strip()))
        phrases = [tuple(stem(normalise(w)) for w in label.split()) for label in labels]
    else:
        counts = Counter(
            s for s, raw in zip(table.stems, table.raw, strict=True)
            if len(s) > 2 and normalise(raw) not in STOPWORDS and not s.isdigit()
        )  # fmt: skip
        common = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        phrases = [(term,) for term, n in common[:_MAIN_TERMS] if n >= 2]
        labels = tuple(phrase[0] for phrase in phrases)
    stems = table.stems
    hits = tuple(
        tuple(
            i for i in range(len(stems) - len(phrase) + 1)
            if phrase and tuple(stems[i : i + len(phrase)]) == phrase
        )
        for phrase in phrases
    )  # fmt: skip
    return Terms(labels, hits, requested=bool(keywords))


class _Coverage:
    """The union of some spans, for how much of any window they cover (two bisections)."""

    def __init__(self, spans: Sequence[FaceSpan | SpeechSpan]) -> None:
        merged: list[list[float]] = []
        for start, end in sorted((span.start, span.end) for span in spans):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        self._starts = [start for start, _ in merged]
        self._ends = [end for _, end in merged]
        # Covered time before each merged span starts.
        self._before = [0.0]
        for start, end in merged:
            self._before.append(self._before[-1] + end - start)

    def _until(self, time: float) -> float:
        i = bisect.bisect_right(self._starts, time) - 1
        if i < 0:
            return 0.0
        return self._before[i] + min(time, self._ends[i]) - self._starts[i]

    def covered(self, start: float, end: float) -> float:
        return max(0.0, self._until(end) - self._until(start))


class Video:
    def __init__(
        self,
        sentences: Sequence[Sentence],
        table: WordTable,
        signals: VideoSignals,
        keywords: Sequence[str],
    ) -> None:
        self.sentences = sentences
        self.table = table
        self.signals = signals
        self.cuts: list[float] = sorted(c.time for c in signals.cuts or ())
        self.loudness = CurveReader(signals.loudness) if signals.loudness else None
        self.motion = CurveReader(signals.motion) if signals.motion else None
        self.faces = sorted(signals.faces or (), key=lambda s: (s.start, s.end, s.track_id))
        self._face_starts = [span.start for span in self.faces]
        self._longest_face = max((span.end - span.start for span in self.faces), default=0.0)
        self._face_cover = _Coverage(self.faces)
        self._speech_cover = _Coverage(signals.speech or ())
        self.terms = _terms(table, keywords)

    def cuts_inside(self, start: float, end: float) -> int:
        """Cuts strictly inside the span (not the ones it opens or closes on)."""
        return bisect.bisect_left(self.cuts, end) - bisect.bisect_right(self.cuts, start)

    def face_time(self, start: float, end: float) -> tuple[float, float]:
        """Seconds of ``[start, end)`` with a face on screen, and the faces' mean size then
        (weighted by their time)."""
        covered = self._face_cover.covered(start, end)
        weight = size = 0.0
        # Only spans that start late enough to reach ``start`` can overlap it.
        first = bisect.bisect_left(self._face_starts, start - self._longest_face)
        for span in self.faces[first:]:
            if span.start >= end:
                break
            overlap = min(end, span.end) - max(start, span.start)
            if overlap > 0:
                weight += overlap
                size += overlap * span.size
        return covered, (size / weight if weight else 0.0)

    def speech_time(self, start: float, end: float) -> float:
        return self._speech_cover.covered(start, end)
