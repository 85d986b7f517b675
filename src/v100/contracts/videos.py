"""What other services use of video_processing: a typed async client, over
``kit.http.ServiceClient``, for a tenant's stored video's audio (described, then streamed: the
M4A rendition, cut from the very timeline the video plays) and for attaching a caption track
made from a transcript to the video; and for its picture (the MP4 rendition, sound included,
for video_analysis); and for where its HLS ladder lies in the platform's store (for
stream_proxy, which serves it: ADR 0055). The calls carry the platform scope ``service:videos``,
which no tenant credential can hold; the tenant is the token's, so another tenant's video is
404 like an unknown one.

    videos = connect_videos(settings.video_processing_url, settings.platform)  # aclose() after
    # (or ``async with connect_videos(...) as videos:``, which closes it)
    audio = await videos.audio(tenant_id, video_id)   # VideoMissing / VideoNotReady / ...NoAudio
    async with videos.audio_content(tenant_id, video_id) as chunks:
        await storage.put(key, chunks, audio.content_type)
    picture = await videos.picture(tenant_id, video_id)  # ... / VideoHasNoPicture (audio only)
    hls = await videos.hls(tenant_id, video_id)  # objects under hls.prefix; same refusals
    async with videos.picture_content(tenant_id, video_id) as chunks:
        await storage.put(key, chunks, picture.content_type)
    await videos.put_captions(tenant_id, video_id, "en", CaptionTrackIn(transcript_id=...,
                                                                         document=document))
    clips = await videos.make_clips(tenant_id, video_id, SmartClipsIn(...), key)  # ClipInfo
    clips = await videos.analysis_clips(tenant_id, video_id, analysis_id)

An analysis's highlights become video_processing's highlights and clips (ADR 0060): the analysis
hands over each highlight's range with a crop plan (``media.smart_crop.crop_to_dict``) and,
for captions, the range's words; video_processing renders it from its own MP4 (one clip
resource, one credit flow, one render job, ``clip.ready``).

Refusals raise ``VideoMissing`` (404: unknown, another tenant's, deleted), ``VideoNotReady``
(409 ``video-not-ready``), ``VideoHasNoAudio`` (409 ``video-has-no-audio``),
``VideoHasNoPicture`` (409 ``video-has-no-picture``: an audio-only upload) or
``VideosError``; no answer at all raises the kit's ``UpstreamUnavailable``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal, Self

import httpx
from pydantic import BaseModel, ConfigDict, Field, model_validator

from v100.contracts._calls import Refused, platform_tokens, problem_of
from v100.contracts.transcripts import TranscriptDocument
from v100.kit.auth import Principal
from v100.kit.http import ServiceClient
from v100.kit.settings import PlatformSettings

__all__ = [
    "AUDIO_PATH",
    "CAPTIONS_PATH",
    "CLIPS_PATH",
    "HLS_PATH",
    "NOT_READY",
    "NO_AUDIO",
    "NO_PICTURE",
    "PICTURE_PATH",
    "VIDEOS_SCOPES",
    "CaptionTrackIn",
    "CaptionTrackInfo",
    "ClipInfo",
    "SmartClipIn",
    "SmartClipsIn",
    "VideoAudio",
    "VideoHasNoAudio",
    "VideoHasNoPicture",
    "VideoHls",
    "VideoMissing",
    "VideoNotReady",
    "VideoPicture",
    "VideosClient",
    "VideosError",
    "connect_videos",
    "working_for",
]

VIDEOS_SCOPES = frozenset({"service:videos"})
AUDIO_PATH = "/v1/videos/{video_id}/audio"
CAPTIONS_PATH = "/v1/videos/{video_id}/captions/{language}"
# The problem slugs a refusal carries (video_processing raises them, this client reads them).
NOT_READY = "video-not-ready"
NO_AUDIO = "video-has-no-audio"
NO_PICTURE = "video-has-no-picture"
PICTURE_PATH = "/v1/videos/{video_id}/picture"
HLS_PATH = "/v1/videos/{video_id}/hls"
CLIPS_PATH = "/v1/videos/{video_id}/analysis-clips"
# What a smart clip can be asked as (``media.smart_crop.ASPECTS``, ``media.platforms.CLIP_SPECS``).
SmartAspect = Literal["9:16", "1:1", "4:5"]
SmartPlatform = Literal["tiktok", "instagram_reels", "youtube_shorts"]
_CHUNK = 1024 * 1024


def working_for(tenant_id: str) -> Principal:
    """The identity of a service's call about ``tenant_id``'s videos: no user, no key,
    ``service:videos`` only."""
    return Principal(tenant_id=tenant_id, scopes=VIDEOS_SCOPES, role="service")


class VideoAudio(BaseModel):
    """``GET /v1/videos/{id}/audio``: what ``audio_content`` streams."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    video_id: str
    duration: float | None
    content_type: str
    size: int | None


