"""What media_processor's endpoints are given, typed: its settings, its ``MediaService``, the
``AssemblyService`` for chunked uploads and the process's Whisper model (language detection)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from v100.ai.asr import LocalWhisper
from v100.kit.errors import BackendUnavailable
from v100.kit.http import Provided, RuntimeDep, SettingsOf
from v100.services.media_processor.assembly import AssemblyService
from v100.services.media_processor.service import MediaService
from v100.services.media_processor.settings import MediaProcessorSettings

__all__ = ["AssembliesDep", "ServiceDep", "SettingsDep", "WhisperDep"]

SettingsDep = Annotated[MediaProcessorSettings, Depends(SettingsOf(MediaProcessorSettings))]


async def get_service(runtime: RuntimeDep, settings: SettingsDep) -> MediaService:
    if runtime.sessions is None or runtime.storage is None:
        raise BackendUnavailable("media_processor is not ready yet.", retry_after=1)
    return MediaService(runtime.sessions, runtime.storage, settings)


ServiceDep = Annotated[MediaService, Depends(get_service)]


async def get_assemblies(service: ServiceDep) -> AssemblyService:
    return AssemblyService(
        service.sessions, service.storage, ttl_seconds=service.settings.assembly_ttl_seconds
    )


AssembliesDep = Annotated[AssemblyService, Depends(get_assemblies)]

# One per process, loaded on first use (language.speech_models).
WhisperDep = Annotated[LocalWhisper, Depends(Provided(LocalWhisper))]
