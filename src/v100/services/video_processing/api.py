"""video_processing's JSON endpoints: ``/v1/projects``, ``/v1/videos`` (with highlights),
``/v1/clips`` and the direct uploads of ``/v1/uploads`` (the tus side of /v1/uploads is in
uploads.py). Thin: parse, call ``VideoService``, shape the answer with ``Links``."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from starlette.responses import Response

from v100.kit.auth import Principal
from v100.kit.db import InvalidCursorError
from v100.kit.errors import BadRequest
from v100.kit.http import Authorized, Listing
from v100.kit.idempotency import IdempotencyKey, OptionalIdempotencyKey, idempotent
from v100.services.video_processing.deps import LinksDep, ServiceDep
from v100.services.video_processing.schemas import (
    ClipCreate,
    ClipOut,
    DirectUploadCreate,
    DirectUploadOut,
    HighlightCreate,
    HighlightOut,
    HighlightUpdate,
    ProjectCreate,
    ProjectOut,
    ProjectUpdate,
    VideoCreate,
    VideoOut,
    VideoUpdate,
)

VideosRead = Annotated[Principal, Depends(Authorized("videos:read"))]
VideosWrite = Annotated[Principal, Depends(Authorized("videos:write"))]

__all__ = ["clips_router", "projects_router", "uploads_router", "videos_router"]

projects_router = APIRouter(prefix="/v1/projects", tags=["projects"])
videos_router = APIRouter(prefix="/v1/videos", tags=["videos"])
clips_router = APIRouter(prefix="/v1/clips", tags=["clips"])
uploads_router = APIRouter(prefix="/v1/uploads", tags=["uploads"])

T = TypeVar("T")
Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(max_length=200)]


def _page(model: type[BaseModel], items: Sequence[BaseModel], next_cursor: str | None) -> BaseModel:
    return Listing[model](items=list(items), next_cursor=next_cursor)  # type: ignore[valid-type]


async def _guard_cursor(coro: Awaitable[T]) -> T:
    try:
        return await coro
    except InvalidCursorError as exc:
        raise BadRequest("The cursor is not valid.") from exc


# --- projects -----------------------------------------------------------------------------------


@projects_router.post("", status_code=201, response_model=ProjectOut)
async def create_project(
    body: ProjectCreate,
    principal: VideosWrite,
    service: ServiceDep,
    key: OptionalIdempotencyKey = None,
) -> Response:
    """Create a project."""
    project = service.create_project(principal.tenant_id, body)
    return await idempotent(
        service.session, principal.tenant_id, key, "create_project", body,
        project, ProjectOut.model_validate, status=201,
    )  # fmt: skip


@projects_router.get("", response_model=Listing[ProjectOut])
async def list_projects(
    principal: VideosRead, service: ServiceDep, limit: Limit = 50, cursor: Cursor = None
) -> BaseModel:
    """List projects, newest first."""
    page = await _guard_cursor(service.list_projects(principal.tenant_id, limit, cursor))
    items = [ProjectOut.model_validate(p) for p in page.items]
    return _page(ProjectOut, items, page.next_cursor)


@projects_router.get("/{project_id}", response_model=ProjectOut)
async def get_project(project_id: str, principal: VideosRead, service: ServiceDep) -> ProjectOut:
    """Get a project."""
    return ProjectOut.model_validate(await service.project(principal.tenant_id, project_id))


@projects_router.patch("/{project_id}", response_model=ProjectOut)
async def update_project(
    project_id: str, body: ProjectUpdate, principal: VideosWrite, service: ServiceDep
) -> ProjectOut:
    """Rename or describe a project."""
    project = await service.update_project(principal.tenant_id, project_id, body)
    return ProjectOut.model_validate(project)


@projects_router.delete("/{project_id}", status_code=204)
async def delete_project(project_id: str, principal: VideosWrite, service: ServiceDep) -> Response:
    """Delete a project (its videos stay, outside any project)."""
    await service.delete_project(principal.tenant_id, project_id)
    return Response(status_code=204)


# --- videos -------------------------------------------------------------------------------------


@videos_router.post("", status_code=202, response_model=VideoOut)
async def import_video(
    body: VideoCreate,
    principal: VideosWrite,
    service: ServiceDep,
    links: LinksDep,
    key: OptionalIdempotencyKey = None,
) -> Response:
    """Import a video from a URL; it is fetched and processed in the background."""
    video = service.import_video(principal.tenant_id, body)
    return await idempotent(
        service.session, principal.tenant_id, key, "import_video", body,
        video, links.video, status=202,
    )  # fmt: skip


@videos_router.get("", response_model=Listing[VideoOut])
async def list_videos(
    principal: VideosRead,
    service: ServiceDep,
    links: LinksDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    project_id: Annotated[str | None, Query(max_length=36)] = None,
    status: Literal["uploading", "processing", "ready", "errored"] | None = None,
    upload_id: Annotated[str | None, Query(max_length=36)] = None,
) -> BaseModel:
    """List videos, newest first; filter by project, status or tus upload id."""
    page = await _guard_cursor(
        service.list_videos(principal.tenant_id, limit, cursor, project_id, status, upload_id)
    )
    return _page(VideoOut, [await links.video(v) for v in page.items], page.next_cursor)


@videos_router.get("/{video_id}", response_model=VideoOut)
async def get_video(
    video_id: str, principal: VideosRead, service: ServiceDep, links: LinksDep
) -> VideoOut:
    """Get a video: status, progress, renditions, signed playback URLs, error."""
    return await links.video(await service.video(principal.tenant_id, video_id))


@videos_router.patch("/{video_id}", response_model=VideoOut)
async def update_video(
    video_id: str,
    body: VideoUpdate,
    principal: VideosWrite,
    service: ServiceDep,
    links: LinksDep,
) -> VideoOut:
    """Change a video's title, passthrough or project."""
    return await links.video(await service.update_video(principal.tenant_id, video_id, body))


