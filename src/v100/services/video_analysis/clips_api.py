"""video_analysis's clip endpoints under ``/v1/analyses/{id}/clips``: render highlights as
clips for a platform (202; video_processing renders each, ADR 0060), list an analysis's clips,
read one with its download URL once ready. The clips are video_processing's (``/v1/clips``),
so the answers are its clips, with ``Deprecation`` and a ``Link`` to each clip's own URL for
the reads. Thin: parse, call ``ClipService``, shape."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import JSONResponse, Response

from v100.contracts.videos import ClipInfo
from v100.kit.http import SessionDep
from v100.kit.idempotency import IdempotencyKey, idempotent
from v100.services.video_analysis.api import PREFIX, AnalysesRead, AnalysesWrite
from v100.services.video_analysis.clips import ClipService
from v100.services.video_analysis.deps import ServiceDep
from v100.services.video_analysis.schemas import ClipList, ClipOut, ClipsCreate

__all__ = ["clips_router"]

clips_router = APIRouter(prefix=PREFIX, tags=["clips"])

_NO_HIGHLIGHTS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such analysis, or no such highlight of it (problem+json, "
          "/problems/highlight-not-found)."},
    409: {"description": "The analysis has no highlights yet, or its highlights stage was "
          "not asked for or was skipped (problem+json, /problems/analysis-stage-not-run)."},
}  # fmt: skip


def _successors(response: Response, clips: list[ClipInfo]) -> None:
    """The reads here are kept for callers of the first version: say where each clip lives."""
    response.headers["Deprecation"] = "true"
    if clips:
        response.headers["Link"] = ", ".join(
            f'</v1/clips/{clip.id}>; rel="successor-version"' for clip in clips[:20]
        )


@clips_router.post(
    "/{analysis_id}/clips", status_code=202, response_model=ClipList, responses=_NO_HIGHLIGHTS
)
async def create_clips(
    analysis_id: str,
    body: ClipsCreate,
    key: IdempotencyKey,
    principal: AnalysesWrite,
    service: ServiceDep,
    session: SessionDep,
) -> JSONResponse:
    """Render highlights (by id, or the best ``count``) as clips of ``aspect`` for
    ``platform``, captions burnt in (202; poll each clip until ``ready`` or ``failed``)."""
    created = ClipService(service).create(
        principal.tenant_id, analysis_id, highlight_ids=body.highlight_ids, count=body.count,
        aspect=body.aspect, platform=body.platform, captions=body.captions, key=key,
    )  # fmt: skip
    return await idempotent(
        session, principal.tenant_id, key, f"create_clips:{analysis_id}", body, created,
        lambda rows: ClipList(items=[ClipOut.model_validate(r.model_dump()) for r in rows]),
        status=202,
    )  # fmt: skip


@clips_router.get("/{analysis_id}/clips", response_model=ClipList)
async def list_clips(
    analysis_id: str, principal: AnalysesRead, service: ServiceDep, response: Response
) -> ClipList:
    """The analysis's clips (video_processing's), oldest first, ready ones with a download URL."""
    rows = await ClipService(service).of_analysis(principal.tenant_id, analysis_id)
    _successors(response, rows)
    return ClipList(items=[ClipOut.model_validate(row.model_dump()) for row in rows])


@clips_router.get("/{analysis_id}/clips/{clip_id}", response_model=ClipOut)
async def get_clip(
    analysis_id: str,
    clip_id: str,
    principal: AnalysesRead,
    service: ServiceDep,
    response: Response,
) -> ClipOut:
    """One clip (``GET /v1/clips/{id}`` answers the same): where its render stands and, once
    ready, its download URL."""
    row = await ClipService(service).get(principal.tenant_id, analysis_id, clip_id)
    _successors(response, [row])
    return ClipOut.model_validate(row.model_dump())
