"""Where an analysis stands, stage by stage: each stage's state (pending, running, completed,
skipped with a reason) and percent kept on the row (``progress``) and sent live on the
analysis's pub/sub channel (``contracts.events.publish_analysis_progress``; best effort, the
row is the truth). The whole's percent weighs each stage by its usual share of the work."""

from __future__ import annotations

from typing import Any

from v100.contracts.events import AnalysisProgress, publish_analysis_progress
from v100.kit.bus import Bus
from v100.services.video_analysis.models import Analysis

__all__ = ["initial", "overall", "publish", "with_stage"]

# Rough shares of an analysis's time (measured on bench/video_signals.py's video).
_WEIGHTS = {
    "scenes": 30, "keyframes": 25, "faces": 45, "speech": 5, "signals": 15, "speakers": 1,
    "transcript": 20, "highlights": 2,
}  # fmt: skip


def initial(stages: list[str]) -> dict[str, Any]:
    return {stage: {"status": "pending", "percent": 0} for stage in stages}


def with_stage(
    progress: dict[str, Any], stage: str, status: str, percent: int, reason: str | None = None
) -> dict[str, Any]:
    """A copy of ``progress`` with ``stage`` changed (a new dict: JSON columns see changes
    only when assigned)."""
    state: dict[str, Any] = {"status": status, "percent": percent}
    if reason is not None:
        state["reason"] = reason
    return {**progress, stage: state}


def overall(progress: dict[str, Any]) -> int:
    total = sum(_WEIGHTS.get(stage, 10) for stage in progress) or 1
    done = sum(
        _WEIGHTS.get(stage, 10) * (100 if state["status"] == "skipped" else state["percent"])
        for stage, state in progress.items()
    )
    return min(100, done // total)


async def publish(bus: Bus, row: Analysis) -> None:
    await publish_analysis_progress(
        bus,
        AnalysisProgress(
            id=row.id,
            tenant_id=row.tenant_id,
            status=row.status,
            stage=row.stage,
            percent=row.percent,
            stages={stage: state["percent"] for stage, state in row.progress.items()},
        ),
    )