@videos_router.delete("/{video_id}", status_code=204)
async def delete_video(video_id: str, principal: VideosWrite, service: ServiceDep) -> Response:
    """Delete a video, its renditions, highlights and clips."""
    await service.delete_video(principal.tenant_id, video_id)
    return Response(status_code=204)


@videos_router.post("/{video_id}/highlights", status_code=201, response_model=HighlightOut)
async def create_highlight(
    video_id: str,
    body: HighlightCreate,
    principal: VideosWrite,
    service: ServiceDep,
    key: OptionalIdempotencyKey = None,
) -> Response:
    """Mark a highlight (a time range) on a video."""
    highlight = service.create_highlight(principal.tenant_id, video_id, body)
    return await idempotent(
        service.session, principal.tenant_id, key, f"create_highlight:{video_id}", body,
        highlight, HighlightOut.model_validate, status=201,
    )  # fmt: skip


@videos_router.get("/{video_id}/highlights", response_model=Listing[HighlightOut])
async def list_highlights(
    video_id: str,
    principal: VideosRead,
    service: ServiceDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> BaseModel:
    """List a video's highlights in creation order."""
    page = await _guard_cursor(
        service.list_highlights(principal.tenant_id, video_id, limit, cursor)
    )
    items = [HighlightOut.model_validate(h) for h in page.items]
    return _page(HighlightOut, items, page.next_cursor)


@videos_router.get("/{video_id}/highlights/{highlight_id}", response_model=HighlightOut)
async def get_highlight(
    video_id: str, highlight_id: str, principal: VideosRead, service: ServiceDep
) -> HighlightOut:
    """Get a highlight."""
    highlight = await service.highlight(principal.tenant_id, video_id, highlight_id)
    return HighlightOut.model_validate(highlight)


@videos_router.patch("/{video_id}/highlights/{highlight_id}", response_model=HighlightOut)
async def update_highlight(
    video_id: str,
    highlight_id: str,
    body: HighlightUpdate,
    principal: VideosWrite,
    service: ServiceDep,
) -> HighlightOut:
    """Change a highlight's range, title or score."""
    highlight = await service.update_highlight(principal.tenant_id, video_id, highlight_id, body)
    return HighlightOut.model_validate(highlight)


@videos_router.delete("/{video_id}/highlights/{highlight_id}", status_code=204)
async def delete_highlight(
    video_id: str, highlight_id: str, principal: VideosWrite, service: ServiceDep
) -> Response:
    """Delete a highlight."""
    await service.delete_highlight(principal.tenant_id, video_id, highlight_id)
    return Response(status_code=204)


# --- clips --------------------------------------------------------------------------------------


@clips_router.post("", status_code=202, response_model=ClipOut)
async def create_clip(
    body: ClipCreate,
    principal: VideosWrite,
    service: ServiceDep,
    links: LinksDep,
    key: OptionalIdempotencyKey = None,
) -> Response:
    """Cut a clip from a ready video; it renders in the background."""
    clip = service.create_clip(principal.tenant_id, body)
    return await idempotent(
        service.session, principal.tenant_id, key, "create_clip", body,
        clip, links.clip, status=202,
    )  # fmt: skip


@clips_router.get("", response_model=Listing[ClipOut])
async def list_clips(
    principal: VideosRead,
    service: ServiceDep,
    links: LinksDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    video_id: Annotated[str | None, Query(max_length=36)] = None,
) -> BaseModel:
    """List clips, newest first; filter by video."""
    page = await _guard_cursor(service.list_clips(principal.tenant_id, limit, cursor, video_id))
    return _page(ClipOut, [await links.clip(c) for c in page.items], page.next_cursor)


@clips_router.get("/{clip_id}", response_model=ClipOut)
async def get_clip(
    clip_id: str, principal: VideosRead, service: ServiceDep, links: LinksDep
) -> ClipOut:
    """Get a clip: status, progress, download URL, error."""
    return await links.clip(await service.clip(principal.tenant_id, clip_id))


@clips_router.delete("/{clip_id}", status_code=204)
async def delete_clip(clip_id: str, principal: VideosWrite, service: ServiceDep) -> Response:
    """Delete a clip and its file."""
    await service.delete_clip(principal.tenant_id, clip_id)
    return Response(status_code=204)


# --- direct uploads -----------------------------------------------------------------------------


@uploads_router.post("", status_code=201, response_model=DirectUploadOut)
async def create_direct_upload(
    body: DirectUploadCreate,
    key: IdempotencyKey,
    principal: VideosWrite,
    service: ServiceDep,
    links: LinksDep,
) -> Response:
    """Get a tus URL a browser can upload one file to without an API key."""
    upload = service.create_direct_upload(principal.tenant_id, body)
    return await idempotent(
        service.session, principal.tenant_id, key, "create_direct_upload", body,
        upload, links.direct_upload, status=201,
    )  # fmt: skip


@uploads_router.get("", response_model=Listing[DirectUploadOut])
async def list_direct_uploads(
    principal: VideosRead,
    service: ServiceDep,
    links: LinksDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> BaseModel:
    """List direct uploads, newest first."""
    page = await _guard_cursor(service.list_direct_uploads(principal.tenant_id, limit, cursor))
    items = [links.direct_upload(u) for u in page.items]
    return _page(DirectUploadOut, list(items), page.next_cursor)


@uploads_router.get("/{upload_id}", response_model=DirectUploadOut)
async def get_direct_upload(
    upload_id: str, principal: VideosRead, service: ServiceDep, links: LinksDep
) -> DirectUploadOut:
    """Get a direct upload: its status and, once uploaded, its video."""
    return links.direct_upload(await service.direct_upload(principal.tenant_id, upload_id))


@uploads_router.put("/{upload_id}/cancel", response_model=DirectUploadOut)
async def cancel_direct_upload(
    upload_id: str, principal: VideosWrite, service: ServiceDep, links: LinksDep
) -> DirectUploadOut:
    """Cancel a direct upload that has not started; its URL stops working."""
    upload = await service.cancel_direct_upload(principal.tenant_id, upload_id)
    return links.direct_upload(upload)
