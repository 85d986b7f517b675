"""video_analysis's request and response bodies: the analysis, its stages' results (what a
stage stores is what its route answers, validated by these models) and the tenant's settings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from v100.kit.http import Listing
from v100.kit.text import Line
from v100.services.video_analysis.stages import DEFAULT_STAGES, StageName

__all__ = [
    "ActiveSpeakerTurn",
    "AnalysisCreate",
    "AnalysisError",
    "AnalysisOut",
    "AnalysisPage",
    "AnalysisSettingsIn",
    "AnalysisSettingsOut",
    "ClipList",
    "ClipOut",
    "ClipsCreate",
    "FaceSample",
    "FaceTrackOut",
    "FacesResult",
    "FactorOut",
    "HighlightOptions",
    "HighlightOut",
    "HighlightsResult",
    "KeyframeOut",
    "KeyframesResult",
    "SceneBoundaryOut",
    "SceneOut",
    "ScenesResult",
    "SignalsResult",
    "SpeechResult",
    "SpeechSegment",
    "StageState",
    "TranscriptResult",
]

Threshold = Annotated[float, Field(ge=0.5, le=50.0)]


class HighlightOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The shortest and longest clip, in seconds.
    durations: Annotated[list[Annotated[float, Field(gt=0, le=600)]],
                         Field(min_length=2, max_length=2)] = [15.0, 60.0]  # fmt: skip
    # Topics the clips should be about (matched on word stems).
    keywords: Annotated[list[Annotated[Line, Field(min_length=1, max_length=80)]],
                        Field(max_length=20)] = []  # fmt: skip
    count: Annotated[int, Field(ge=1, le=50)] = 5

    @model_validator(mode="after")
    def _ordered(self) -> HighlightOptions:
        if self.durations[0] > self.durations[1]:
            raise ValueError("durations are [shortest, longest]: the first is longer")
        return self


class AnalysisCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    video_id: Annotated[Line, Field(min_length=1, max_length=36)]
    # The stages wanted; those they need are added (docs/video-analysis.md).
    stages: Annotated[list[StageName], Field(min_length=1, max_length=8)] = list(DEFAULT_STAGES)
    # Scene detection's threshold (percent of full scale); None: the tenant's, else 5.
    scene_threshold: Threshold | None = None
    # What the highlights stage looks for (only with that stage).
    highlights: HighlightOptions | None = None

    @model_validator(mode="after")
    def _options_for_their_stage(self) -> AnalysisCreate:
        if self.highlights is not None and "highlights" not in self.stages:
            raise ValueError('"highlights" options are given but the highlights stage is not')
        return self


class AnalysisError(BaseModel):
    # The problem type (``/problems/<slug>``) and what went wrong.
    type: str
    detail: str | None


class StageState(BaseModel):
    status: Literal["pending", "running", "completed", "skipped"]
    percent: int
    # Why a stage was skipped (no audio track, transcription away, ...).
    reason: str | None = None


class AnalysisOut(BaseModel):
    id: str
    video_id: str
    status: Literal["queued", "running", "completed", "failed"]
    stages: list[str]
    progress: dict[str, StageState]
    # The stage running now, and the whole analysis's percent.
    stage: str | None
    percent: int
    scene_threshold: float | None
    highlights: HighlightOptions | None
    duration: float | None
    width: int | None
    height: int | None
    frame_rate: float | None
    has_audio: bool | None
    credits_charged: int | None
    error: AnalysisError | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    completed_at: datetime | None


AnalysisPage = Listing[AnalysisOut]


# --- results (stored by the stages, answered by the result routes) ---------------------------


class _Result(BaseModel):
    model_config = ConfigDict(extra="ignore")


class SceneBoundaryOut(_Result):
    # The first frame of the new scene; a fade's darkest, a dissolve's half-way frame.
    frame: int
    time: float
    kind: Literal["cut", "fade", "dissolve"]
    score: float
    start_frame: int
    end_frame: int


class SceneOut(_Result):
    index: int
    start_frame: int
    end_frame: int
    start: float
    end: float


class ScenesResult(_Result):
    threshold: float
    frame_rate: float
    frame_count: int
    boundaries: list[SceneBoundaryOut]
    scenes: list[SceneOut]


class KeyframeOut(_Result):
    scene: int
    frame: int
    time: float
    sharpness: float
    width: int
    height: int
    content_type: str
    # Presigned: anyone holding it may GET the image until ``expires_at``.
    url: str | None = None
    expires_at: datetime | None = None


class KeyframesResult(_Result):
    items: list[KeyframeOut]


class FaceSample(_Result):
    frame: int
    time: float
    # The box in the video's display pixels.
    x: int
    y: int
    width: int
    height: int
    score: float
    view: Literal["frontal", "profile"]


class ActiveSpeakerTurn(_Result):
    start: float
    end: float
    track_id: int
    # 1.0 alone on screen; 0.5 a tie with the next face.
    confidence: float


class FaceTrackOut(_Result):
    id: int
    start: float
    end: float
    faces: list[FaceSample]


class FacesResult(_Result):
    sample_rate: float
    tracks: list[FaceTrackOut]
    # Who talks when (the speakers stage); None when it was not run or was skipped.
    active_speaker: list[ActiveSpeakerTurn] | None = None


class SpeechSegment(_Result):
    start: float
    end: float


class SpeechResult(_Result):
    segments: list[SpeechSegment]
    speech_seconds: float
    # Share of the video with speech (0-1).
    speech_ratio: float


class SignalsResult(_Result):
    # One value per ``interval`` seconds from 0.
    interval: float
    # Momentary loudness (EBU R128, LUFS; -70 for silence); empty without an audio track.
    loudness: list[float]
    # RMS level in dBFS (-90 for silence); empty without an audio track.
    energy: list[float]
    # Mean absolute change of the picture between samples, percent of full scale.
    motion: list[float]


class TranscriptResult(_Result):
    transcript_id: str
    language: str | None
    text: str
    # The transcription service's document (contracts.transcripts.TranscriptDocument).
    document: dict[str, object]


class FactorOut(_Result):
    name: Literal["hook", "emotion", "information", "narrative", "visual", "relevance"]
    # 0-1, and why, in words a person can check.
    score: float
    reason: str
    # "llm" when the configured chat model refined it; ``local_score`` keeps the local one.
    source: Literal["local", "llm"]
    local_score: float | None


class HighlightOut(_Result):
    id: str
    rank: int
    start: float
    end: float
    duration: float
    # The six factors' weighted mean: it ranks this video's clips; not a probability.
    score: float
    text: str
    # The words said in its first 3 seconds (what the hook factor read).
    opening: str
    factors: list[FactorOut]
    starts_at_cut: bool
    ends_at_cut: bool
    # Written by the LLM; None (and no hashtags) with the local scores alone.
    title: str | None
    description: str | None
    hashtags: list[str]


class Refinement(_Result):
    # local: no LLM configured; refined | partial | malformed | failed: what the LLM did.
    status: Literal["local", "refined", "partial", "malformed", "failed"]
    # provider/model, when one was called.
    model: str | None
    notes: list[str]
    # The call's tokens as the vendor counted them, and the credits the tenant paid for them.
    tokens: dict[str, int] | None = None
    credits: int | None = None


class HighlightsResult(_Result):
    durations: list[float]
    keywords: list[str]
    count: int
    # Whether a transcript was read (without one, clips run from scene boundary to boundary).
    transcript: bool
    refinement: Refinement
    # Best first; they do not overlap.
    items: list[HighlightOut]


# --- clips ------------------------------------------------------------------------------------


class ClipsCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Which highlights (their ids), or the best ``count`` of them: one of the two.
    highlight_ids: Annotated[list[Annotated[str, Field(min_length=1, max_length=36)]],
                             Field(min_length=1, max_length=20)] | None = None  # fmt: skip
    count: Annotated[int, Field(ge=1, le=20)] | None = None
    aspect: Literal["9:16", "1:1", "4:5"] = "9:16"
    platform: Literal["tiktok", "instagram_reels", "youtube_shorts"] = "tiktok"
    # Burn the transcript's words in (needs the analysis's transcript).
    captions: bool = True

    @model_validator(mode="after")
    def _one_choice(self) -> ClipsCreate:
        if (self.highlight_ids is None) == (self.count is None):
            raise ValueError('give either "highlight_ids" or "count"')
        return self


class ClipOut(BaseModel):
    """A clip of a highlight: video_processing's clip (``GET /v1/clips/{id}``, ADR 0060)."""

    id: str
    video_id: str
    # video_processing's highlight made from the analysis's (``GET /v1/videos/{id}/highlights``)
    highlight_id: str | None
    analysis_id: str | None
    # processing -> ready | errored (``clip.ready``, ``clip.errored``)
    status: Literal["processing", "ready", "errored"]
    progress: int
    # The highlight's range in the video, as asked, and as rendered (after auto-trim).
    start: float
    end: float
    rendered_start: float | None
    rendered_end: float | None
    mode: str
    aspect: str | None
    platform: str | None
    captions: bool | None
    # Captions burnt in (0 when asked but the analysis has no transcript).
    caption_cues: int | None
    title: str | None
    duration: float | None
    width: int | None
    height: int | None
    size: int | None
    credits_charged: int | None
    # Once ready: a signed link anyone holding it may GET the MP4 with.
    download_url: str | None
    error: dict[str, Any] | None
    created_at: datetime


class ClipList(BaseModel):
    items: list[ClipOut]


# --- the tenant's settings -------------------------------------------------------------------


class AnalysisSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # None: the service's default (5).
    scene_threshold: Threshold | None = None


class AnalysisSettingsOut(BaseModel):
    scene_threshold: float | None
    updated_at: datetime | None
