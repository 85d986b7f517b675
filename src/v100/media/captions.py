"""Captions from a transcript document (``contracts.transcripts``): cues cut at word boundaries
by the words' own timings, within a line length, a number of lines and a display time, with
optional speaker labels; rendered as SRT (``srt``), WebVTT (``webvtt-py``) or JSON cues.

Times are worked in whole milliseconds (what SRT and WebVTT carry), so every format shows the
same cues. Cues never overlap, never start before 0 nor end after the audio."""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from v100.contracts.transcripts import TranscriptDocument

__all__ = [
    "CaptionLimits",
    "Cue",
    "build_cues",
    "clip_document",
    "cues_json",
    "render_srt",
    "render_vtt",
    "speaker_label",
]

# A sentence end: the cue may close after it once it holds a full line, so a cue seldom
# carries the end of one sentence and the start of the next.
_SENTENCE_END = re.compile("[.?!\u2026\u3002\uff1f\uff01]['\")\\]]*$")


@dataclass(frozen=True, slots=True)
class CaptionLimits:
    # Characters on one line (42: the BBC's and Netflix's figure for Latin scripts).
    max_chars_per_line: int = 42
    max_lines: int = 2
    # How long one cue stays on screen at most, and at least (when the next cue leaves time).
    max_duration: float = 7.0
    min_duration: float = 1.0
    # A pause between words at least this long starts a new cue.
    max_gap: float = 1.5

    def __post_init__(self) -> None:
        if self.max_chars_per_line < 1 or self.max_lines < 1:
            raise ValueError("a cue needs at least one line of at least one character")
        if self.max_duration <= 0 or self.min_duration < 0 or self.max_gap <= 0:
            raise ValueError("durations must be positive")
        if self.min_duration > self.max_duration:
            raise ValueError("min_duration is longer than max_duration")


@dataclass(frozen=True, slots=True)
class Cue:
    index: int  # 1, 2, ...
    start: float  # seconds, whole milliseconds
    end: float
    lines: tuple[str, ...]  # the text, without any speaker label
    speaker: int | None  # 0, 1, ... as in the transcript

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def speaker_label(speaker: int) -> str:
    """The name a speaker is shown by: the transcript's 0 is "Speaker 1"."""
    return f"Speaker {speaker + 1}"


def _srt_prefix(speaker: int | None) -> str:
    return "" if speaker is None else f"[{speaker_label(speaker)}] "


# -- building ------------------------------------------------------------------------------


def clip_document(
    document: TranscriptDocument, start: float, end: float, *, retime: bool = True
) -> TranscriptDocument:
    """The words of ``[start, end)`` seconds as a transcript of their own, timed from
    ``start`` (with ``retime=False``: on the source's timeline, e.g. to hand a clip's words to
    the service that renders it): a word (or a segment without word times) belongs to the
    range its middle falls in, and is clamped to it. Speakers are kept; utterances and
    paragraphs are not (captions need only the words)."""
    length = max(0.0, end - start)
    origin = start if retime else 0.0

    def moved(seconds: float) -> float:
        return min(max(seconds, start), max(start, end)) - origin

    segments = []
    for segment in document.segments:
        if not segment.words:
            if start <= (segment.start + segment.end) / 2 < end:
                update = {"start": moved(segment.start), "end": moved(segment.end)}
                segments.append(segment.model_copy(update=update))
            continue
        words = [
            word.model_copy(update={"start": moved(word.start), "end": moved(word.end)})
            for word in segment.words
            if start <= (word.start + word.end) / 2 < end
        ]
        if not words:
            continue
        segments.append(
            segment.model_copy(
                update={
                    "text": " ".join(word.word.strip() for word in words),
                    "start": words[0].start,
                    "end": words[-1].end,
                    "words": words,
                }
            )
        )
    text = " ".join(segment.text for segment in segments)
    return TranscriptDocument(
        language=document.language, duration=length + start - origin, text=text,
        segments=segments,
    )  # fmt: skip


