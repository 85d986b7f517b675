"""transcription's route for the platform's other services, under the scope
``service:transcripts`` that no tenant credential can hold (``contracts/transcription.py`` is
its client; the tenant is the internal token's): a completed transcript's document, for
rag_engine to index it (a transcript not completed is 409 ``transcript-not-finished``), and a
stored video's transcript, asked for when it has none (video_analysis's transcript stage)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from v100.contracts.transcription import (
    FINISHED_PATH,
    VIDEO_TRANSCRIPT_PATH,
    FinishedTranscript,
    VideoTranscript,
)
from v100.contracts.transcripts import TranscriptDocument
from v100.kit.auth import Principal
from v100.kit.http import Authorized, SessionDep
from v100.services.transcription.deps import ServiceDep
from v100.services.transcription.errors import TranscriptNotFinished
from v100.services.transcription.models import TranscriptStatus

__all__ = ["internal_router"]

ServiceTranscripts = Annotated[Principal, Depends(Authorized("service:transcripts"))]

internal_router = APIRouter(tags=["transcripts (platform services)"])


@internal_router.get(
    FINISHED_PATH,
    response_model=FinishedTranscript,
    responses={409: {"description": "The transcript is queued, processing or failed"}},
)
async def finished_transcript(
    transcript_id: str, principal: ServiceTranscripts, service: ServiceDep, session: SessionDep
) -> FinishedTranscript:
    """A completed transcript's document (words with times, segments, paragraphs)."""
    row = await service.get(session, principal.tenant_id, transcript_id)
    if row.status != TranscriptStatus.COMPLETED or row.document is None:
        raise TranscriptNotFinished(
            f"Transcript {transcript_id} is {row.status}: only a completed one has a document."
        )
    return FinishedTranscript(
        transcript_id=row.id, title=row.source_name, language=row.language,
        duration=row.duration, source_video_id=row.source_video_id,
        completed_at=row.completed_at, document=TranscriptDocument.model_validate(row.document),
    )  # fmt: skip


@internal_router.post(VIDEO_TRANSCRIPT_PATH, response_model=VideoTranscript)
async def video_transcript(
    video_id: str, principal: ServiceTranscripts, service: ServiceDep, session: SessionDep
) -> VideoTranscript:
    """The stored video's transcript as it stands (completed: with its document), asked for
    now when the video has none (404 unknown video; 409 not ready, or without audio)."""
    row = await service.for_video(session, principal.tenant_id, video_id)
    completed = row.status == TranscriptStatus.COMPLETED and row.document is not None
    return VideoTranscript(
        transcript_id=row.id,
        video_id=video_id,
        status=row.status,
        language=row.language,
        document=TranscriptDocument.model_validate(row.document) if completed else None,
        error=row.error,
        error_detail=row.error_detail,
    )
