"""transcription's request and response bodies: a transcript's creation (a URL or a stored
video source; an upload's options), the transcript as the API shows it, with the platform's
transcript document (``contracts.transcripts``) once completed, and the tenant's settings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, UrlConstraints

from v100.contracts.transcripts import TranscriptDocument
from v100.kit.http import Listing

__all__ = [
    "BackendName",
    "Language",
    "TranscriptCreate",
    "TranscriptError",
    "TranscriptOptions",
    "TranscriptOut",
    "TranscriptPage",
    "TranscriptSource",
    "TranscriptionSettingsIn",
    "TranscriptionSettingsOut",
    "UrlSource",
    "VideoSource",
]

# A language code Whisper knows ("en", "haw"), or "auto" to detect it.
Language = Annotated[str, Field(pattern=r"^(auto|[a-z]{2,3})$")]
BackendName = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_-]*$")]
HttpUrl = Annotated[AnyHttpUrl, UrlConstraints(max_length=2048)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TranscriptOptions(_Body):
    """How to transcribe: ``language`` (None or "auto": detected), ``backend`` (None: the
    tenant's, else the service's default, "local") and ``diarize`` (speakers: None finds them
    where the backend can, true requires them, false finds none)."""

    language: Language | None = None
    backend: BackendName | None = None
    diarize: bool | None = Field(
        default=None,
        description="Find who spoke each word. null (default): where the backend can (Deepgram "
        "always; local when this installation has the diarization extra); true: required "
        "(501 not-configured where it cannot be done); false: no speakers.",
    )


class UrlSource(_Body):
    """An audio or video file at a public http(s) URL, fetched by the job (SSRF rules)."""

    url: HttpUrl


class VideoSource(_Body):
    """A video the tenant stored (``/v1/videos``), once it is ready: its audio is transcribed."""

    video_id: str = Field(min_length=1, max_length=36)


class TranscriptCreate(TranscriptOptions):
    """``POST /v1/transcripts``: transcribe the file at ``source.url``, or the stored video
    ``source.video_id``."""

    source: UrlSource | VideoSource


class TranscriptSource(BaseModel):
    kind: Literal["url", "upload", "video", "live"]
    url: str | None = None
    video_id: str | None = None
    name: str | None = None
    content_type: str | None = None
    size: int | None = None
    # A live transcript's session (``GET /v1/transcription-sessions/{id}``).
    session_id: str | None = None


class TranscriptError(BaseModel):
    type: str
    detail: str | None


class TranscriptOut(BaseModel):
    """A transcript: ``status`` moves queued -> processing -> completed | failed. Once
    completed, ``text`` and ``document`` (segments of words, each with its start, end,
    confidence and speaker; utterances; paragraphs) are set; a list shows neither."""

    id: str
    status: Literal["queued", "processing", "completed", "failed"]
    source: TranscriptSource
    backend: str
    # Whether speakers are found (the request's ``diarize`` as decided at creation).
    diarize: bool
    # Made by the tenant's automatic transcription of its videos (then captioning the video).
    automatic: bool = False
    language_requested: str | None
    language: str | None
    language_probability: float | None
    duration: float | None
    speech_duration: float | None
    word_count: int | None
    text: str | None = None
    document: TranscriptDocument | None = None
    credits_charged: int | None
    error: TranscriptError | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None


TranscriptPage = Listing[TranscriptOut]


class TranscriptionSettingsIn(_Body):
    """``PUT /v1/transcription/settings``: the whole of the tenant's settings (an omitted field
    takes its default). ``auto_transcribe_videos``: every video of the tenant that becomes
    ready is transcribed, with ``auto_language`` (None or "auto": detected) and
    ``auto_backend`` (None: the tenant's default), and captioned."""

    auto_transcribe_videos: bool = False
    auto_language: Language | None = None
    auto_backend: BackendName | None = None


class TranscriptionSettingsOut(BaseModel):
    auto_transcribe_videos: bool
    auto_language: str | None
    auto_backend: str | None
    updated_at: datetime | None
