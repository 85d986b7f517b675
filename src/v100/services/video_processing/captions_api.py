"""A video's caption tracks for its tenant (scope ``videos:read``): the list, and each track's
WebVTT or SRT file (``/v1/videos/{id}/captions/en.vtt``). Tracks are made by the platform
(captions.py), not uploaded here."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from starlette.responses import Response

from v100.kit.auth import Principal
from v100.kit.http import Authorized, Listing
from v100.services.video_processing.captions import SRT_TYPE
from v100.services.video_processing.deps import CaptionsDep, LinksDep
from v100.services.video_processing.schemas import CaptionTrackOut

__all__ = ["captions_router"]

VideosRead = Annotated[Principal, Depends(Authorized("videos:read"))]

captions_router = APIRouter(prefix="/v1/videos", tags=["captions"])

_TYPES = {"vtt": "text/vtt; charset=utf-8", "srt": f"{SRT_TYPE}; charset=utf-8"}
_FILE = {"schema": {"type": "string"}}


@captions_router.get("/{video_id}/captions", response_model=Listing[CaptionTrackOut])
async def list_captions(
    video_id: str, principal: VideosRead, captions: CaptionsDep, links: LinksDep
) -> Listing[CaptionTrackOut]:
    """The video's caption tracks, by language."""
    tracks = await captions.of_video(principal.tenant_id, video_id)
    return Listing[CaptionTrackOut](
        items=[links.caption_track(track) for track in tracks], next_cursor=None
    )


@captions_router.get(
    "/{video_id}/captions/{language}.{extension}",
    response_class=Response,
    responses={200: {"content": {"text/vtt": _FILE, SRT_TYPE: _FILE}}},
)
async def caption_file(
    video_id: str,
    language: str,
    extension: Literal["vtt", "srt"],
    principal: VideosRead,
    captions: CaptionsDep,
) -> Response:
    """One caption track as WebVTT (``.vtt``) or SubRip (``.srt``)."""
    track = await captions.track(principal.tenant_id, video_id, language)
    key = track.vtt_key if extension == "vtt" else track.srt_key
    return Response(await captions.storage.get(key), media_type=_TYPES[extension])
