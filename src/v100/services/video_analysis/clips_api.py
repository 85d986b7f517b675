"""video_analysis's clip endpoints under ``/v1/analyses/{id}/clips``: render highlights as
clips for a platform (202; a job renders each), list an analysis's clips, read one with a
presigned link to its MP4 once ready. Thin: parse, call ``ClipService``, shape."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import JSONResponse

from v100.kit.http import SessionDep
from v100.kit.idempotency import IdempotencyKey, idempotent
from v100.services.video_analysis.api import PREFIX, AnalysesRead, AnalysesWrite
from v100.services.video_analysis.clips import ClipService
from v100.services.video_analysis.deps import ServiceDep
from v100.services.video_analysis.models import Clip
from v100.services.video_analysis.schemas import AnalysisError, ClipList, ClipOut, ClipsCreate

__all__ = ["clips_router"]

clips_router = APIRouter(prefix=PREFIX, tags=["clips"])

_NO_HIGHLIGHTS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such analysis, or no such highlight of it (problem+json, "
          "/problems/highlight-not-found)."},
    409: {"description": "The analysis has no highlights yet, or its highlights stage was "
          "not asked for or was skipped (problem+json, /problems/analysis-stage-not-run)."},
}  # fmt: skip


def _out(row: Clip, link: tuple[str, object] | None = None) -> ClipOut:
    error = None
    if row.error is not None:
        error = AnalysisError(type=f"/problems/{row.error}", detail=row.error_detail)
    url, expires_at = link if link is not None else (None, None)
    fields = {name: getattr(row, name) for name in ClipOut.model_fields if hasattr(row, name)}
    return ClipOut.model_validate({**fields, "error": error, "url": url, "expires_at": expires_at})


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
        aspect=body.aspect, platform=body.platform, captions=body.captions,
    )  # fmt: skip
    return await idempotent(
        session, principal.tenant_id, key, f"create_clips:{analysis_id}", body, created,
        lambda rows: ClipList(items=[_out(row) for row in rows]), status=202,
    )  # fmt: skip


@clips_router.get("/{analysis_id}/clips", response_model=ClipList)
async def list_clips(analysis_id: str, principal: AnalysesRead, service: ServiceDep) -> ClipList:
    """The analysis's clips, oldest first, ready ones with a presigned link."""
    clips = ClipService(service)
    rows = await clips.of_analysis(principal.tenant_id, analysis_id)
    return ClipList(items=[_out(row, await clips.link(row)) for row in rows])


@clips_router.get("/{analysis_id}/clips/{clip_id}", response_model=ClipOut)
async def get_clip(
    analysis_id: str, clip_id: str, principal: AnalysesRead, service: ServiceDep
) -> ClipOut:
    """One clip: where its render stands and, once ready, a presigned link to its MP4."""
    clips = ClipService(service)
    row = await clips.get(principal.tenant_id, analysis_id, clip_id)
    return _out(row, await clips.link(row))
