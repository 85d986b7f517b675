"""Uploads into video_processing, over kit.tus: ``/v1/uploads`` for callers with an API key
(through the gateway), and ``/v1/uploads/direct/{token}`` for a browser holding a direct-upload
URL (no API key: the signed, expiring token admits the creation of one upload, once, and then
only that upload). When an upload completes, its video is created and processing enqueued,
in the same transaction that marks the upload completed."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from v100.kit.db import unit_of_work, utcnow
from v100.kit.http import ScopedRoute
from v100.kit.tus import (
    TusServer,
    TusSettings,
    TusUpload,
    TusUploadNotFound,
    UploadOwner,
    principal_owner,
    runtime_sessions,
    runtime_store,
)
from v100.services.video_processing import deps
from v100.services.video_processing.errors import DirectUploadUnusable
from v100.services.video_processing.models import DirectUpload, DirectUploadStatus
from v100.services.video_processing.repository import (
    DirectUploadRepository,
    ProjectRepository,
    VideoRepository,
)
from v100.services.video_processing.resources import RESOURCES
from v100.services.video_processing.schemas import NewVideoSettings
from v100.services.video_processing.service import VideoService
from v100.services.video_processing.settings import VideoProcessingSettings

__all__ = ["DIRECT_PATH", "TUS", "UPLOADS_PATH", "direct_server", "tus_routes"]

UPLOADS_PATH = "/v1/uploads"
DIRECT_PATH = "/v1/uploads/direct/{token}"
# Metadata keys a tus client may set (tuspy: ``metadata={...}``).
_TITLE_KEYS = ("title", "filename", "name")


async def _options_from(session: AsyncSession, upload: TusUpload) -> NewVideoSettings:
    """What the video is created with: the direct upload's settings, or the upload's metadata."""
    if upload.user_id and upload.tenant_id:
        direct = await DirectUploadRepository(session).get(upload.tenant_id, upload.user_id)
        if direct is not None:
            return NewVideoSettings.model_validate(direct.new_video or {})
    meta = upload.metadata
    title = next((meta[key] for key in _TITLE_KEYS if meta.get(key)), None)
    values: dict[str, Any] = {
        "title": title[:200] if title else None,
        "project_id": meta.get("project_id") or None,
        "passthrough": (meta.get("passthrough") or None),
        "normalize_audio": (meta.get("normalize_audio") or "").lower() in ("1", "true", "yes"),
        "auto_trim": (meta.get("auto_trim") or "").lower() in ("1", "true", "yes"),
    }
    if values["passthrough"]:
        values["passthrough"] = values["passthrough"][:255]
    return NewVideoSettings.model_validate(values)


async def on_complete(session: AsyncSession, upload: TusUpload) -> None:
    """The upload's bytes are stored: create its video and start processing (idempotent on the
    upload id: a retried hook finds the video it made)."""
    if upload.tenant_id is None:
        return
    videos = VideoRepository(session)
    if await videos.by_upload(upload.id) is not None:
        return
    resources = await RESOURCES.current()
    options = await _options_from(session, upload)
    # A project deleted (or never there) must not leave the upload unfinished forever.
    project_id = options.project_id
    if project_id and await ProjectRepository(session).get(upload.tenant_id, project_id) is None:
        options = options.model_copy(update={"project_id": None})
    service = VideoService(session, resources.settings, resources.bus)
    video = await service.new_video(upload.tenant_id, options, upload_id=upload.id)
    await service.source_stored(video, upload.object_key)
    if upload.user_id:
        direct = await DirectUploadRepository(session).get(upload.tenant_id, upload.user_id)
        if direct is not None:
            direct.status = DirectUploadStatus.ASSET_CREATED
            direct.upload_id = upload.id
            direct.video_id = video.id


async def _direct_owner(request: Request) -> UploadOwner:
    """``authorize`` of the direct-upload endpoint: the token in the path is the credential."""
    grant = (await deps.signer(request)).verify_direct_upload(request.path_params["token"])
    owner = UploadOwner(tenant_id=grant.tenant_id, user_id=grant.direct_upload_id)
    upload_id = request.path_params.get("upload_id")
    sessions = runtime_sessions(request)
    if upload_id is None:
        # Creation: claim the direct upload, once, while it waits and has not expired.
        async with unit_of_work(sessions) as session:
            now = utcnow()
            result = await session.execute(
                update(DirectUpload)
                .where(
                    DirectUpload.id == grant.direct_upload_id,
                    DirectUpload.tenant_id == grant.tenant_id,
                    DirectUpload.status == DirectUploadStatus.WAITING,
                    DirectUpload.claimed_at.is_(None),
                    DirectUpload.expires_at > now,
                )
                .values(claimed_at=now)
            )
        if getattr(result, "rowcount", 0) != 1:
            raise DirectUploadUnusable(
                "This upload URL was used already, cancelled or has expired; ask for a new one."
            )
        return owner
    server = direct_server(await deps.settings(request))
    upload = await server.uploads(sessions, runtime_store(request)).get(upload_id, owner)
    if upload.user_id != grant.direct_upload_id:
        raise TusUploadNotFound(f"no upload {upload_id!r}")
    return owner


@lru_cache(maxsize=8)
def _servers(settings_key: tuple[int, str, str]) -> tuple[TusServer, TusServer]:
    max_size, prefix, origin = settings_key
    # Location is the public origin plus the path the gateway forwarded unchanged.
    tus_settings = TusSettings(max_size=max_size, key_prefix=prefix, public_origin=origin)
    api = TusServer(authorize=principal_owner, settings=tus_settings, on_complete=on_complete)
    direct = TusServer(authorize=_direct_owner, settings=tus_settings, on_complete=on_complete)
    return api, direct


def servers(settings: VideoProcessingSettings) -> tuple[TusServer, TusServer]:
    return _servers((settings.max_upload_bytes, "uploads", settings.public_base))


def direct_server(settings: VideoProcessingSettings) -> TusServer:
    return servers(settings)[1]


class _TusRoute(ScopedRoute):
    """A tus route that leaves POST requests without ``Tus-Resumable`` (the JSON API's
    ``POST /v1/uploads``, creating a direct upload) to the routes after it."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        headers = scope.get("headers", ())
        if (
            match is not Match.NONE
            and scope.get("method") == "POST"
            and not any(name == b"tus-resumable" for name, _ in headers)
        ):
            return Match.NONE, {}
        return match, child


def tus_routes(settings: VideoProcessingSettings) -> list[BaseRoute]:
    """The tus routes of both endpoints, to put before the JSON routes: the API's for callers
    allowed ``videos:write``, the direct uploads' for holders of their signed URL."""
    api, direct = servers(settings)
    routes: list[BaseRoute] = []
    for server, path, scope in ((direct, DIRECT_PATH, None), (api, UPLOADS_PATH, "videos:write")):
        for route in server.routes(path, scope=None):
            # The scope is checked once, by the route made here.
            routes.append(
                _TusRoute(
                    route.path,
                    route.endpoint,
                    scope=scope,
                    methods=sorted(route.methods or ()),
                    include_in_schema=False,
                )
            )
    return routes


# The API endpoint under the environment's settings, for the sweep job of a worker process.
TUS = servers(VideoProcessingSettings())[0]