@dataclass(slots=True)
class _Word:
    text: str
    start: int  # ms
    end: int  # ms
    speaker: int | None


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _spread(texts: Sequence[str], start: int, end: int, speaker: int | None) -> list[_Word]:
    """Words that share one span (a segment without word times, or words the aligner left on
    their segment's timing) get a share of it by their length, in order."""
    weights = [len(text) + 1 for text in texts]
    total, done, words = sum(weights), 0, []
    span = max(0, end - start)
    for text, weight in zip(texts, weights, strict=True):
        first = start + span * done // total
        done += weight
        words.append(_Word(text, first, start + span * done // total, speaker))
    return words


def _words(document: TranscriptDocument) -> list[_Word]:
    """Every word of the document in order, times in ms, within [0, the audio's end], never
    going backwards."""
    found: list[_Word] = []
    for segment in document.segments:
        if not segment.words:
            texts = segment.text.split()
            found += _spread(texts, _ms(segment.start), _ms(segment.end), segment.speaker)
            continue
        run: list[tuple[str, int | None]] = []
        span = (-1, -1)
        for word in segment.words:
            text = " ".join(word.word.split())
            if not text:
                continue
            speaker = word.speaker if word.speaker is not None else segment.speaker
            times = (_ms(word.start), _ms(word.end))
            if times != span and run:
                found += _run(run, span)
                run = []
            span = times
            run.append((text, speaker))
        if run:
            found += _run(run, span)
    bound = _bound(document, found)
    floor = 0
    for item in found:
        item.start = min(max(item.start, floor), bound)
        item.end = min(max(item.end, item.start), bound)
        floor = item.start
    return found


def _run(run: list[tuple[str, int | None]], span: tuple[int, int]) -> list[_Word]:
    if len(run) == 1:
        return [_Word(run[0][0], span[0], span[1], run[0][1])]
    spread = _spread([text for text, _ in run], span[0], span[1], None)
    for word, (_, speaker) in zip(spread, run, strict=True):
        word.speaker = speaker
    return spread


def _bound(document: TranscriptDocument, words: Sequence[_Word]) -> int:
    """The audio's end in ms: the document's duration, or the last word's end when the
    document gives none."""
    if document.duration > 0:
        return _ms(document.duration)
    return max((max(word.start, word.end) for word in words), default=0)


def _layout(texts: Sequence[str], width: int, reserve: int) -> list[list[str]]:
    """Words filled greedily into lines of ``width`` characters (the first ``reserve``
    characters of the first line hold the speaker label). A word longer than a line has a
    line of its own."""
    lines: list[list[str]] = []
    used = 0
    for text in texts:
        if lines and used + 1 + len(text) <= width:
            lines[-1].append(text)
            used += 1 + len(text)
        else:
            lines.append([text])
            used = len(text) + (reserve if len(lines) == 1 else 0)
    return lines


def _balanced(texts: Sequence[str], width: int, reserve: int, count: int) -> list[str]:
    """The words on ``count`` lines, the longest line as short as it can be (two lines of
    twenty read better than one of forty and one of one)."""
    greedy = _layout(texts, width, reserve)
    if len(greedy) != 2 or count < 2:
        return [" ".join(line) for line in greedy]
    best: list[str] | None = None
    for cut in range(1, len(texts)):
        first, second = " ".join(texts[:cut]), " ".join(texts[cut:])
        if len(first) + reserve > width or len(second) > width:
            continue
        if best is None or max(len(first) + reserve, len(second)) < max(
            len(best[0]) + reserve, len(best[1])
        ):
            best = [first, second]
    return best or [" ".join(line) for line in greedy]


def build_cues(
    document: TranscriptDocument,
    limits: CaptionLimits | None = None,
    *,
    speaker_labels: bool = False,
) -> list[Cue]:
    """The document's words as cues: a new cue when the next word would not fit the lines,
    would keep the cue on screen past ``max_duration``, comes after a pause of ``max_gap`` or
    more, or is another speaker's; a cue may also close after a sentence's end once it holds a
    line. With ``speaker_labels`` the label's room ("[Speaker 1] ") is kept on the first line,
    so every format shows the same cues."""
    limits = limits or CaptionLimits()
    width, max_gap = limits.max_chars_per_line, _ms(limits.max_gap)
    words = _words(document)
    groups: list[list[_Word]] = []
    current: list[_Word] = []

    def reserve(speaker: int | None) -> int:
        return len(_srt_prefix(speaker)) if speaker_labels else 0

    for word in words:
        if current:
            last, first = current[-1], current[0]
            texts = [w.text for w in current] + [word.text]
            layout = _layout(texts, width, reserve(first.speaker))
            full_sentence = _SENTENCE_END.search(last.text) is not None and (
                sum(len(w.text) + 1 for w in current) >= width
            )
            if (
                word.speaker != first.speaker
                or word.start - last.end >= max_gap
                or word.end - first.start > _ms(limits.max_duration)
                or len(layout) > limits.max_lines
                or full_sentence
            ):
                groups.append(current)
                current = []
        current.append(word)
    if current:
        groups.append(current)
    return _timed(groups, limits, reserve, _bound(document, words))


def _timed(groups: list[list[_Word]], limits: CaptionLimits, reserve: Any, bound: int) -> list[Cue]:
    """Cue times: from the first word's start to the last word's end, at most ``max_duration``,
    stretched to ``min_duration`` where the next cue and the audio's end leave room; never
    overlapping, at least a millisecond each (words stacked at one instant are moved apart by
    a millisecond, backwards from the audio's end where they sit at it)."""
    # Whole milliseconds, never over the limit.
    shortest, longest = _ms(limits.min_duration), max(1, math.floor(limits.max_duration * 1000))
    starts: list[int] = []
    for group in groups:
        starts.append(max(group[0].start, starts[-1] + 1 if starts else 0))
    limit = bound - 1
    for number in range(len(starts) - 1, -1, -1):
        starts[number] = min(starts[number], limit)
        limit = starts[number] - 1
    cues: list[Cue] = []
    for number, group in enumerate(groups):
        start = starts[number]
        if start < 0:
            continue  # an audio shorter than a millisecond per cue: nothing to show it in
        following = starts[number + 1] if number + 1 < len(groups) else bound
        end = min(max(group[-1].end, start + shortest), start + longest, following, bound)
        end = max(end, start + 1)
        texts = [w.text for w in group]
        speaker = group[0].speaker
        lines = _balanced(texts, limits.max_chars_per_line, reserve(speaker), limits.max_lines)
        cues.append(Cue(len(cues) + 1, start / 1000, end / 1000, tuple(lines), speaker))
    return cues


# -- rendering -----------------------------------------------------------------------------


def render_srt(cues: Iterable[Cue], *, speaker_labels: bool = False) -> str:
    """SubRip; with ``speaker_labels`` the first line starts "[Speaker 1] "."""
    import srt

    subtitles = []
    for cue in cues:
        lines = list(cue.lines)
        if speaker_labels and cue.speaker is not None:
            lines[0] = _srt_prefix(cue.speaker) + lines[0]
        subtitles.append(
            srt.Subtitle(
                index=cue.index,
                start=timedelta(milliseconds=_ms(cue.start)),
                end=timedelta(milliseconds=_ms(cue.end)),
                content="\n".join(lines),
            )
        )
    return str(srt.compose(subtitles, reindex=False))


def _vtt_time(seconds: float) -> str:
    ms = _ms(seconds)
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    return f"{hours:02d}:{minutes:02d}:{ms // 1000:02d}.{ms % 1000:03d}"


def render_vtt(cues: Iterable[Cue], *, speaker_labels: bool = False) -> str:
    """WebVTT; the text escaped (``&``, ``<``, ``>``), and with ``speaker_labels`` a voice tag
    (``<v Speaker 1>``) that players show or style."""
    import webvtt

    captions = []
    for cue in cues:
        text = "\n".join(html.escape(line, quote=False) for line in cue.lines)
        if speaker_labels and cue.speaker is not None:
            text = f"<v {speaker_label(cue.speaker)}>{text}"
        captions.append(
            webvtt.Caption(start=_vtt_time(cue.start), end=_vtt_time(cue.end), text=text)
        )
    return str(webvtt.WebVTT(captions=captions).content)


def cues_json(cues: Iterable[Cue], *, speaker_labels: bool = False) -> list[dict[str, Any]]:
    """The cues as JSON objects: ``index, start, end, lines, text, speaker`` and, with
    ``speaker_labels``, ``label``."""
    out = []
    for cue in cues:
        item: dict[str, Any] = {
            "index": cue.index,
            "start": cue.start,
            "end": cue.end,
            "lines": list(cue.lines),
            "text": " ".join(cue.lines),
            "speaker": cue.speaker,
        }
        if speaker_labels:
            item["label"] = None if cue.speaker is None else speaker_label(cue.speaker)
        out.append(item)
    return out
