"""The transcript state machine's moves and their announcements:

    queued ──run starts──▶ processing ──document stored──▶ completed
       │                       │
       └───────────────────────┴──bad input, refused URL, credits, attempts exhausted──▶ failed

Each move is a conditional update (it names the states it leaves) in the caller's unit of work;
``transcript.completed`` / ``transcript.failed`` go out on the ``transcripts`` stream after
commit. An automatic transcript's completion also queues the captions of its video."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from v100.contracts.events import (
    TRANSCRIPT_COMPLETED,
    TRANSCRIPT_FAILED,
    MediaErrorInfo,
    TranscriptEventData,
    publish_transcript_event,
)
from v100.kit.bus import Bus
from v100.kit.db import session_hooks, utcnow
from v100.services.transcription import captions
from v100.services.transcription.models import Transcript, TranscriptStatus
from v100.services.transcription.repository import TranscriptRepository

__all__ = ["event_data", "mark_completed", "mark_failed", "mark_processing"]

_UNSETTLED = (TranscriptStatus.QUEUED, TranscriptStatus.PROCESSING)


def event_data(row: Transcript) -> TranscriptEventData:
    error = None
    if row.error is not None:
        error = MediaErrorInfo(type=row.error, detail=row.error_detail or "")
    return TranscriptEventData(
        id=row.id,
        status=row.status,
        source=row.source_kind,
        video_id=row.source_video_id,
        automatic=row.automatic,
        backend=row.backend,
        language=row.language,
        language_probability=row.language_probability,
        duration=row.duration,
        word_count=row.word_count,
        credits_charged=row.credits_charged,
        error=error,
    )


def _announce(session: AsyncSession, bus: Bus, row: Transcript, event_type: str) -> None:
    data, tenant_id = event_data(row), row.tenant_id
    session_hooks(session).after_commit(
        lambda: publish_transcript_event(bus, event_type, tenant_id=tenant_id, payload=data)
    )


async def mark_processing(session: AsyncSession, transcript_id: str) -> Transcript | None:
    """queued (or processing, on a rerun) -> processing; None when it had settled already."""
    return await TranscriptRepository(session).change(
        transcript_id,
        expect_status=_UNSETTLED,
        status=TranscriptStatus.PROCESSING,
        started_at=utcnow(),
    )


async def mark_failed(
    session: AsyncSession, bus: Bus, transcript_id: str, slug: str, detail: str
) -> Transcript | None:
    """queued or processing -> failed; None when it had settled already."""
    changed = await TranscriptRepository(session).change(
        transcript_id,
        expect_status=_UNSETTLED,
        status=TranscriptStatus.FAILED,
        error=slug,
        error_detail=detail[:500],
        completed_at=utcnow(),
    )
    if changed is not None:
        _announce(session, bus, changed, TRANSCRIPT_FAILED)
    return changed


async def mark_completed(
    session: AsyncSession, bus: Bus, transcript_id: str, **values: Any
) -> Transcript | None:
    """processing -> completed with the document's ``values``; None when it had settled."""
    changed = await TranscriptRepository(session).change(
        transcript_id,
        expect_status=TranscriptStatus.PROCESSING,
        status=TranscriptStatus.COMPLETED,
        completed_at=utcnow(),
        **values,
    )
    if changed is not None:
        _announce(session, bus, changed, TRANSCRIPT_COMPLETED)
        await captions.queue(session, changed)
    return changed
