"""The local scorer: each of the six factors of a candidate clip, in [0, 1] with a short reason
a person can check, computed from the transcript's words and the video's signals alone (no
vendor, no randomness). The formulas, their constants and their limits are written out in
docs/video-analysis.md ("Highlights"); the constants were set by hand on constructed cases,
not fitted: a factor is a ranking aid, not a measured probability of going viral."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from v100.ai.highlights._candidates import Candidate
from v100.ai.highlights._lexicon import (
    HOOK_WORDS,
    OPENING_FILLERS,
    WEAK_OPENERS,
    normalise,
)
from v100.ai.highlights._settings import FactorName, HighlightSettings
from v100.ai.highlights._video import Video

__all__ = ["Factor", "score_factors"]

# A first word that makes the opening a question even without its "?".
_WH = frozenset({"what", "why", "how", "who", "where", "when"})


@dataclass(frozen=True, slots=True)
class Factor:
    name: FactorName
    score: float
    reason: str
    # "llm" when a chat model refined it; ``local_score`` then keeps the local scorer's.
    source: Literal["local", "llm"] = "local"
    local_score: float | None = None


def _clamp(value: float) -> float:
    return round(min(1.0, max(0.0, value)), 3)


def _n(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else many or one + 's'}"


def _join(parts: list[str], empty: str) -> str:
    return "; ".join(parts) if parts else empty


def hook(video: Video, c: Candidate, settings: HighlightSettings) -> Factor:
    table = video.table
    a = c.first_word
    b = min(c.end_word, table.first_at_or_after(c.start + settings.hook_seconds))
    seconds = f"{settings.hook_seconds:g} s"
    if b <= a:
        return Factor("hook", 0.0, f"no word in the first {seconds}")
    opener = normalise(table.raw[a])
    first = video.sentences[c.first_sentence] if c.first_sentence is not None else None
    first_end = first.first_word + first.num_words if first else b
    question = "?" in "".join(table.raw[a:first_end]) or opener in _WH
    said = [normalise(w) for w in table.raw[a:b]]
    number = table.count("number", a, b) > 0
    you = table.count("you", a, b) > 0
    promise = sorted({w for w in said if w in HOOK_WORDS})
    pace = min(1.0, (b - a) / 7)
    delay = float(table.starts[a]) - c.start
    score = 0.2 + 0.25 * question + 0.15 * number + 0.15 * you + 0.1 * bool(promise)
    score += 0.1 * pace
    parts = []
    if question:
        parts.append("opens with a question")
    if number:
        parts.append("a number")
    if you:
        parts.append('speaks to the viewer ("you")')
    if promise:
        parts.append("promises something (" + ", ".join(promise[:3]) + ")")
    if opener in OPENING_FILLERS:
        score -= 0.3
        parts.append(f'opens on a filler ("{opener}")')
    elif opener in WEAK_OPENERS:
        score -= 0.1
        parts.append(f'opens leaning on what came before ("{opener}")')
    if delay > 1.0:
        score -= 0.2
        parts.append(f"{delay:.1f} s before the first word")
    level = (
        video.loudness.median(c.start, c.start + settings.hook_seconds) if video.loudness else None
    )
    if video.loudness is not None and level is not None:
        share = video.loudness.share_below(level)
        score += 0.1 * (share - 0.5)
        parts.append(f"louder than {share:.0%} of the video")
    parts.append(f"{b - a} words in the first {seconds}")
    return Factor("hook", _clamp(score), _join(parts, ""))


def emotion(video: Video, c: Candidate) -> Factor:
    table = video.table
    a, b = c.first_word, c.end_word
    words = b - a
    parts = []
    text = 0.0
    if words:
        sentences = (c.last_sentence or 0) - (c.first_sentence or 0) + 1
        exclaim = table.count("exclaim", a, b)
        feeling = table.count("emotion", a, b)
        stress = table.count("intensifier", a, b)
        shout = table.count("shout", a, b)
        text = (
            0.35 * min(1.0, exclaim / sentences / 0.5)
            + 0.35 * min(1.0, feeling * 100 / words / 4)
            + 0.15 * min(1.0, stress * 100 / words / 5)
            + 0.15 * min(1.0, shout / 2)
        )
        for n, what in ((exclaim, "exclamation"), (feeling, "emotion word"),
                        (stress, "intensifier"), (shout, "shouted word")):  # fmt: skip
            if n:
                parts.append(_n(n, what))
    level = video.loudness.median(c.start, c.end) if video.loudness else None
    if video.loudness is None or level is None:
        return Factor("emotion", _clamp(text), _join(parts, "calm words") + "; no loudness curve")
    share = video.loudness.share_below(level)
    parts.append(f"louder than {share:.0%} of the video")
    return Factor("emotion", _clamp(0.6 * text + 0.4 * share), _join(parts, ""))


def information(video: Video, c: Candidate) -> Factor:
    table = video.table
    a, b = c.first_word, c.end_word
    words = b - a
    if not words:
        return Factor("information", 0.0, "no words")
    rate = words / max(c.duration, 1e-6)
    density = table.count("content", a, b) / words
    specifics = table.count("number", a, b) + table.count("proper", a, b)
    fillers = table.count("filler", a, b)
    score = (
        0.35 * min(1.0, rate / 3.0)
        + 0.35 * min(1.0, max(0.0, (density - 0.3) / 0.4))
        + 0.3 * min(1.0, specifics * 100 / words / 5)
        - 0.3 * min(1.0, fillers * 100 / words / 5)
    )
    reason = (
        f"{rate:.1f} words a second, {density:.0%} of them content words, "
        f"{_n(specifics, 'number or name', 'numbers or names')}"
    )
    if fillers:
        reason += f", {_n(fillers, 'filler')}"
    if video.signals.speech is not None:
        # Silence beyond a fifth of the clip is time with nothing said.
        share = video.speech_time(c.start, c.end) / max(c.duration, 1e-6)
        score -= 0.3 * max(0.0, 0.8 - share) / 0.8
        reason += f", speech {share:.0%} of the time"
    return Factor("information", _clamp(score), reason)


def narrative(video: Video, c: Candidate) -> Factor:
    if c.first_sentence is None or c.last_sentence is None:
        return Factor("narrative", 0.5, "no speech: runs from one scene boundary to another")
    first = video.sentences[c.first_sentence]
    last = video.sentences[c.last_sentence]
    opener = normalise(video.table.raw[first.first_word])
    parts = []
    score = 0.35 if last.closes_paragraph else 0.15
    parts.append("ends a paragraph" if last.closes_paragraph else "ends a sentence mid-paragraph")
    score += 0.25 if first.opens_paragraph else 0.05
    parts.append("opens a paragraph" if first.opens_paragraph else "opens mid-paragraph")
    if opener in WEAK_OPENERS:
        parts.append(f'first word leans on what came before ("{opener}")')
    else:
        score += 0.2
    if last.text.rstrip().endswith("?"):
        parts.append("ends on an open question")
    else:
        score += 0.1
    breaks = last.paragraph - first.paragraph
    if breaks:
        parts.append(_n(breaks, "paragraph break") + " inside")
    else:
        score += 0.1
    parts.append(_n(c.last_sentence - c.first_sentence + 1, "whole sentence"))
    return Factor("narrative", _clamp(score), _join(parts, ""))


def visual(video: Video, c: Candidate) -> Factor:
    signals = video.signals
    measures: list[tuple[float, float]] = []  # (weight, value)
    parts = []
    if signals.faces is not None:
        covered, size = video.face_time(c.start, c.end)
        share = covered / max(c.duration, 1e-6)
        close = min(1.0, size / 0.25)
        measures.append((0.4, share * (0.6 + 0.4 * close)))
        parts.append(f"a face on screen {share:.0%} of the time" + (
            f" ({size:.0%} of the picture's height)" if covered else ""))  # fmt: skip
    if signals.cuts is not None:
        inside = video.cuts_inside(c.start, c.end)
        per_10s = inside * 10 / max(c.duration, 1e-6)
        measures.append((0.3, min(1.0, per_10s / 2)))
        parts.append(f"{_n(inside, 'cut')} ({per_10s:.1f} per 10 s)")
    level = video.motion.median(c.start, c.end) if video.motion else None
    if video.motion is not None and level is not None:
        share = video.motion.share_below(level)
        measures.append((0.3, share))
        parts.append(f"more motion than {share:.0%} of the video")
    if not measures:
        return Factor("visual", 0.0, "no picture signals")
    total = sum(weight for weight, _ in measures)
    return Factor("visual", _clamp(sum(w * v for w, v in measures) / total), _join(parts, ""))


def relevance(video: Video, c: Candidate) -> Factor:
    terms = video.terms
    if not terms.labels:
        return Factor("relevance", 0.0, "no keywords asked and no term the video repeats")
    counts = terms.count(c.first_word, c.end_word)
    matched = [label for label, n in zip(terms.labels, counts, strict=True) if n]
    mentions = sum(counts)
    per_100 = mentions * 100 / max(1, c.end_word - c.first_word)
    density = min(1.0, per_100 / 5)
    said = f"({', '.join(matched[:4]) or 'none'}), {per_100:.1f} mentions per 100 words"
    if terms.requested:
        coverage = len(matched) / len(terms.labels)
        return Factor(
            "relevance",
            _clamp(0.6 * coverage + 0.4 * density),
            f"{len(matched)} of {len(terms.labels)} keywords {said}",
        )
    # Without keywords, how much the clip dwells on what the whole video keeps coming back
    # to; not how many of those terms it reaches, which any long clip would.
    return Factor(
        "relevance",
        _clamp(density),
        f"no keywords asked: {len(matched)} of the video's main terms {said}",
    )


def score_factors(video: Video, c: Candidate, settings: HighlightSettings) -> tuple[Factor, ...]:
    """The six factors, in ``FACTORS`` order."""
    return (
        hook(video, c, settings),
        emotion(video, c),
        information(video, c),
        narrative(video, c),
        visual(video, c),
        relevance(video, c),
    )
