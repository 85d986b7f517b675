"""The stages an analysis can run, what each needs, and the order they run in:

    scenes ─┬─▶ keyframes            (the sharpest frame of each scene)
            └─▶ faces ──┐            (tracks; keyframes and faces share one decoding pass)
    speech ─────────────┼─▶ speakers (which face track talks when)
    signals ◀───────────┘            (loudness, energy, motion; mouths once faces are known)
    transcript                       (from the transcription service; skipped when it is away)

A request names the stages it wants; the ones they need are added (``plan``). A stage that
cannot run on this video (no audio) is skipped, with the reason, and so are those needing it.
A later stage (highlights: scenes, speech, signals and transcript in, ranked segments out) goes
at the end of ``ORDER`` with its needs, a runner in ``processing.RUNNERS`` and a route."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

__all__ = ["AUDIO_STAGES", "DEFAULT_STAGES", "NEEDS", "ORDER", "StageName", "plan"]

StageName = Literal["scenes", "keyframes", "faces", "speech", "signals", "speakers", "transcript"]
ORDER: tuple[StageName, ...] = (
    "scenes", "keyframes", "faces", "speech", "signals", "speakers", "transcript",
)  # fmt: skip
NEEDS: dict[str, tuple[StageName, ...]] = {
    "keyframes": ("scenes",),
    "faces": ("scenes",),
    "speakers": ("faces", "speech", "signals"),
}
# Stages with nothing to read in a video without sound.
AUDIO_STAGES = frozenset({"speech", "speakers", "transcript"})
DEFAULT_STAGES: tuple[StageName, ...] = (
    "scenes", "keyframes", "faces", "speech", "signals", "speakers",
)  # fmt: skip


def plan(asked: Iterable[str]) -> list[str]:
    """The stages asked for and those they need, in running order."""
    wanted: set[str] = set()
    pending = list(asked)
    while pending:
        stage = pending.pop()
        if stage not in wanted:
            wanted.add(stage)
            pending += NEEDS.get(stage, ())
    return [stage for stage in ORDER if stage in wanted]
