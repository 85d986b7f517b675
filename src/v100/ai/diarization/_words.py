"""Speakers onto a transcript: every word takes the speaker whose turns overlap it most (the
nearest turn when none does: a word the VAD's edge cut off), every segment the speaker of most
of its words' time. Speakers are renumbered 0, 1, ... by their first word, so a speaker heard
only in a cough does not leave a gap."""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace

from v100.ai.asr import Transcript, Word
from v100.ai.diarization._types import Diarization, SpeakerTurn

__all__ = ["label_speakers"]


def label_speakers(transcript: Transcript, diarization: Diarization) -> Transcript:
    """``transcript`` with a speaker on every word and segment; unchanged when the
    diarization found no speech."""
    turns = diarization.turns
    if not turns:
        return transcript
    starts = [turn.start for turn in turns]
    order: dict[int, int] = {}

    def speaker(start: float, end: float) -> int:
        return order.setdefault(_speaker(turns, starts, start, end), len(order))

    segments = []
    for segment in transcript.segments:
        words = tuple(replace(w, speaker=speaker(w.start, w.end)) for w in segment.words)
        labelled = _most_spoken(words) if words else speaker(segment.start, segment.end)
        segments.append(replace(segment, words=words, speaker=labelled))
    return replace(transcript, segments=tuple(segments))


def _speaker(turns: Sequence[SpeakerTurn], starts: list[float], start: float, end: float) -> int:
    overlap: dict[int, float] = defaultdict(float)
    first = max(0, bisect.bisect_right(starts, start) - 1)
    for turn in turns[first:]:
        if turn.start >= end:
            break
        shared = min(end, turn.end) - max(start, turn.start)
        if shared > 0:
            overlap[turn.speaker] += shared
    if overlap:
        return max(overlap, key=lambda speaker: overlap[speaker])
    middle = (start + end) / 2
    nearest = min(
        turns[max(0, first - 1) : first + 2],
        key=lambda turn: max(turn.start - middle, middle - turn.end, 0.0),
    )
    return nearest.speaker


def _most_spoken(words: Sequence[Word]) -> int:
    spoken: dict[int, float] = defaultdict(float)
    for word in words:
        assert word.speaker is not None
        # A word of no length still counts (a number the aligner gave one instant).
        spoken[word.speaker] += max(word.end - word.start, 0.01)
    return max(spoken, key=lambda speaker: spoken[speaker])
