"""Serving a video's outputs to players with no API key: ``GET /v1/videos/playback/{token}/...``
checks the signed token (one tenant's one video, until it expires), then streams the object
from storage with byte ranges. Playlists refer to their segments relatively, so every request
of a player carries the token without the playlists being rewritten."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from v100.kit.http import RuntimeDep, SessionDep
from v100.kit.storage import InvalidKey, ObjectNotFound, parse_range, validate_key
from v100.services.video_processing.deps import SignerDep
from v100.services.video_processing.errors import VideoNotFound
from v100.services.video_processing.models import VideoStatus
from v100.services.video_processing.processing import content_type
from v100.services.video_processing.repository import ClipRepository, VideoRepository

__all__ = ["playback_router"]

playback_router = APIRouter(prefix="/v1/videos/playback", tags=["playback"])

# What a playback token reaches under ``videos/<id>/``.
_ALLOWED = ("hls/", "storyboard/")
_CACHE = "private, max-age=60"
_NOT_FOUND = "No such file for this playback URL."


# HEAD answers as GET does; listed once in the API description (one operation id).
@playback_router.head("/{token}/{path:path}", include_in_schema=False)
@playback_router.get("/{token}/{path:path}")
async def play(
    token: str,
    path: str,
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    signer: SignerDep,
) -> Response:
    """Fetch a playlist, segment or image of a video with a signed playback URL."""
    grant = signer.verify_playback(token)
    if grant.clip_id is not None:
        clip = await ClipRepository(session).get(grant.tenant_id, grant.clip_id)
        if clip is None or clip.key is None or path != "clip.mp4":
            raise VideoNotFound(_NOT_FOUND)
        key = clip.key
    else:
        video = await VideoRepository(session).get(grant.tenant_id, grant.video_id)
        if video is None or video.status != VideoStatus.READY or not path.startswith(_ALLOWED):
            raise VideoNotFound(_NOT_FOUND)
        key = f"videos/{video.id}/{path}"
    try:
        validate_key(key)
    except InvalidKey:
        raise VideoNotFound(_NOT_FOUND) from None
    storage = runtime.storage
    assert storage is not None
    try:
        info = await storage.head(key)
    except ObjectNotFound:
        raise VideoNotFound(_NOT_FOUND) from None
    media_type = content_type(key)
    headers = {"Accept-Ranges": "bytes", "Cache-Control": _CACHE, "ETag": f'"{info.etag}"'}
    byte_range = parse_range(request.headers.get("range"), info.size)
    status = 200
    start, end = 0, info.size - 1
    if byte_range is not None:
        start, end = byte_range
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{info.size}"
    headers["Content-Length"] = str(end - start + 1 if info.size else 0)
    if request.method == "HEAD" or info.size == 0:
        return Response(status_code=status, headers=headers, media_type=media_type)
    return StreamingResponse(
        storage.open(key, start, end), status_code=status, headers=headers, media_type=media_type
    )
