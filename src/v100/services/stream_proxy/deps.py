"""What stream_proxy's endpoints are given, typed: its settings, the playback URL signer, the
video directory and the routes' health (opened by the app's component), its services on the
request's session, and the object store."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from v100.kit.errors import BackendUnavailable
from v100.kit.http import Provided, RuntimeDep, SessionDep, SettingsOf
from v100.kit.storage import ObjectStore
from v100.services.stream_proxy.health import RouteHealth
from v100.services.stream_proxy.service import PlaybackService, RouteService
from v100.services.stream_proxy.settings import StreamProxySettings
from v100.services.stream_proxy.tokens import PlaybackSigner
from v100.services.stream_proxy.videos import VideoDirectory

__all__ = [
    "DirectoryDep",
    "HealthDep",
    "PlaybackDep",
    "RoutesDep",
    "SettingsDep",
    "SignerDep",
    "StoreDep",
]

SettingsDep = Annotated[StreamProxySettings, Depends(SettingsOf(StreamProxySettings))]
SignerDep = Annotated[PlaybackSigner, Depends(Provided(PlaybackSigner))]
DirectoryDep = Annotated[VideoDirectory, Depends(Provided(VideoDirectory))]
HealthDep = Annotated[RouteHealth, Depends(Provided(RouteHealth))]


async def get_store(runtime: RuntimeDep) -> ObjectStore:
    if runtime.storage is None:
        raise BackendUnavailable("stream_proxy is not ready yet.", retry_after=1)
    return runtime.storage


async def get_playback(
    settings: SettingsDep, signer: SignerDep, directory: DirectoryDep
) -> PlaybackService:
    return PlaybackService(settings, signer, directory)


async def get_routes(session: SessionDep, settings: SettingsDep) -> RouteService:
    return RouteService(session, settings)


StoreDep = Annotated[ObjectStore, Depends(get_store)]
PlaybackDep = Annotated[PlaybackService, Depends(get_playback)]
RoutesDep = Annotated[RouteService, Depends(get_routes)]
