"""Finding a video's highlights: every candidate scored on the six factors, the weighted total
ranked (highest first; ties to the earlier, then the shorter clip, so the same input always gives
the same list), and the best taken greedily among those that overlap none already taken."""

from __future__ import annotations

from dataclasses import dataclass

from v100.ai.highlights._candidates import Candidate, candidates
from v100.ai.highlights._factors import Factor, score_factors
from v100.ai.highlights._inputs import VideoSignals
from v100.ai.highlights._settings import (
    FACTORS,
    FactorName,
    FactorWeights,
    HighlightRequest,
    HighlightSettings,
)
from v100.ai.highlights._transcript import Sentence, read_transcript
from v100.ai.highlights._video import Video
from v100.contracts.transcripts import TranscriptDocument

__all__ = ["Highlight", "find_highlights", "weighted_total"]


@dataclass(frozen=True, slots=True)
class Highlight:
    """A ranked clip. ``score`` is the factors' weighted mean: it orders a video's clips, it
    is not a probability and means little across videos."""

    rank: int
    start: float
    end: float
    text: str
    # The words said in its first ``hook_seconds``: what the hook factor read.
    opening: str
    score: float
    # One per factor, in ``FACTORS`` order.
    factors: tuple[Factor, ...]
    starts_at_cut: bool
    ends_at_cut: bool
    # Indices into the transcript's sentences (its paragraphs' in order); None without speech.
    first_sentence: int | None
    last_sentence: int | None
    title: str | None = None
    description: str | None = None
    hashtags: tuple[str, ...] = ()

    @property
    def duration(self) -> float:
        return self.end - self.start

    def factor(self, name: FactorName) -> Factor:
        return self.factors[FACTORS.index(name)]


def weighted_total(factors: tuple[Factor, ...], weights: FactorWeights) -> float:
    total = sum(weights.of(f.name) for f in factors)
    return round(sum(weights.of(f.name) * f.score for f in factors) / total, 4)


def _text(sentences: list[Sentence], c: Candidate) -> str:
    if c.first_sentence is None or c.last_sentence is None:
        return ""
    return " ".join(s.text for s in sentences[c.first_sentence : c.last_sentence + 1])


def _opening(video: Video, c: Candidate, settings: HighlightSettings) -> str:
    end = video.table.first_at_or_after(c.start + settings.hook_seconds)
    return " ".join(video.table.raw[c.first_word : min(c.end_word, end)])


def _overlaps(c: Candidate, taken: list[Candidate]) -> bool:
    return any(c.start < t.end and t.start < c.end for t in taken)


def find_highlights(
    transcript: TranscriptDocument,
    signals: VideoSignals,
    request: HighlightRequest,
    settings: HighlightSettings | None = None,
) -> list[Highlight]:
    """Up to ``request.count`` clips that do not overlap, best first. Synchronous and
    CPU-bound (about 0.2 ms of CPU per candidate; a 48-minute talk has some 7,600): run it
    off the event loop."""
    settings = settings or HighlightSettings()
    sentences, table = read_transcript(transcript)
    video = Video(sentences, table, signals, request.keywords)
    scored = []
    for c in candidates(sentences, video.cuts, signals.duration, request, settings):
        factors = score_factors(video, c, settings)
        scored.append((weighted_total(factors, settings.weights), c, factors))
    scored.sort(key=lambda item: (-item[0], item[1].start, item[1].end))
    taken: list[Candidate] = []
    found: list[Highlight] = []
    for total, c, factors in scored:
        if _overlaps(c, taken):
            continue
        taken.append(c)
        found.append(
            Highlight(
                rank=len(found) + 1, start=round(c.start, 3), end=round(c.end, 3),
                text=_text(sentences, c), opening=_opening(video, c, settings), score=total,
                factors=factors, starts_at_cut=c.starts_at_cut, ends_at_cut=c.ends_at_cut,
                first_sentence=c.first_sentence, last_sentence=c.last_sentence,
            )
        )  # fmt: skip
        if len(found) == request.count:
            break
    return found
