"""stream_proxy's domain: signed playback URLs for a tenant's processed videos (checked with
video_processing first) and for its media routes, and the routes themselves (a tenant's named
backends; every backend URL passes the SSRF guard when it is stored)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from v100.contracts.videos import VideoMissing, VideosError
from v100.kit.db import Page, utcnow
from v100.kit.fetch import FetchPolicy, UrlFetchFailed, UrlNotAllowed, check_url
from v100.services.stream_proxy.errors import (
    BackendNotAllowed,
    RouteNotFound,
    VideoNotFound,
    VideoNotPlayable,
)
from v100.services.stream_proxy.models import MediaRoute
from v100.services.stream_proxy.repository import RouteRepository
from v100.services.stream_proxy.schemas import BackendIn, RouteIn, RoutePatch
from v100.services.stream_proxy.settings import StreamProxySettings
from v100.services.stream_proxy.tokens import PlaybackSigner
from v100.services.stream_proxy.videos import VideoDirectory

__all__ = ["PlaybackService", "PlaybackUrl", "RouteService", "backend_policy"]


@dataclass(frozen=True, slots=True)
class PlaybackUrl:
    url: str
    expires_at: datetime


def backend_policy(settings: StreamProxySettings) -> FetchPolicy:
    """Where a route's backends may be: public http(s) addresses, and the networks the
    operator allows (``backend_allow_cidrs``)."""
    loopback = ("127.0.0.0/8", "::1/128") if settings.backends_loopback_only else ()
    return FetchPolicy(
        allow_cidrs=(*settings.backend_allow_cidrs, *loopback),
        public=not settings.backends_loopback_only,
        connect_timeout=settings.proxy_connect_seconds,
        read_timeout=settings.proxy_read_seconds,
    )


class PlaybackService:
    def __init__(
        self, settings: StreamProxySettings, signer: PlaybackSigner, videos: VideoDirectory
    ) -> None:
        self.settings = settings
        self.signer = signer
        self.videos = videos

    def _expiry(self, ttl_seconds: int | None) -> int:
        ttl = ttl_seconds if ttl_seconds is not None else self.settings.playback_default_seconds
        return int(time.time()) + min(ttl, self.settings.playback_max_seconds)

    async def video_url(
        self, tenant_id: str, video_id: str, ttl_seconds: int | None
    ) -> PlaybackUrl:
        """A signed URL of the video's master playlist, once video_processing says the tenant
        has this video and it is ready with a ladder."""
        try:
            hls = await self.videos.describe(tenant_id, video_id)
        except VideoMissing:
            raise VideoNotFound(f"No video {video_id}.") from None
        except VideosError as exc:
            if exc.status != 409:
                raise
            detail = str(exc.problem.get("detail") or "The video has no HLS to play.")
            raise VideoNotPlayable(detail) from None
        expires = self._expiry(ttl_seconds)
        token = self.signer.video(tenant_id, hls.video_id, expires)
        return PlaybackUrl(
            f"{self.settings.public_base}/hls/{token}/{hls.master}",
            datetime.fromtimestamp(expires, UTC),
        )

    def route_url(self, tenant_id: str, route: MediaRoute, ttl_seconds: int | None) -> PlaybackUrl:
        """A signed base URL under which the route's backends are reached: append the path."""
        expires = self._expiry(ttl_seconds)
        token = self.signer.route(tenant_id, route.id, expires)
        return PlaybackUrl(
            f"{self.settings.public_base}/hls/routes/{token}/",
            datetime.fromtimestamp(expires, UTC),
        )


class RouteService:
    def __init__(self, session: AsyncSession, settings: StreamProxySettings) -> None:
        self.session = session
        self.settings = settings
        self.routes = RouteRepository(session)

    async def _backends(self, backends: list[BackendIn]) -> list[dict[str, object]]:
        policy = backend_policy(self.settings)
        checked: list[dict[str, object]] = []
        seen: set[str] = set()
        for backend in backends:
            url = str(backend.url).rstrip("/")
            if url in seen:
                raise BackendNotAllowed(f"The backend {url} is listed twice.")
            seen.add(url)
            if backend.url.query or backend.url.fragment:
                raise BackendNotAllowed(f"The backend {url} carries a query or fragment.")
            try:
                await check_url(url, policy)
            except (UrlNotAllowed, UrlFetchFailed) as exc:
                raise BackendNotAllowed(f"The backend {url} is refused: {exc}") from None
            checked.append({"url": url, "weight": backend.weight})
        return checked

    async def create(self, tenant_id: str, body: RouteIn) -> MediaRoute:
        route = MediaRoute(
            tenant_id=tenant_id,
            name=body.name,
            kind=body.kind,
            backends=await self._backends(body.backends),
            health_path=body.health_path,
            health_interval_seconds=body.health_interval_seconds,
        )
        return await self.routes.add(route)

    async def get(self, tenant_id: str, route_id: str) -> MediaRoute:
        route = await self.routes.get(tenant_id, route_id)
        if route is None:
            raise RouteNotFound(f"No media route {route_id}.")
        return route

    async def page(
        self, tenant_id: str, *, kind: str | None, limit: int, cursor: str | None
    ) -> Page[MediaRoute]:
        return await self.routes.page(tenant_id, kind=kind, limit=limit, cursor=cursor)

    async def update(self, tenant_id: str, route_id: str, patch: RoutePatch) -> MediaRoute:
        route = await self.get(tenant_id, route_id)
        if patch.name is not None:
            route.name = patch.name
        if patch.backends is not None:
            route.backends = await self._backends(patch.backends)
        if patch.health_path is not None:
            route.health_path = patch.health_path
        if patch.health_interval_seconds is not None:
            route.health_interval_seconds = patch.health_interval_seconds
        route.updated_at = utcnow()
        await self.session.flush()
        return route

    async def delete(self, tenant_id: str, route_id: str) -> None:
        if not await self.routes.delete(tenant_id, route_id):
            raise RouteNotFound(f"No media route {route_id}.")
