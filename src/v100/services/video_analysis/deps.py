"""What video_analysis's endpoints are given, typed: its settings and its ``AnalysisService``
on the request's session."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from v100.kit.errors import BackendUnavailable
from v100.kit.http import RuntimeDep, SessionDep, SettingsOf
from v100.services.video_analysis.service import AnalysisService
from v100.services.video_analysis.settings import VideoAnalysisSettings

__all__ = ["ServiceDep", "SettingsDep"]

SettingsDep = Annotated[VideoAnalysisSettings, Depends(SettingsOf(VideoAnalysisSettings))]


async def get_service(
    runtime: RuntimeDep, settings: SettingsDep, session: SessionDep
) -> AnalysisService:
    if runtime.storage is None:
        raise BackendUnavailable("video_analysis is not ready yet.", retry_after=1)
    return AnalysisService(session, runtime.storage, settings)


ServiceDep = Annotated[AnalysisService, Depends(get_service)]
