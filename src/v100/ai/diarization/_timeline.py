"""From labelled windows to turns: every step of speech (``STEP`` seconds) takes the speaker
whose overlapping windows vote for it most, a window's vote strongest at its centre, so one
stray window among its neighbours changes nothing. Runs shorter than ``min_turn`` that touch
another speaker's speech join it; speakers are then numbered by first appearance."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from v100.ai.audio import SAMPLE_RATE
from v100.ai.diarization._types import SpeakerTurn
from v100.ai.vad import SpeechRegion

__all__ = ["STEP", "speaker_turns"]

STEP = 0.05  # seconds: the timeline's resolution
_SILENT = -1


def speaker_turns(
    regions: Sequence[SpeechRegion],
    windows: Sequence[tuple[int, int]],
    labels: npt.NDArray[np.int64],
    *,
    min_turn: float,
) -> tuple[SpeakerTurn, ...]:
    """``windows`` are sample spans inside ``regions``, ``labels`` their speakers."""
    if not windows:
        return ()
    step = int(STEP * SAMPLE_RATE)
    frames = -(-max(region.end for region in regions) // step)
    speakers = int(labels.max()) + 1
    votes = np.zeros((speakers, frames), dtype=np.float32)
    for (start, end), label in zip(windows, labels, strict=True):
        first, last = start // step, max(start // step + 1, -(-end // step))
        votes[label, first:last] += np.hanning(last - first + 2)[1:-1]
    speech = np.zeros(frames, dtype=bool)
    for region in regions:
        speech[region.start // step : -(-region.end // step)] = True
    timeline = np.where(votes.any(axis=0), votes.argmax(axis=0), _SILENT)
    _fill_unvoted(timeline, speech)
    _absorb_short_runs(timeline, votes, round(min_turn / STEP))
    return _turns(timeline, step)


def _runs(timeline: npt.NDArray[np.int64]) -> list[tuple[int, int, int]]:
    """(start, end, label) of each run of one label, end exclusive."""
    if timeline.size == 0:
        return []
    cuts = np.flatnonzero(np.diff(timeline)) + 1
    starts = np.concatenate(([0], cuts))
    ends = np.concatenate((cuts, [timeline.size]))
    return [(int(s), int(e), int(timeline[s])) for s, e in zip(starts, ends, strict=True)]


def _fill_unvoted(timeline: npt.NDArray[np.int64], speech: npt.NDArray[np.bool_]) -> None:
    """Speech no window covered (a region too short to embed, a region's edge) takes the
    speaker of the nearest voted step."""
    voted = np.flatnonzero(timeline != _SILENT)
    missing = np.flatnonzero(speech & (timeline == _SILENT))
    if voted.size == 0 or missing.size == 0:
        return
    after = np.clip(np.searchsorted(voted, missing), 0, voted.size - 1)
    before = np.clip(after - 1, 0, voted.size - 1)
    nearest = np.where(
        np.abs(voted[before] - missing) <= np.abs(voted[after] - missing),
        voted[before],
        voted[after],
    )
    timeline[missing] = timeline[nearest]


def _absorb_short_runs(
    timeline: npt.NDArray[np.int64], votes: npt.NDArray[np.float32], shortest: int
) -> None:
    """A run of one speaker shorter than ``shortest`` steps that touches another speaker's run
    becomes whichever neighbour's speaker its steps voted for more; shortest runs first. A
    short run with silence on both sides (a lone "Yes.") keeps its speaker."""
    while True:
        runs = _runs(timeline)
        candidates = [
            (end - start, i)
            for i, (start, end, label) in enumerate(runs)
            if label != _SILENT and end - start < shortest and _neighbours(runs, i)
        ]
        if not candidates:
            return
        _, i = min(candidates)
        start, end, _ = runs[i]
        choice = max(_neighbours(runs, i), key=lambda label: float(votes[label, start:end].sum()))
        timeline[start:end] = choice


def _neighbours(runs: Sequence[tuple[int, int, int]], i: int) -> set[int]:
    return {runs[j][2] for j in (i - 1, i + 1) if 0 <= j < len(runs)} - {_SILENT, runs[i][2]}


def _turns(timeline: npt.NDArray[np.int64], step: int) -> tuple[SpeakerTurn, ...]:
    order: dict[int, int] = {}
    turns = []
    for start, end, label in _runs(timeline):
        if label == _SILENT:
            continue
        speaker = order.setdefault(label, len(order))
        turns.append(SpeakerTurn(start * step / SAMPLE_RATE, end * step / SAMPLE_RATE, speaker))
    return tuple(turns)