class VideoPicture(BaseModel):
    """``GET /v1/videos/{id}/picture``: the MP4 rendition ``picture_content`` streams (with
    its sound, when the video has any)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    video_id: str
    duration: float | None
    width: int | None
    height: int | None
    has_audio: bool
    content_type: str
    size: int | None


class VideoHls(BaseModel):
    """``GET /v1/videos/{id}/hls``: a ready video's HLS ladder in the platform's store. Every
    playlist, init segment and media segment is an object under ``prefix`` (the master playlist
    is ``prefix + master``); the playlists name each other relatively. video_processing owns
    the layout and may rewrite the master playlist (a caption track added); segments never
    change once stored."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    video_id: str
    duration: float | None
    prefix: str
    master: str
    rungs: list[str]


class CaptionTrackIn(BaseModel):
    """``PUT /v1/videos/{id}/captions/{language}``: the track made from this transcript."""

    model_config = ConfigDict(extra="forbid")
    transcript_id: str
    document: TranscriptDocument


class CaptionTrackInfo(BaseModel):
    """A video's caption track as video_processing answers it."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    language: str
    name: str
    source: str
    transcript_id: str | None
    cues: int
    created_at: datetime
    updated_at: datetime


class SmartClipIn(BaseModel):
    """One highlight of an analysis to render: its range, how it ranked, the crop plan made
    from the analysis's face tracks, and the range's words when captions are asked."""

    model_config = ConfigDict(extra="forbid")
    highlight_id: Annotated[str, Field(min_length=1, max_length=36)]  # the analysis's id
    start: Annotated[float, Field(ge=0, le=86_400)]
    end: Annotated[float, Field(gt=0, le=86_400)]
    title: Annotated[str, Field(max_length=200)] | None = None
    score: Annotated[float, Field(ge=0, le=100)] | None = None
    aspect: SmartAspect = "9:16"
    platform: SmartPlatform = "tiktok"
    captions: bool = True
    crop: dict[str, Any]
    transcript: TranscriptDocument | None = None

    @model_validator(mode="after")
    def _range(self) -> SmartClipIn:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class SmartClipsIn(BaseModel):
    """``POST /v1/videos/{id}/analysis-clips``: an analysis's highlights, each rendered."""

    model_config = ConfigDict(extra="forbid")
    analysis_id: Annotated[str, Field(min_length=1, max_length=36)]
    items: Annotated[list[SmartClipIn], Field(min_length=1, max_length=20)]


