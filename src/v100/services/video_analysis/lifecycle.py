"""The analysis state machine's moves and their announcements:

    queued ──run starts──▶ running ──every stage completed or skipped──▶ completed
       │                      │
       └──────────────────────┴──video gone, bad media, credits, attempts exhausted──▶ failed

A rerun (a killed worker) finds it ``running`` and goes on from the stages stored. Each move is
a conditional update (it names the states it leaves) in the caller's unit of work;
``analysis.completed`` / ``analysis.failed`` go out on the ``analyses`` stream after commit."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from v100.contracts.events import (
    ANALYSIS_COMPLETED,
    ANALYSIS_FAILED,
    AnalysisEventData,
    MediaErrorInfo,
    publish_analysis_event,
)
from v100.kit.bus import Bus
from v100.kit.db import session_hooks, utcnow
from v100.services.video_analysis.models import Analysis, AnalysisStatus
from v100.services.video_analysis.repository import AnalysisRepository

__all__ = ["event_data", "mark_completed", "mark_failed", "mark_running"]

_UNSETTLED = (AnalysisStatus.QUEUED, AnalysisStatus.RUNNING)


def event_data(row: Analysis) -> AnalysisEventData:
    error = None
    if row.error is not None:
        error = MediaErrorInfo(type=row.error, detail=row.error_detail or "")
    skipped = {
        stage: str(state.get("reason") or "")
        for stage, state in row.progress.items()
        if state["status"] == "skipped"
    }
    return AnalysisEventData(
        id=row.id, video_id=row.video_id, status=row.status,
        stages=list(row.stages), skipped=skipped, duration=row.duration,
        credits_charged=row.credits_charged, error=error,
    )  # fmt: skip


def _announce(session: AsyncSession, bus: Bus, row: Analysis, event_type: str) -> None:
    data, tenant_id = event_data(row), row.tenant_id
    session_hooks(session).after_commit(
        lambda: publish_analysis_event(bus, event_type, tenant_id=tenant_id, payload=data)
    )


async def mark_running(session: AsyncSession, analysis_id: str) -> Analysis | None:
    """queued (or running, on a rerun) -> running; None when it had settled or was deleted."""
    row = await AnalysisRepository(session).by_id(analysis_id)
    if row is None or row.status not in _UNSETTLED:
        return None
    return await AnalysisRepository(session).change(
        analysis_id,
        expect_status=_UNSETTLED,
        status=AnalysisStatus.RUNNING,
        started_at=row.started_at or utcnow(),
    )


async def mark_failed(
    session: AsyncSession, bus: Bus, analysis_id: str, slug: str, detail: str
) -> Analysis | None:
    """queued or running -> failed; None when it had settled already."""
    changed = await AnalysisRepository(session).change(
        analysis_id,
        expect_status=_UNSETTLED,
        status=AnalysisStatus.FAILED,
        stage=None,
        error=slug,
        error_detail=detail[:500],
        completed_at=utcnow(),
    )
    if changed is not None:
        _announce(session, bus, changed, ANALYSIS_FAILED)
    return changed


async def mark_completed(
    session: AsyncSession, bus: Bus, analysis_id: str, **values: Any
) -> Analysis | None:
    """running -> completed; None when it had settled (or was deleted) meanwhile."""
    changed = await AnalysisRepository(session).change(
        analysis_id,
        expect_status=AnalysisStatus.RUNNING,
        status=AnalysisStatus.COMPLETED,
        stage=None,
        percent=100,
        completed_at=utcnow(),
        **values,
    )
    if changed is not None:
        _announce(session, bus, changed, ANALYSIS_COMPLETED)
    return changed
