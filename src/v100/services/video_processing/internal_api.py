"""video_processing's routes for the platform's other services, under the scope
``service:videos`` that no tenant credential can hold (``contracts/videos.py`` is their
client; the tenant is the internal token's): a ready video's audio, described and streamed, for
transcription; a ready video's MP4 rendition, described and streamed, for video_analysis; where
a ready video's HLS ladder lies in the platform's store, for stream_proxy to serve it (ADR 0055);
attaching a caption track made from a transcript to a video; and an analysis's highlights
handed over as smart clips, and those clips listed (ADR 0060)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from starlette.responses import Response, StreamingResponse

from v100.contracts.videos import (
    CaptionTrackIn,
    CaptionTrackInfo,
    SmartClipsIn,
    VideoAudio,
    VideoHls,
    VideoPicture,
)
from v100.kit.auth import Principal
from v100.kit.http import Authorized
from v100.kit.idempotency import IdempotencyKey, idempotent
from v100.services.video_processing.deps import CaptionsDep, LinksDep, ServiceDep
from v100.services.video_processing.models import Clip
from v100.services.video_processing.schemas import ClipList

__all__ = ["internal_router"]

ServiceVideos = Annotated[Principal, Depends(Authorized("service:videos"))]
Language = Annotated[str, Path(pattern=r"^[a-z]{2,3}$", description="ISO 639 code: en, haw")]

internal_router = APIRouter(prefix="/v1/videos", tags=["videos (platform services)"])


@internal_router.get("/{video_id}/audio", response_model=VideoAudio)
async def describe_audio(
    video_id: str, principal: ServiceVideos, captions: CaptionsDep
) -> VideoAudio:
    """A ready video's audio track (its M4A rendition), for a platform service to transcribe."""
    video, rendition = await captions.audio(principal.tenant_id, video_id)
    return VideoAudio(
        video_id=video.id,
        duration=rendition.duration if rendition.duration is not None else video.duration,
        content_type=rendition.content_type,
        size=rendition.size,
    )


@internal_router.get(
    "/{video_id}/audio/content",
    response_class=StreamingResponse,
    responses={200: {"content": {"audio/mp4": {"schema": {"type": "string", "format": "binary"}}}}},
)
async def audio_content(
    video_id: str, principal: ServiceVideos, captions: CaptionsDep
) -> StreamingResponse:
    """The bytes of a ready video's audio track, streamed from storage."""
    _, rendition = await captions.audio(principal.tenant_id, video_id)
    headers = {} if rendition.size is None else {"Content-Length": str(rendition.size)}
    return StreamingResponse(
        captions.storage.open(rendition.key), media_type=rendition.content_type, headers=headers
    )


@internal_router.get("/{video_id}/picture", response_model=VideoPicture)
async def describe_picture(
    video_id: str, principal: ServiceVideos, captions: CaptionsDep
) -> VideoPicture:
    """A ready video's MP4 rendition (with its sound), for a platform service to analyse."""
    video, rendition = await captions.picture(principal.tenant_id, video_id)
    return VideoPicture(
        video_id=video.id,
        duration=rendition.duration if rendition.duration is not None else video.duration,
        width=rendition.width,
        height=rendition.height,
        has_audio=captions.has_audio(video),
        content_type=rendition.content_type,
        size=rendition.size,
    )


@internal_router.get(
    "/{video_id}/picture/content",
    response_class=StreamingResponse,
    responses={200: {"content": {"video/mp4": {"schema": {"type": "string", "format": "binary"}}}}},
)
async def picture_content(
    video_id: str, principal: ServiceVideos, captions: CaptionsDep
) -> StreamingResponse:
    """The bytes of a ready video's MP4 rendition, streamed from storage."""
    _, rendition = await captions.picture(principal.tenant_id, video_id)
    headers = {} if rendition.size is None else {"Content-Length": str(rendition.size)}
    return StreamingResponse(
        captions.storage.open(rendition.key), media_type=rendition.content_type, headers=headers
    )


@internal_router.get("/{video_id}/hls", response_model=VideoHls)
async def describe_hls(video_id: str, principal: ServiceVideos, captions: CaptionsDep) -> VideoHls:
    """Where a ready video's HLS ladder lies in the platform's store, for a service to serve."""
    video, master = await captions.hls(principal.tenant_id, video_id)
    prefix, _, name = master.key.rpartition("/")
    rungs = master.extra.get("rungs") if isinstance(master.extra, dict) else None
    return VideoHls(
        video_id=video.id,
        duration=master.duration if master.duration is not None else video.duration,
        prefix=f"{prefix}/",
        master=name,
        rungs=[str(rung) for rung in rungs or []],
    )


@internal_router.put("/{video_id}/captions/{language}", response_model=CaptionTrackInfo)
async def attach_captions(
    video_id: str,
    language: Language,
    body: CaptionTrackIn,
    principal: ServiceVideos,
    captions: CaptionsDep,
) -> CaptionTrackInfo:
    """Make (or remake) the video's caption track in ``language`` from a transcript."""
    track = await captions.attach(principal.tenant_id, video_id, language, body)
    return CaptionTrackInfo(
        language=track.language, name=track.name, source=track.source,
        transcript_id=track.transcript_id, cues=track.cues, created_at=track.created_at,
        updated_at=track.updated_at,
    )  # fmt: skip


@internal_router.post("/{video_id}/analysis-clips", status_code=202, response_model=ClipList)
async def create_analysis_clips(
    video_id: str,
    body: SmartClipsIn,
    key: IdempotencyKey,
    principal: ServiceVideos,
    service: ServiceDep,
    links: LinksDep,
) -> Response:
    """An analysis's highlights, each made this video's highlight and a queued smart clip
    rendered with the analysis's crop plan (202; a retry with the key answers the same)."""
    made = service.create_smart_clips(principal.tenant_id, video_id, body)

    async def shaped(rows: list[Clip]) -> ClipList:
        return ClipList(items=[await links.clip(row) for row in rows])

    return await idempotent(
        service.session, principal.tenant_id, key, f"create_analysis_clips:{video_id}", body,
        made, shaped, status=202,
    )  # fmt: skip


@internal_router.get("/{video_id}/analysis-clips", response_model=ClipList)
async def list_analysis_clips(
    video_id: str,
    principal: ServiceVideos,
    service: ServiceDep,
    links: LinksDep,
    analysis_id: Annotated[str | None, Query(min_length=1, max_length=36)] = None,
) -> ClipList:
    """The clips of one analysis's highlights (without ``analysis_id``: of every analysis of
    the video), oldest first, ready ones with a download URL."""
    rows = await service.analysis_clips(principal.tenant_id, video_id, analysis_id)
    return ClipList(items=[await links.clip(row) for row in rows])
