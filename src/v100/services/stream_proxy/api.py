"""stream_proxy's endpoints under ``/v1/streams``: signed playback URLs of a tenant's processed
videos, and media routes (CRUD, their backends' health as this replica sees it, and signed URLs
through which a player reaches them). Thin: parse, check the scope, call the service, shape."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.responses import JSONResponse, Response

from v100.kit.auth import Principal
from v100.kit.db import InvalidCursorError
from v100.kit.errors import BadRequest
from v100.kit.http import Authorized, SessionDep
from v100.kit.idempotency import IdempotencyKey, idempotent
from v100.services.stream_proxy.deps import HealthDep, PlaybackDep, RoutesDep
from v100.services.stream_proxy.health import RouteHealth, backends_of
from v100.services.stream_proxy.models import MediaRoute
from v100.services.stream_proxy.schemas import (
    BackendOut,
    PlaybackIn,
    PlaybackOut,
    RouteIn,
    RouteKind,
    RouteOut,
    RoutePage,
    RoutePatch,
    RoutePlaybackIn,
)
from v100.services.stream_proxy.service import PlaybackUrl

__all__ = ["streams_router"]

StreamsRead = Annotated[Principal, Depends(Authorized("streams:read"))]
StreamsWrite = Annotated[Principal, Depends(Authorized("streams:write"))]
Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(max_length=200)]

streams_router = APIRouter(prefix="/v1/streams", tags=["streams"])


def _playback(url: PlaybackUrl) -> PlaybackOut:
    return PlaybackOut(url=url.url, expires_at=url.expires_at)


def _route(route: MediaRoute, health: RouteHealth) -> RouteOut:
    backends = []
    for backend in backends_of(route):
        state = health.of(route.id, backend.url)
        backends.append(
            BackendOut(
                url=backend.url,
                weight=backend.weight,
                state=state.state,
                checked_at=state.checked_at,
                last_error=state.last_error,
            )
        )
    return RouteOut(
        id=route.id, name=route.name, kind=route.kind, backends=backends,
        health_path=route.health_path, health_interval_seconds=route.health_interval_seconds,
        created_at=route.created_at, updated_at=route.updated_at,
    )  # fmt: skip


@streams_router.post("/playback", response_model=PlaybackOut)
async def video_playback(
    body: PlaybackIn, principal: StreamsWrite, playback: PlaybackDep
) -> PlaybackOut:
    """A signed, expiring HLS URL of one of the tenant's processed videos."""
    url = await playback.video_url(principal.tenant_id, body.video_id, body.ttl_seconds)
    return _playback(url)


@streams_router.post("/routes", status_code=201, response_model=RouteOut)
async def create_route(
    body: RouteIn,
    key: IdempotencyKey,
    principal: StreamsWrite,
    routes: RoutesDep,
    health: HealthDep,
    session: SessionDep,
) -> JSONResponse:
    """Create a media route: named backends, health-checked in the background."""
    created = routes.create(principal.tenant_id, body)
    return await idempotent(
        session, principal.tenant_id, key, "create_route", body, created,
        lambda route: _route(route, health), status=201,
    )  # fmt: skip


@streams_router.get("/routes", response_model=RoutePage)
async def list_routes(
    principal: StreamsRead,
    routes: RoutesDep,
    health: HealthDep,
    kind: RouteKind | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> RoutePage:
    """The tenant's media routes, with each backend's health as this replica sees it."""
    try:
        page = await routes.page(principal.tenant_id, kind=kind, limit=limit, cursor=cursor)
    except InvalidCursorError:
        raise BadRequest("The cursor is not valid.") from None
    return RoutePage(items=[_route(r, health) for r in page.items], next_cursor=page.next_cursor)


@streams_router.get("/routes/{route_id}", response_model=RouteOut)
async def get_route(
    route_id: str, principal: StreamsRead, routes: RoutesDep, health: HealthDep
) -> RouteOut:
    """One media route, with its backends' health."""
    return _route(await routes.get(principal.tenant_id, route_id), health)


@streams_router.patch("/routes/{route_id}", response_model=RouteOut)
async def update_route(
    route_id: str, body: RoutePatch, principal: StreamsWrite, routes: RoutesDep, health: HealthDep
) -> RouteOut:
    """Change a route's name, backends or health check."""
    return _route(await routes.update(principal.tenant_id, route_id, body), health)


@streams_router.delete("/routes/{route_id}", status_code=204)
async def delete_route(route_id: str, principal: StreamsWrite, routes: RoutesDep) -> Response:
    """Delete a media route; its signed URLs stop working."""
    await routes.delete(principal.tenant_id, route_id)
    return Response(status_code=204)


@streams_router.post("/routes/{route_id}/playback", response_model=PlaybackOut)
async def route_playback(
    route_id: str,
    body: RoutePlaybackIn,
    principal: StreamsWrite,
    routes: RoutesDep,
    playback: PlaybackDep,
) -> PlaybackOut:
    """A signed, expiring base URL through which a player reaches the route's backends."""
    route = await routes.get(principal.tenant_id, route_id)
    return _playback(playback.route_url(principal.tenant_id, route, body.ttl_seconds))
