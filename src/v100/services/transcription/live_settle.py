"""How a live session ends in the database: what was heard becomes a transcript (source kind
``live``, stored and announced ``transcript.completed`` like any other, read at
``GET /v1/transcripts/{id}``), the minute being streamed is captured, and the session moves to
closed (or failed) with why it ended, in one unit of work. A session refused before it
streamed (credits, its backend) fails with the reason and no transcript; the sweep closes
sessions never connected and fails those whose stream's process died (``abandoned``: their
audio is gone with it), releasing their open hold."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from v100.ai.asr import LiveResult, Transcript, TranscriptSegment, to_document
from v100.kit.db import new_id, unit_of_work, utcnow
from v100.kit.http import Runtime
from v100.kit.jobs import JobContext
from v100.kit.observability import get_logger
from v100.services.transcription import lifecycle
from v100.services.transcription.live_credits import MinuteHolds, live_terms
from v100.services.transcription.live_repository import SessionRepository
from v100.services.transcription.models import LiveSession as SessionRow
from v100.services.transcription.models import (
    SessionStatus,
    SourceKind,
    TranscriptStatus,
)
from v100.services.transcription.models import Transcript as TranscriptRow
from v100.services.transcription.repository import TranscriptRepository
from v100.services.transcription.resources import Resources

if TYPE_CHECKING:
    from v100.services.transcription.live_stream import Ending

__all__ = ["Heard", "refused", "settle", "sweep"]

_log = get_logger("v100.transcription.live")


@dataclass
class Heard:
    """What a stream heard, as it ended."""

    finals: list[LiveResult]
    interims: int
    language: str | None
    language_probability: float | None
    audio_seconds: float
    bytes_received: int
    latencies: list[float]
    holds: MinuteHolds


def transcript_of(heard: Heard, backend: str) -> Transcript:
    """The final results as a transcript: one segment per final result with words."""
    segments = []
    for result in heard.finals:
        if not result.words:
            continue
        words = result.words
        segments.append(TranscriptSegment(
            text=result.transcript or " ".join(word.text for word in words),
            start=words[0].start, end=words[-1].end, words=words,
            avg_logprob=math.log(max(result.confidence, 1e-6)), no_speech_prob=0.0,
        ))  # fmt: skip
    spoken = bool(segments) or heard.language_probability == 1.0
    return Transcript(
        segments=tuple(segments),
        language=heard.language if spoken else None,
        language_probability=heard.language_probability if spoken else None,
        duration=heard.audio_seconds,
        speech_duration=sum(segment.end - segment.start for segment in segments),
        backend=backend,
    )


def _milliseconds(latencies: list[float], quantile: float) -> float | None:
    if not latencies:
        return None
    ordered = sorted(latencies)
    if quantile == 0.5:
        return round(statistics.median(ordered) * 1000, 1)
    return round(ordered[min(len(ordered) - 1, math.ceil(quantile * len(ordered)) - 1)] * 1000, 1)


async def settle(runtime: Runtime, row: SessionRow, heard: Heard, ending: Ending) -> None:
    assert runtime.sessions is not None
    transcript = transcript_of(heard, row.backend)
    document = to_document(transcript)
    charged = await heard.holds.settle(heard.audio_seconds)
    now = utcnow()
    async with unit_of_work(runtime.sessions) as session:
        stored = TranscriptRow(
            id=new_id(), tenant_id=row.tenant_id, status=TranscriptStatus.PROCESSING,
            source_kind=SourceKind.LIVE, source_session_id=row.id, backend=row.backend,
            language_requested=row.options.get("language"), started_at=row.started_at,
        )  # fmt: skip
        await TranscriptRepository(session).add(stored)
        await lifecycle.mark_completed(
            session, runtime.bus, stored.id,
            language=document.language, language_probability=document.language_probability,
            duration=document.duration, speech_duration=transcript.speech_duration,
            word_count=sum(len(segment.words) for segment in document.segments),
            document=document.model_dump(mode="json"), credits_charged=charged,
        )  # fmt: skip
        await SessionRepository(session).change(
            row.id, expect_status=SessionStatus.STREAMING,
            status=SessionStatus.FAILED if ending.failed else SessionStatus.CLOSED,
            end_reason=ending.reason, end_detail=ending.detail[:500], close_code=ending.code,
            audio_seconds=heard.audio_seconds, bytes_received=heard.bytes_received,
            final_results=len(heard.finals), interim_results=heard.interims,
            latency_median_ms=_milliseconds(heard.latencies, 0.5),
            latency_p90_ms=_milliseconds(heard.latencies, 0.9),
            transcript_id=stored.id, credits_charged=charged, hold_id=None,
            held_minutes=heard.holds.minutes, ended_at=now,
        )  # fmt: skip


async def refused(runtime: Runtime, row: SessionRow, slug: str, detail: str) -> None:
    """streaming -> failed before the WebSocket was accepted (no transcript)."""
    assert runtime.sessions is not None
    async with unit_of_work(runtime.sessions) as session:
        await SessionRepository(session).change(
            row.id, expect_status=SessionStatus.STREAMING, status=SessionStatus.FAILED,
            end_reason=slug, end_detail=detail[:500], ended_at=utcnow(), hold_id=None,
        )  # fmt: skip


async def sweep(job: JobContext, resources: Resources) -> None:
    """Close the sessions never connected in time; fail those whose stream went silent (its
    process died), releasing their open hold."""
    settings = resources.settings
    now = utcnow()
    silent_for = max(30.0, 10 * settings.live_heartbeat_seconds)
    async with job.unit_of_work() as session:
        stale = await SessionRepository(session).stale(
            created_before=now - timedelta(seconds=settings.live_connect_within),
            silent_since=now - timedelta(seconds=silent_for),
        )
        holds: list[tuple[SessionRow, str, int]] = []
        for row in stale:
            hold_id, minutes = row.hold_id, row.held_minutes  # before the change reloads it
            if row.status == SessionStatus.CREATED:
                values = {"status": SessionStatus.CLOSED, "end_reason": "never-connected",
                          "end_detail": "No WebSocket connected within "
                                        f"{settings.live_connect_within:.0f} s."}  # fmt: skip
            else:
                values = {"status": SessionStatus.FAILED, "end_reason": "abandoned",
                          "end_detail": "The stream's server stopped answering; what it heard "
                                        "was lost with it."}  # fmt: skip
            changed = await SessionRepository(session).change(
                row.id, expect_status=row.status, ended_at=now, hold_id=None, **values
            )
            if changed is not None and hold_id is not None:
                holds.append((row, hold_id, minutes))
    terms = live_terms(settings)
    for row, hold_id, minutes in holds:
        await terms.release(
            resources.billing, work_id=f"{row.id}-{minutes}", tenant_id=row.tenant_id,
            hold_id=hold_id,
        )  # fmt: skip
    if stale:
        _log.info("live sessions swept", count=len(stale))
