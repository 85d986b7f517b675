"""What video_processing's endpoints are given, typed: its settings, its ``VideoService`` and
``CaptionService`` on the request's session, the URL signer and the links it shapes answers
with."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from v100.kit.errors import BackendUnavailable
from v100.kit.http import Provided, RuntimeDep, SessionDep, SettingsOf
from v100.services.video_processing.captions import CaptionService
from v100.services.video_processing.links import Links
from v100.services.video_processing.service import VideoService
from v100.services.video_processing.settings import VideoProcessingSettings
from v100.services.video_processing.tokens import UrlSigner

__all__ = [
    "CaptionsDep",
    "LinksDep",
    "ServiceDep",
    "SettingsDep",
    "SignerDep",
    "settings",
    "signer",
]

# Also awaited by the plain Starlette endpoints of uploads.py (no FastAPI dependencies there).
settings = SettingsOf(VideoProcessingSettings)
signer = Provided(UrlSigner)

SettingsDep = Annotated[VideoProcessingSettings, Depends(settings)]
SignerDep = Annotated[UrlSigner, Depends(signer)]


async def get_service(
    session: SessionDep, runtime: RuntimeDep, settings: SettingsDep
) -> VideoService:
    return VideoService(session, settings, runtime.bus)


async def get_links(runtime: RuntimeDep, settings: SettingsDep, signer: SignerDep) -> Links:
    return Links(settings.public_base, signer, runtime.storage, settings)


async def get_captions(session: SessionDep, runtime: RuntimeDep) -> CaptionService:
    if runtime.storage is None:
        raise BackendUnavailable("video_processing is not ready yet.", retry_after=1)
    return CaptionService(session, runtime.storage)


ServiceDep = Annotated[VideoService, Depends(get_service)]
CaptionsDep = Annotated[CaptionService, Depends(get_captions)]
LinksDep = Annotated[Links, Depends(get_links)]
