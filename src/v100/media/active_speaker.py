"""Which face track talks when: speech segments (from a VAD) matched with each track's mouth
activity (``motion.MotionSignals``). Inside speech, in windows of ``window`` seconds, the
tracks on screen are compared by their mean mouth activity: the most active is the speaker
when its activity reaches ``min_activity`` and, with others on screen, is at least ``margin``
times the next one's; otherwise the window has no speaker (a voice off screen, or no clear
winner). A window without a winner between two of the same speaker's is given to them; then
runs of windows become turns, clipped to the speech. ``confidence`` is the turn's mean share of
the two largest activities (1.0 alone on screen, 0.5 a tie). Pure Python on the signals: the
decoding cost is in the pass that read them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["SpeakerTurn", "active_speakers"]


@dataclass(frozen=True, slots=True)
class SpeakerTurn:
    start: float
    end: float
    track_id: int
    confidence: float


def _winner(
    scores: dict[int, float], min_activity: float, margin: float
) -> tuple[int, float] | None:
    if not scores:
        return None
    ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    best_id, best = ranked[0]
    if best < min_activity:
        return None
    if len(ranked) == 1:
        return best_id, 1.0
    second = ranked[1][1]
    if best < margin * second:
        return None
    return best_id, best / (best + second)


def active_speakers(
    mouths: Mapping[int, Sequence[tuple[float, float]]],
    speech: Sequence[tuple[float, float]],
    *,
    window: float = 0.5,
    min_activity: float = 1.0,
    margin: float = 1.3,
) -> list[SpeakerTurn]:
    """The turns of the tracks in ``mouths`` (id -> (time, activity) samples) during
    ``speech`` ((start, end) seconds), in time order."""
    turns: list[SpeakerTurn] = []
    for start, end in speech:
        slots: list[tuple[float, float, tuple[int, float] | None]] = []
        at = start
        while at < end:
            upto = min(end, at + window)
            scores: dict[int, float] = {}
            for track_id, samples in mouths.items():
                inside = [value for time, value in samples if at <= time < upto]
                if inside:
                    scores[track_id] = sum(inside) / len(inside)
            slots.append((at, upto, _winner(scores, min_activity, margin)))
            at = upto
        for i in range(1, len(slots) - 1):
            before, after = slots[i - 1][2], slots[i + 1][2]
            if slots[i][2] is None and before and after and before[0] == after[0]:
                slots[i] = (slots[i][0], slots[i][1], (before[0], before[1]))
        run: list[tuple[float, float, tuple[int, float]]] = []
        for slot in [*slots, (end, end, None)]:
            won = slot[2]
            if run and (won is None or won[0] != run[0][2][0]):
                share = sum(item[2][1] for item in run) / len(run)
                turns.append(
                    SpeakerTurn(
                        round(run[0][0], 3), round(run[-1][1], 3), run[0][2][0], round(share, 3)
                    )
                )
                run = []
            if won is not None:
                run.append((slot[0], slot[1], won))
    return turns
