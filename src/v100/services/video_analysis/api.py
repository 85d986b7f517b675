"""video_analysis's endpoints under ``/v1/analyses``: start an analysis of a stored video (202;
its job runs the stages), read one with where each stage stands, list them, delete one, and
read each stage's result (scenes, keyframes with presigned links to their images, face tracks
with the active speaker, speech segments, loudness/energy/motion curves, the transcript, the
highlights). Thin:
parse, call ``AnalysisService``, shape."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from starlette.responses import JSONResponse, Response

from v100.kit.auth import Principal
from v100.kit.db import InvalidCursorError
from v100.kit.errors import BadRequest
from v100.kit.http import Authorized, SessionDep
from v100.kit.idempotency import IdempotencyKey, idempotent
from v100.services.video_analysis.deps import ServiceDep
from v100.services.video_analysis.models import Analysis
from v100.services.video_analysis.schemas import (
    AnalysisCreate,
    AnalysisError,
    AnalysisOut,
    AnalysisPage,
    FacesResult,
    HighlightOptions,
    HighlightsResult,
    KeyframesResult,
    ScenesResult,
    SignalsResult,
    SpeechResult,
    StageState,
    TranscriptResult,
)

__all__ = ["PREFIX", "analyses_router"]

AnalysesRead = Annotated[Principal, Depends(Authorized("analyses:read"))]
AnalysesWrite = Annotated[Principal, Depends(Authorized("analyses:write"))]

PREFIX = "/v1/analyses"
analyses_router = APIRouter(prefix=PREFIX, tags=["analyses"])

Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(max_length=200)]
_STAGE_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "The stage was not asked for, was skipped (saying why) or has not "
          "finished (problem+json, /problems/analysis-stage-not-run)."}
}  # fmt: skip


def _out(row: Analysis) -> AnalysisOut:
    error = None
    if row.error is not None:
        error = AnalysisError(type=f"/problems/{row.error}", detail=row.error_detail)
    return AnalysisOut(
        id=row.id, video_id=row.video_id, status=row.status,
        stages=list(row.stages),
        progress={stage: StageState.model_validate(s) for stage, s in row.progress.items()},
        stage=row.stage, percent=row.percent, scene_threshold=row.scene_threshold,
        highlights=HighlightOptions.model_validate(row.highlight_options)
        if row.highlight_options is not None else None,
        duration=row.duration, width=row.width, height=row.height, frame_rate=row.frame_rate,
        has_audio=row.has_audio, credits_charged=row.credits_charged, error=error,
        created_at=row.created_at, updated_at=row.updated_at, started_at=row.started_at,
        completed_at=row.completed_at,
    )  # fmt: skip


@analyses_router.post(
    "",
    status_code=202,
    response_model=AnalysisOut,
    responses={503: {"description": "video_processing did not answer about the video"}},
)
async def create_analysis(
    body: AnalysisCreate,
    key: IdempotencyKey,
    principal: AnalysesWrite,
    service: ServiceDep,
    session: SessionDep,
) -> JSONResponse:
    """Analyse a stored, ready video: the stages asked for and those they need (202, then
    poll ``GET /v1/analyses/{id}``, or wait for ``analysis.completed``)."""
    created = service.create(
        principal.tenant_id, video_id=body.video_id, stages=body.stages,
        scene_threshold=body.scene_threshold,
        highlights=body.highlights.model_dump() if body.highlights is not None else None,
    )  # fmt: skip
    return await idempotent(
        session, principal.tenant_id, key, "create_analysis", body, created, _out, status=202
    )


@analyses_router.get("", response_model=AnalysisPage)
async def list_analyses(
    principal: AnalysesRead,
    service: ServiceDep,
    video_id: Annotated[str | None, Query(min_length=1, max_length=36)] = None,
    status: Literal["queued", "running", "completed", "failed"] | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> AnalysisPage:
    """The tenant's analyses, newest first (of one video with ``video_id``)."""
    try:
        page = await service.page(
            principal.tenant_id, video_id=video_id, status=status, limit=limit, cursor=cursor
        )
    except InvalidCursorError:
        raise BadRequest("The cursor is not valid.") from None
    return AnalysisPage(items=[_out(row) for row in page.items], next_cursor=page.next_cursor)


