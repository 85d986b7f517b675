"""What recording_processor's endpoints are given, typed: its settings and its
``RecordingService``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from v100.kit.errors import BackendUnavailable
from v100.kit.http import RuntimeDep, SettingsOf
from v100.services.recording_processor.progress import Announcer
from v100.services.recording_processor.service import RecordingService
from v100.services.recording_processor.settings import RecordingProcessorSettings

__all__ = ["ServiceDep", "SettingsDep"]

SettingsDep = Annotated[RecordingProcessorSettings, Depends(SettingsOf(RecordingProcessorSettings))]


async def get_service(runtime: RuntimeDep, settings: SettingsDep) -> RecordingService:
    if runtime.sessions is None or runtime.storage is None:
        raise BackendUnavailable("recording_processor is not ready yet.", retry_after=1)
    return RecordingService(runtime.sessions, runtime.storage, Announcer(runtime.bus), settings)


ServiceDep = Annotated[RecordingService, Depends(get_service)]
