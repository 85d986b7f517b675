"""media_processor's request and response bodies: platform specs, inputs, media jobs (one request
model per operation, told apart by ``operation``) and assemblies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from v100.contracts.transcripts import TranscriptDocument
from v100.kit.http import Listing
from v100.kit.text import Line
from v100.media.audio import MAX_CHANNELS, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, OPUS_SAMPLE_RATES

__all__ = [
    "AssemblyCreate",
    "AssemblyOut",
    "BurnInCreate",
    "CaptionLimitsIn",
    "CaptionStyleIn",
    "CaptionsCreate",
    "DownloadOut",
    "InputOut",
    "JobCreate",
    "JobError",
    "JobOut",
    "JobPage",
    "LanguageCandidate",
    "LanguageDetectionCreate",
    "LanguageDetectionOut",
    "PartOut",
    "PlatformSpecOut",
    "SpecList",
]

InputName = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][\w.\-]*$")]
Platform = Literal["youtube", "tiktok", "instagram_reels", "linkedin", "x"]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class PlatformSpecOut(BaseModel):
    """What a platform accepts and the frame and bitrates a transcode to it renders."""

    name: str
    containers: list[str]
    video_codecs: list[str]
    audio_codecs: list[str]
    width: int
    height: int
    aspect: float
    video_bitrate: int
    audio_bitrate: int
    frame_rate_limit: int
    max_long_side: int
    max_short_side: int
    min_side: int | None
    min_aspect: float | None
    max_aspect: float | None
    min_frame_rate: float | None
    max_frame_rate: float
    max_video_bitrate: int | None
    min_duration: float | None
    max_duration: float
    max_file_size: int
    audio_max_channels: int | None
    audio_max_sample_rate: int | None


class SpecList(BaseModel):
    items: list[PlatformSpecOut]


class InputOut(BaseModel):
    name: str
    size: int
    content_type: str | None
    sha256: str | None
    created_at: datetime
    updated_at: datetime


class _JobBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The name of an input of this tenant (PUT /v1/media/inputs/{name} or an assembly).
    input: InputName


class TranscodeJob(_JobBase):
    operation: Literal["transcode"]
    platform: Platform
    # Fill the platform's frame by cropping the centre, or fit inside it with bars.
    fit: Literal["crop", "pad"] = "crop"


class NormalizeAudioJob(_JobBase):
    operation: Literal["normalize_audio"]
    # EBU R128 targets: integrated loudness (LUFS), true peak (dBTP), loudness range (LU).
    target_i: Annotated[float, Field(ge=-70, le=-5)] = -16.0
    target_tp: Annotated[float, Field(ge=-9, le=0)] = -1.5
    target_lra: Annotated[float, Field(ge=1, le=50)] = 11.0


class ResampleAudioJob(_JobBase):
    operation: Literal["resample_audio"]
    sample_rate: Annotated[int, Field(ge=MIN_SAMPLE_RATE, le=MAX_SAMPLE_RATE)]
    channels: Annotated[int, Field(ge=1, le=MAX_CHANNELS)] | None = None
    format: Literal["wav", "flac", "m4a", "opus"] = "wav"

    @model_validator(mode="after")
    def _rate_fits_format(self) -> ResampleAudioJob:
        if self.format == "opus" and self.sample_rate not in OPUS_SAMPLE_RATES:
            rates = ", ".join(map(str, OPUS_SAMPLE_RATES))
            raise ValueError(f"Opus takes {rates} Hz only")
        if self.format == "m4a" and self.sample_rate > 96_000:
            raise ValueError("AAC (m4a) takes at most 96000 Hz")
        return self


class ExtractAudioJob(_JobBase):
    operation: Literal["extract_audio"]


class ThumbnailJob(_JobBase):
    operation: Literal["thumbnail"]
    # Seconds into the video (a shorter video gives its middle frame).
    at: Annotated[float, Field(ge=0, le=24 * 3600)] = 5.0
    width: Annotated[int, Field(ge=16, le=3840)] | None = None


JobCreate = Annotated[
    TranscodeJob | NormalizeAudioJob | ResampleAudioJob | ExtractAudioJob | ThumbnailJob,
    Field(discriminator="operation"),
]


class JobError(BaseModel):
    # The problem type (``/problems/<slug>``) and what went wrong.
    type: str
    detail: str | None


class DownloadOut(BaseModel):
    # Presigned: anyone holding it may GET (with Range) until ``expires_at``.
    url: str
    filename: str
    content_type: str | None
    size: int | None
    expires_at: datetime


class JobOut(BaseModel):
    id: str
    operation: str
    input: str
    params: dict[str, Any]
    status: Literal["queued", "running", "succeeded", "failed"]
    percent: int
    error: JobError | None
    # What the operation found: platform problems of a transcode, loudness before and after.
    result: dict[str, Any] | None
    # The output's probe (container, duration, streams).
    output: dict[str, Any] | None
    credits_charged: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    # Present on a single succeeded job (not in lists).
    download: DownloadOut | None = None


JobPage = Listing[JobOut]


class AssemblyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # How many parts will be sent (numbered 1..parts); each but the last at least 5 MiB.
    parts: Annotated[int, Field(ge=1, le=10_000)]
    # The input the assembled file becomes (default ``assembly-<id>``).
    name: InputName | None = None
    # At most 5 TiB (S3's largest object).
    total_size: Annotated[int, Field(ge=1, le=5 * 1024**4)] | None = None
    sha256: Sha256 | None = None
    content_type: Annotated[Line, Field(max_length=100)] | None = None


class PartOut(BaseModel):
    part_number: int
    size: int | None
    etag: str


class AssemblyOut(BaseModel):
    id: str
    name: str
    status: Literal["open", "completed", "failed", "expired"]
    parts: int
    total_size: int | None
    sha256: str | None
    # Part numbers received so far (while open).
    received: list[int] | None
    size: int | None
    error: str | None
    created_at: datetime
    completed_at: datetime | None
    # An open assembly not completed by then expires (its parts are dropped).
    expires_at: datetime | None


# -- captions ---------------------------------------------------------------------------------


class CaptionLimitsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Characters on one line (a label "[Speaker 1] " counts on the first).
    max_chars_per_line: Annotated[int, Field(ge=10, le=200)] = 42
    max_lines: Annotated[int, Field(ge=1, le=4)] = 2
    # Seconds one cue stays on screen at most, and at least when the next cue leaves time.
    max_duration: Annotated[float, Field(ge=1, le=30)] = 7.0
    min_duration: Annotated[float, Field(ge=0, le=10)] = 1.0
    # A pause between words this long or longer starts a new cue.
    max_gap: Annotated[float, Field(gt=0, le=30)] = 1.5

    @model_validator(mode="after")
    def _min_below_max(self) -> CaptionLimitsIn:
        if self.min_duration > self.max_duration:
            raise ValueError("min_duration is longer than max_duration")
        return self


class CaptionsCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    transcript: TranscriptDocument
    format: Literal["srt", "vtt", "json"] = "srt"
    limits: CaptionLimitsIn = Field(default_factory=CaptionLimitsIn)
    # "[Speaker 1] " in SRT, a voice tag <v Speaker 1> in WebVTT, ``label`` in JSON.
    speaker_labels: bool = False


class CaptionStyleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Text height in pixels of the picture (default: 5% of its height).
    font_size: Annotated[float, Field(ge=4, le=400)] | None = None
    colour: Annotated[str, Field(pattern=r"^#[0-9A-Fa-f]{6}$")] = "#FFFFFF"
    outline_colour: Annotated[str, Field(pattern=r"^#[0-9A-Fa-f]{6}$")] = "#000000"
    # Outline width in pixels (0: none).
    outline: Annotated[float, Field(ge=0, le=40)] = 2.0
    position: Literal["bottom", "middle", "top"] = "bottom"
    # Pixels between the text and the bottom (or top) edge (default: 5% of the height).
    margin: Annotated[float, Field(ge=0, le=2000)] | None = None
    bold: bool = False


class BurnInCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The video to caption: an input of this tenant (PUT /v1/media/inputs/{name} or an
    # assembly), such as a rendition or a clip.
    input: InputName
    transcript: TranscriptDocument
    style: CaptionStyleIn = Field(default_factory=CaptionStyleIn)
    limits: CaptionLimitsIn = Field(default_factory=CaptionLimitsIn)
    speaker_labels: bool = False


# -- language detection -----------------------------------------------------------------------


class LanguageDetectionCreate(BaseModel):
    """Either ``text`` (py3langid) or ``input`` (an audio or video input: Whisper's detector
    on the speech of its first minutes)."""

    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, Field(min_length=1, max_length=100_000)] | None = None
    input: InputName | None = None

    @model_validator(mode="after")
    def _one_source(self) -> LanguageDetectionCreate:
        if (self.text is None) == (self.input is None):
            raise ValueError("give either text or input")
        return self


class LanguageCandidate(BaseModel):
    language: str
    probability: float


class LanguageDetectionOut(BaseModel):
    # ISO 639-1 code ("en") and its probability, 0..1.
    language: str
    probability: float
    # The runners-up, most likely first.
    alternatives: list[LanguageCandidate]
    source: Literal["text", "audio"]
    # The model that decided: "py3langid" or "whisper-base".
    detector: str
    # Audio only: the seconds from the start of the media that were decoded and searched for
    # speech (Whisper's detector reads the first 30 s of the speech found in them).
    analysed_seconds: float | None = None
