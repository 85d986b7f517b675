"""Builds the stream_proxy app: signed playback URLs and media routes under ``/v1/streams``, the
public ``/hls/`` side players fetch (CORS of its own), and what they need opened once per
process: the URL signer, video_processing's client (behind the video directory) and the routes'
health checker, running in the background."""

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI
from starlette.middleware import Middleware

from v100.contracts.videos import connect_videos
from v100.kit.http import (
    Access,
    Component,
    DatabaseSpec,
    Runtime,
    ServiceSpec,
    StorageSpec,
    create_service_app,
)
from v100.services.stream_proxy.api import streams_router
from v100.services.stream_proxy.cors import HLS_PREFIX, HlsCorsMiddleware
from v100.services.stream_proxy.health import RouteHealth, checking
from v100.services.stream_proxy.hls_api import hls_router
from v100.services.stream_proxy.models import Base
from v100.services.stream_proxy.service import backend_policy
from v100.services.stream_proxy.settings import StreamProxySettings as Settings
from v100.services.stream_proxy.tokens import PlaybackSigner
from v100.services.stream_proxy.videos import VideoDirectory

DATABASE = DatabaseSpec(Base.metadata, Path(__file__).parent / "migrations")


def _opened(settings: Settings) -> Component:
    @contextlib.asynccontextmanager
    async def open_parts(runtime: Runtime) -> AsyncIterator[None]:
        assert runtime.sessions is not None
        platform = settings.platform
        runtime.provide(PlaybackSigner(platform.resolved_internal_token_secret))
        videos = connect_videos(settings.video_processing_url, platform)
        directory = VideoDirectory(videos, settings.video_check_seconds)
        runtime.provide(directory)
        health = RouteHealth(settings, runtime.sessions, backend_policy(settings))
        runtime.provide(health)
        try:
            async with checking(health, runtime.migrated):
                yield
        finally:
            await directory.aclose()

    return open_parts


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    return create_service_app(
        ServiceSpec(
            settings,
            title="V100 stream_proxy",
            description="HLS delivery of processed videos under signed playback URLs, and "
            "media routes: health-checked backends proxied under signed URLs.",
            routers=[streams_router, hls_router],
            database=DATABASE,
            # It reads the HLS objects video_processing stored (contracts/videos.py says where).
            storage=StorageSpec(),
            # Every URL there carries a signed, expiring token of its own (tokens.py).
            access=Access(public_prefixes=(HLS_PREFIX,)),
            middleware=[Middleware(HlsCorsMiddleware, origins=settings.cors_origins)],
            components=[_opened(settings)],
        )
    )
