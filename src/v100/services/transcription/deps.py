"""What transcription's endpoints are given, typed: its settings, its ``TranscriptService`` and
its ``LiveSessionService``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from v100.kit.errors import BackendUnavailable
from v100.kit.http import RuntimeDep, SettingsOf
from v100.services.transcription.live_service import LiveSessionService
from v100.services.transcription.service import TranscriptService
from v100.services.transcription.settings import TranscriptionSettings

__all__ = ["LiveServiceDep", "ServiceDep", "SettingsDep"]

SettingsDep = Annotated[TranscriptionSettings, Depends(SettingsOf(TranscriptionSettings))]


async def get_service(runtime: RuntimeDep, settings: SettingsDep) -> TranscriptService:
    if runtime.sessions is None or runtime.storage is None:
        raise BackendUnavailable("transcription is not ready yet.", retry_after=1)
    return TranscriptService(runtime.sessions, runtime.storage, settings)


ServiceDep = Annotated[TranscriptService, Depends(get_service)]


async def get_live_service(runtime: RuntimeDep, settings: SettingsDep) -> LiveSessionService:
    if runtime.sessions is None:
        raise BackendUnavailable("transcription is not ready yet.", retry_after=1)
    return LiveSessionService(settings, runtime.sessions, runtime.bus)


LiveServiceDep = Annotated[LiveSessionService, Depends(get_live_service)]