class ClipInfo(BaseModel):
    """A clip as video_processing answers it (``GET /v1/clips/{id}``'s shape)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    id: str
    video_id: str
    highlight_id: str | None
    analysis_id: str | None = None
    start: float
    end: float
    mode: str
    platform: str | None
    aspect: str | None = None
    title: str | None = None
    captions: bool | None = None
    status: Literal["processing", "ready", "errored"]
    progress: int
    duration: float | None
    width: int | None
    height: int | None
    size: int | None
    rendered_start: float | None = None
    rendered_end: float | None = None
    caption_cues: int | None = None
    credits_charged: int | None
    download_url: str | None
    error: dict[str, Any] | None
    created_at: datetime


class VideosError(Refused):
    """video_processing refused a call; ``problem`` is its RFC 9457 body."""


class VideoMissing(VideosError):
    """No such video for this tenant (unknown, another tenant's, or deleted)."""


class VideoNotReady(VideosError):
    """The video is still uploading or processing, or errored."""


class VideoHasNoAudio(VideosError):
    """The video is ready but has no audio track."""


class VideoHasNoPicture(VideosError):
    """The video is ready but has no picture (an audio-only upload)."""


class VideosClient:
    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def audio(self, tenant_id: str, video_id: str) -> VideoAudio:
        """The video's audio, described; a refusal when it has none to give yet."""
        path = AUDIO_PATH.format(video_id=video_id)
        response = await self._client.get(path, principal=working_for(tenant_id))
        return VideoAudio.model_validate(_answer(response))

    async def hls(self, tenant_id: str, video_id: str) -> VideoHls:
        """Where the video's HLS ladder lies; a refusal when it has none to give yet."""
        path = HLS_PATH.format(video_id=video_id)
        response = await self._client.get(path, principal=working_for(tenant_id))
        return VideoHls.model_validate(_answer(response))

    def audio_content(
        self, tenant_id: str, video_id: str
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """The audio's bytes as they arrive (never held whole); refused as ``audio`` is."""
        return self._content(tenant_id, AUDIO_PATH.format(video_id=video_id))

    async def picture(self, tenant_id: str, video_id: str) -> VideoPicture:
        """The video's MP4 rendition, described; a refusal when it has none to give yet."""
        path = PICTURE_PATH.format(video_id=video_id)
        response = await self._client.get(path, principal=working_for(tenant_id))
        return VideoPicture.model_validate(_answer(response))

    def picture_content(
        self, tenant_id: str, video_id: str
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """The MP4's bytes as they arrive (never held whole); refused as ``picture`` is."""
        return self._content(tenant_id, PICTURE_PATH.format(video_id=video_id))

    @contextlib.asynccontextmanager
    async def _content(self, tenant_id: str, path: str) -> AsyncIterator[AsyncIterator[bytes]]:
        async with self._client.stream(
            "GET", path + "/content", principal=working_for(tenant_id)
        ) as answer:
            if answer.status_code != 200:
                await answer.aread()
                _answer(answer)
            yield answer.aiter_bytes(_CHUNK)

    async def put_captions(
        self, tenant_id: str, video_id: str, language: str, track: CaptionTrackIn
    ) -> CaptionTrackInfo:
        """Attach (or replace) the video's caption track in ``language``."""
        path = CAPTIONS_PATH.format(video_id=video_id, language=language)
        response = await self._client.request(
            "PUT", path, principal=working_for(tenant_id), json=track.model_dump(mode="json")
        )
        return CaptionTrackInfo.model_validate(_answer(response))

    async def make_clips(
        self, tenant_id: str, video_id: str, clips: SmartClipsIn, key: str
    ) -> list[ClipInfo]:
        """Hand an analysis's highlights over to be rendered (a queued clip each); ``key`` makes
        a retry answer the same clips."""
        response = await self._client.request(
            "POST", CLIPS_PATH.format(video_id=video_id), principal=working_for(tenant_id),
            headers={"Idempotency-Key": key}, json=clips.model_dump(mode="json"),
        )  # fmt: skip
        return [ClipInfo.model_validate(item) for item in _answer(response)["items"]]

    async def analysis_clips(
        self, tenant_id: str, video_id: str, analysis_id: str
    ) -> list[ClipInfo]:
        """The clips rendered from one analysis's highlights, oldest first."""
        response = await self._client.get(
            CLIPS_PATH.format(video_id=video_id), principal=working_for(tenant_id),
            params={"analysis_id": analysis_id},
        )  # fmt: skip
        return [ClipInfo.model_validate(item) for item in _answer(response)["items"]]


def connect_videos(url: str, platform: PlatformSettings, *, timeout: float = 30.0) -> VideosClient:
    """A client of video_processing at ``url`` that signs its calls with the platform's internal
    token secret; it owns its connections (``aclose``)."""
    tokens = platform_tokens(platform)
    return VideosClient(ServiceClient(url, tokens, timeout=timeout))


def _answer(response: httpx.Response) -> Any:
    if response.status_code < 400:
        return response.json()
    problem = problem_of(response)
    kind = str(problem.get("type", ""))
    if response.status_code == 404:
        raise VideoMissing(404, problem)
    if kind.endswith(f"/{NOT_READY}"):
        raise VideoNotReady(response.status_code, problem)
    if kind.endswith(f"/{NO_AUDIO}"):
        raise VideoHasNoAudio(response.status_code, problem)
    if kind.endswith(f"/{NO_PICTURE}"):
        raise VideoHasNoPicture(response.status_code, problem)
    raise VideosError(response.status_code, problem)
