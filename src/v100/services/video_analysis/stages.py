"""The stages an analysis can run, what each needs, and the order they run in:

    scenes ─┬─▶ keyframes            (the sharpest frame of each scene)
            └─▶ faces ──┐            (tracks; keyframes and faces share one decoding pass)
    speech ─────────────┼─▶ speakers (which face track talks when)
    signals ◀───────────┘            (loudness, energy, motion; mouths once faces are known)
    transcript                       (from the transcription service; skipped when it is away)
    scenes ──▶ highlights ◀── faces, speech, signals, transcript when they ran

A request names the stages it wants; the ones they need are added (``plan``). A stage that
cannot run on this video (no audio) is skipped, with the reason, and so are those needing it.
The highlights stage needs the scenes and reads whichever of faces, speech, signals and the
transcript ran (``FEEDS``: added by ``plan``, but their being skipped does not skip it)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

__all__ = ["AUDIO_STAGES", "DEFAULT_STAGES", "FEEDS", "NEEDS", "ORDER", "StageName", "plan"]

StageName = Literal[
    "scenes", "keyframes", "faces", "speech", "signals", "speakers", "transcript", "highlights"
]
ORDER: tuple[StageName, ...] = (
    "scenes", "keyframes", "faces", "speech", "signals", "speakers", "transcript", "highlights",
)  # fmt: skip
NEEDS: dict[str, tuple[StageName, ...]] = {
    "keyframes": ("scenes",),
    "faces": ("scenes",),
    "speakers": ("faces", "speech", "signals"),
    "highlights": ("scenes",),
}
# Stages planned with a stage that reads them when they ran (a skipped one does not skip it).
FEEDS: dict[str, tuple[StageName, ...]] = {
    "highlights": ("faces", "speech", "signals", "transcript"),
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
            pending += NEEDS.get(stage, ()) + FEEDS.get(stage, ())
    return [stage for stage in ORDER if stage in wanted]
