"""transcription's routes for the platform's other services, under the scope
``service:transcripts`` that no tenant credential can hold (``contracts/transcription.py`` is
their client; the tenant is the internal token's): a stored video's transcript, asked for when
it has none (video_analysis's transcript stage)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from v100.contracts.transcription import VideoTranscript
from v100.contracts.transcripts import TranscriptDocument
from v100.kit.auth import Principal
from v100.kit.http import Authorized, SessionDep
from v100.services.transcription.deps import ServiceDep
from v100.services.transcription.models import TranscriptStatus

__all__ = ["internal_router"]

ServiceTranscripts = Annotated[Principal, Depends(Authorized("service:transcripts"))]

internal_router = APIRouter(prefix="/v1/transcripts", tags=["transcripts (platform services)"])


@internal_router.post("/videos/{video_id}", response_model=VideoTranscript)
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
