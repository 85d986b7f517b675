"""The tenant's analysis settings at ``/v1/video-analysis/settings``: read them
(``analyses:read``), replace them (``analyses:write``). Today: the scene threshold its analyses
use when a request names none. Each tenant sees and changes only its own."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from v100.kit.auth import Principal
from v100.kit.http import Authorized
from v100.services.video_analysis.deps import ServiceDep
from v100.services.video_analysis.models import TenantSettings
from v100.services.video_analysis.schemas import AnalysisSettingsIn, AnalysisSettingsOut

__all__ = ["settings_router"]

AnalysesRead = Annotated[Principal, Depends(Authorized("analyses:read"))]
AnalysesWrite = Annotated[Principal, Depends(Authorized("analyses:write"))]

settings_router = APIRouter(prefix="/v1/video-analysis", tags=["video analysis settings"])


def _out(row: TenantSettings) -> AnalysisSettingsOut:
    return AnalysisSettingsOut(scene_threshold=row.scene_threshold, updated_at=row.updated_at)


@settings_router.get("/settings", response_model=AnalysisSettingsOut)
async def get_settings(principal: AnalysesRead, service: ServiceDep) -> AnalysisSettingsOut:
    """The tenant's analysis settings (the defaults until first set)."""
    return _out(await service.tenant_settings(principal.tenant_id))


@settings_router.put("/settings", response_model=AnalysisSettingsOut)
async def put_settings(
    body: AnalysisSettingsIn, principal: AnalysesWrite, service: ServiceDep
) -> AnalysisSettingsOut:
    """Replace the tenant's analysis settings."""
    return _out(
        await service.set_tenant_settings(principal.tenant_id, scene_threshold=body.scene_threshold)
    )
