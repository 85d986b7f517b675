"""The public side, under ``/hls/``: what players fetch with a signed URL and no other
credential. ``/hls/<token>/<path>``: a processed video's playlists and segments, streamed from
the platform's store (``delivery.py``); ``/hls/routes/<token>/<path>``: a media route's
backends, proxied to a healthy one (``proxying.py``). CORS and ``no-store`` on errors come from
``cors.HlsCorsMiddleware``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from v100.kit.http import SessionDep
from v100.kit.storage import InvalidKey, ObjectNotFound, validate_key
from v100.services.stream_proxy.delivery import CachePolicy, deliver
from v100.services.stream_proxy.deps import (
    DirectoryDep,
    HealthDep,
    SettingsDep,
    SignerDep,
    StoreDep,
)
from v100.services.stream_proxy.errors import PlaybackNotFound
from v100.services.stream_proxy.proxying import proxy_to_backend
from v100.services.stream_proxy.repository import RouteRepository

__all__ = ["hls_router"]

hls_router = APIRouter(prefix="/hls", tags=["playback"])
_NOT_FOUND = "No such file for this playback URL."


def _relative(path: str) -> str:
    """The path as a relative name with no way out of its folder; 404 otherwise."""
    parts = path.split("/")
    if not path or any(p in ("", ".", "..") or "\\" in p for p in parts):
        raise PlaybackNotFound(_NOT_FOUND)
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
        raise PlaybackNotFound(_NOT_FOUND)
    return path


# HEAD answers as GET does; listed once in the API description (one operation id).
@hls_router.head("/routes/{token}/{path:path}", include_in_schema=False)
@hls_router.get("/routes/{token}/{path:path}")
async def play_route(
    token: str,
    path: str,
    request: Request,
    signer: SignerDep,
    health: HealthDep,
    session: SessionDep,
) -> Response:
    """Fetch a file from a media route's backends with a signed route URL."""
    grant = signer.verify_route(token)
    route = await RouteRepository(session).get(grant.tenant_id, grant.subject)
    if route is None:
        raise PlaybackNotFound("The media route of this URL is gone.")
    return await proxy_to_backend(
        health, route, _relative(path), request.url.query, request.method, request.headers
    )


@hls_router.head("/{token}/{path:path}", include_in_schema=False)
@hls_router.get("/{token}/{path:path}")
async def play_video(
    token: str,
    path: str,
    request: Request,
    signer: SignerDep,
    directory: DirectoryDep,
    store: StoreDep,
    settings: SettingsDep,
) -> Response:
    """Fetch a playlist or segment of a processed video with a signed playback URL."""
    grant = signer.verify_video(token)
    hls = await directory.playable(grant.tenant_id, grant.subject)
    if hls is None:
        raise PlaybackNotFound("The video of this playback URL is gone or not playable.")
    key = hls.prefix + _relative(path)
    try:
        validate_key(key)
    except InvalidKey:
        raise PlaybackNotFound(_NOT_FOUND) from None
    policy = CachePolicy(settings.playlist_max_age, settings.segment_max_age)
    try:
        return await deliver(store, key, path, request.headers, request.method, policy)
    except ObjectNotFound:
        raise PlaybackNotFound(_NOT_FOUND) from None