@analyses_router.get("/{analysis_id}", response_model=AnalysisOut)
async def get_analysis(
    analysis_id: str, principal: AnalysesRead, service: ServiceDep
) -> AnalysisOut:
    """One analysis: its status, each stage's state and percent, what it cost."""
    return _out(await service.get(principal.tenant_id, analysis_id))


@analyses_router.delete("/{analysis_id}", status_code=204)
async def delete_analysis(
    analysis_id: str, principal: AnalysesWrite, service: ServiceDep
) -> Response:
    """Delete an analysis, its results and its keyframe images (a running one stops)."""
    await service.delete(principal.tenant_id, analysis_id)
    return Response(status_code=204)


@analyses_router.get(
    "/{analysis_id}/scenes", response_model=ScenesResult, responses=_STAGE_CONFLICT
)
async def get_scenes(
    analysis_id: str, principal: AnalysesRead, service: ServiceDep
) -> ScenesResult:
    """The scene boundaries (cuts, fades, dissolves) and the scenes between them."""
    return ScenesResult.model_validate(
        await service.result(principal.tenant_id, analysis_id, "scenes")
    )


@analyses_router.get(
    "/{analysis_id}/keyframes", response_model=KeyframesResult, responses=_STAGE_CONFLICT
)
async def get_keyframes(
    analysis_id: str, principal: AnalysesRead, service: ServiceDep
) -> KeyframesResult:
    """One keyframe per scene (its sharpest frame), with a presigned link to the image."""
    stored = await service.result(principal.tenant_id, analysis_id, "keyframes")
    return KeyframesResult.model_validate({"items": await service.with_links(stored)})


@analyses_router.get("/{analysis_id}/faces", response_model=FacesResult, responses=_STAGE_CONFLICT)
async def get_faces(analysis_id: str, principal: AnalysesRead, service: ServiceDep) -> FacesResult:
    """The face tracks (ids, a box per sample) and, when the speakers stage ran, who talks
    when."""
    faces = await service.result(principal.tenant_id, analysis_id, "faces")
    speaking = None
    if await service.has_result(principal.tenant_id, analysis_id, "speakers"):
        speakers = await service.result(principal.tenant_id, analysis_id, "speakers")
        speaking = speakers["turns"]
    return FacesResult.model_validate({**faces, "active_speaker": speaking})


@analyses_router.get(
    "/{analysis_id}/speech", response_model=SpeechResult, responses=_STAGE_CONFLICT
)
async def get_speech(
    analysis_id: str, principal: AnalysesRead, service: ServiceDep
) -> SpeechResult:
    """Speech and silence: the segments with speech (VAD), and how much of the video they
    cover."""
    return SpeechResult.model_validate(
        await service.result(principal.tenant_id, analysis_id, "speech")
    )


@analyses_router.get(
    "/{analysis_id}/signals", response_model=SignalsResult, responses=_STAGE_CONFLICT
)
async def get_signals(
    analysis_id: str, principal: AnalysesRead, service: ServiceDep
) -> SignalsResult:
    """Loudness, energy and motion curves, one value per interval."""
    return SignalsResult.model_validate(
        await service.result(principal.tenant_id, analysis_id, "signals")
    )


@analyses_router.get(
    "/{analysis_id}/transcript", response_model=TranscriptResult, responses=_STAGE_CONFLICT
)
async def get_transcript(
    analysis_id: str, principal: AnalysesRead, service: ServiceDep
) -> TranscriptResult:
    """The video's transcript, as the transcription service made it."""
    return TranscriptResult.model_validate(
        await service.result(principal.tenant_id, analysis_id, "transcript")
    )


@analyses_router.get(
    "/{analysis_id}/highlights", response_model=HighlightsResult, responses=_STAGE_CONFLICT
)
async def get_highlights(
    analysis_id: str, principal: AnalysesRead, service: ServiceDep
) -> HighlightsResult:
    """The video's highlights, best first: each clip's time range, text, its six factor scores
    with their reasons and its total; titles, descriptions and hashtags when an LLM refined
    them (``refinement`` says whether it did)."""
    return HighlightsResult.model_validate(
        await service.result(principal.tenant_id, analysis_id, "highlights")
    )
