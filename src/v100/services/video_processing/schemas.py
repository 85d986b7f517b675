"""video_processing's request and response bodies: projects, videos (with their renditions and
playback URLs), highlights, clips and direct uploads, and the pages that list them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, model_validator

from v100.kit.http import refusing_null
from v100.kit.text import Line, Paragraphs

__all__ = [
    "CaptionTrackOut",
    "ClipCreate",
    "ClipList",
    "ClipOut",
    "DirectUploadCreate",
    "DirectUploadOut",
    "ErrorOut",
    "HighlightCreate",
    "HighlightOut",
    "HighlightUpdate",
    "NewVideoSettings",
    "PlaybackOut",
    "ProjectCreate",
    "ProjectOut",
    "ProjectUpdate",
    "RenditionOut",
    "VideoCreate",
    "VideoOut",
    "VideoUpdate",
]

Name = Annotated[Line, Field(min_length=1, max_length=200)]
Seconds = Annotated[float, Field(ge=0, le=48 * 3600)]
Platform = Literal["youtube", "tiktok", "instagram_reels", "linkedin", "x"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ErrorOut(BaseModel):
    type: str
    detail: str


# --- projects -----------------------------------------------------------------------------------


class ProjectCreate(_Body):
    name: Name
    description: Annotated[Paragraphs, Field(max_length=5000)] | None = None


class ProjectUpdate(_Body):
    name: Name | None = None
    description: Annotated[Paragraphs, Field(max_length=5000)] | None = None

    _name_kept = refusing_null("name")


class ProjectOut(_Out):
    id: str
    name: str
    description: str | None
    created_at: datetime
    updated_at: datetime


# --- videos -------------------------------------------------------------------------------------


class NewVideoSettings(_Body):
    """What a video is created with (directly, by import, or when a direct upload completes)."""

    project_id: str | None = None
    title: Name | None = None
    passthrough: Annotated[Line, Field(max_length=255)] | None = None
    # EBU R128 two-pass loudness normalization of every output's audio.
    normalize_audio: bool = False
    # Cut leading and trailing silence and black before encoding.
    auto_trim: bool = False
    # Cap the ladder's top rung (never upscaled either way).
    max_resolution: Literal[240, 360, 480, 720, 1080, 1440, 2160] | None = None


class VideoCreate(NewVideoSettings):
    """``POST /v1/videos``: import from ``input_url`` (fetched by a job, SSRF-checked)."""

    input_url: AnyHttpUrl


class VideoUpdate(_Body):
    title: Name | None = None
    passthrough: Annotated[Line, Field(max_length=255)] | None = None
    project_id: str | None = None


class RenditionOut(_Out):
    name: str
    kind: str
    content_type: str
    size: int | None
    width: int | None
    height: int | None
    bitrate: int | None
    duration: float | None
    url: str | None = None


class PlaybackOut(BaseModel):
    """Signed URLs, valid until ``expires_at``; ``hls`` is the master playlist."""

    hls: str | None
    mp4: str | None = None
    m4a: str | None = None
    poster: str | None = None
    storyboard: str | None = None
    storyboard_vtt: str | None = None
    expires_at: datetime


class VideoOut(BaseModel):
    id: str
    project_id: str | None
    title: str | None
    passthrough: str | None
    status: Literal["uploading", "processing", "ready", "errored"]
    progress: int
    duration: float | None
    aspect_ratio: str | None
    max_resolution: str | None
    source: dict[str, Any] | None
    normalize_audio: bool
    auto_trim: bool
    trim: dict[str, float] | None
    upload_id: str | None
    renditions: list[RenditionOut]
    playback: PlaybackOut | None
    credits_charged: int | None
    error: ErrorOut | None
    created_at: datetime
    updated_at: datetime
    ready_at: datetime | None


class CaptionTrackOut(BaseModel):
    """A video's text track in one language (``source: generated``: made from the video's
    automatic transcript); its files at ``vtt_url`` and ``srt_url`` (the API key's scope
    ``videos:read``), and in the video's HLS master playlist as a subtitle rendition."""

    language: str
    name: str
    source: Literal["generated"]
    transcript_id: str | None
    cues: int
    vtt_url: str
    srt_url: str
    created_at: datetime
    updated_at: datetime


# --- highlights ---------------------------------------------------------------------------------


class _Range(_Body):
    start: Seconds
    end: Seconds

    @model_validator(mode="after")
    def _ordered(self) -> _Range:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class HighlightCreate(_Range):
    title: Name | None = None
    score: Annotated[float, Field(ge=0, le=100)] | None = None


class HighlightUpdate(_Body):
    start: Seconds | None = None
    end: Seconds | None = None
    title: Name | None = None
    score: Annotated[float, Field(ge=0, le=100)] | None = None

    _times_kept = refusing_null("start", "end")


class HighlightOut(_Out):
    id: str
    video_id: str
    start: float
    end: float
    title: str | None
    score: float | None
    source: str
    created_at: datetime


# --- clips --------------------------------------------------------------------------------------


class ClipCreate(_Range):
    video_id: str
    mode: Literal["accurate", "fast"] = "accurate"
    platform: Platform | None = None
    highlight_id: str | None = None


class ClipOut(BaseModel):
    id: str
    video_id: str
    highlight_id: str | None
    start: float
    end: float
    mode: str
    platform: str | None
    # Smart clips (mode "smart": an analysis's highlight, smart-cropped, ADR 0060): the
    # analysis, the aspect, the title, captions asked, the range rendered after auto-trim and
    # the caption cues burnt in (0 when asked but no words were known).
    analysis_id: str | None = None
    aspect: str | None = None
    title: str | None = None
    captions: bool | None = None
    rendered_start: float | None = None
    rendered_end: float | None = None
    caption_cues: int | None = None
    status: Literal["processing", "ready", "errored"]
    progress: int
    duration: float | None
    width: int | None
    height: int | None
    size: int | None
    # Credits captured for the clip (per started minute of the range rendered).
    credits_charged: int | None
    download_url: str | None
    error: ErrorOut | None
    created_at: datetime


class ClipList(BaseModel):
    """The clips of one analysis (``GET``/``POST /v1/videos/{id}/analysis-clips``)."""

    items: list[ClipOut]


# --- direct uploads -----------------------------------------------------------------------------


class DirectUploadCreate(_Body):
    """``POST /v1/uploads``: a URL a browser uploads one file to with tus, no API key needed."""

    new_video: NewVideoSettings = Field(default_factory=NewVideoSettings)
    cors_origin: Annotated[str, Field(max_length=255)] | None = None
    timeout: Annotated[int, Field(ge=60, le=7 * 24 * 3600)] | None = None


class DirectUploadOut(BaseModel):
    id: str
    status: Literal["waiting", "asset_created", "cancelled", "timed_out"]
    # The tus creation endpoint (POST there, then PATCH the Location it answers).
    url: str | None
    video_id: str | None
    upload_id: str | None
    new_video: dict[str, Any]
    timeout: int
    expires_at: datetime
    created_at: datetime
