"""Live sessions' request and response bodies: the options a session is made with (Deepgram's
live options where they exist, under the same names) and the session as the API shows it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from v100.kit.http import Listing
from v100.services.transcription.schemas import BackendName, Language

__all__ = [
    "LatencyOut",
    "SessionCreate",
    "SessionEnd",
    "SessionError",
    "SessionOptions",
    "SessionOut",
    "SessionPage",
]

Endpointing = Annotated[int, Field(ge=10, le=10_000)]


class SessionCreate(BaseModel):
    """``POST /v1/transcription-sessions``. ``encoding`` linear16: raw 16-bit little-endian
    samples at ``sample_rate`` (16000) with ``channels`` (1) interleaved; opus: Opus in an Ogg
    or WebM container, whose header gives the rate and channels (so neither may be set).
    ``endpointing`` is the pause in ms that ends an utterance (``speech_final``), false for
    none; ``idle_timeout`` (seconds, the service's default 10) closes a stream that sends no
    audio and no KeepAlive."""

    model_config = ConfigDict(extra="forbid")

    backend: BackendName | None = None
    language: Language | None = None
    encoding: Literal["linear16", "opus"] = "linear16"
    sample_rate: int | None = Field(default=None, ge=8000, le=48_000)
    channels: int | None = Field(default=None, ge=1, le=8)
    interim_results: bool = True
    endpointing: Endpointing | Literal[False] = 300
    utterance_end_ms: int | None = Field(default=1000, ge=1000, le=10_000)
    vad_events: bool = True
    idle_timeout: float | None = Field(default=None, ge=1.0, le=300.0)

    @model_validator(mode="after")
    def _opus_carries_its_format(self) -> SessionCreate:
        if self.encoding == "opus" and (self.sample_rate or self.channels):
            raise ValueError("an Opus stream says its own sample_rate and channels: send neither")
        return self


class SessionOptions(BaseModel):
    """The options a session streams with, every default filled in."""

    language: str | None
    encoding: Literal["linear16", "opus"]
    sample_rate: int | None
    channels: int | None
    interim_results: bool
    endpointing: int | Literal[False]
    utterance_end_ms: int | None
    vad_events: bool
    idle_timeout: float


class SessionEnd(BaseModel):
    """Why the stream ended: ``reason`` close-stream, stopped, idle-timeout, disconnected,
    too-long, insufficient-credits, audio-undecodable, backend-failed, never-connected or
    abandoned; ``close_code`` the WebSocket close code sent (None when none could be)."""

    reason: str
    detail: str | None
    close_code: int | None


class SessionError(BaseModel):
    type: str
    detail: str | None


class LatencyOut(BaseModel):
    """From the arrival of the audio where an utterance's last word ends to its final result."""

    median_ms: float
    p90_ms: float


class SessionOut(BaseModel):
    """A live session: ``status`` created -> streaming -> closed | failed. ``stream_path`` is
    its WebSocket (``stream_url`` on this platform's public address); once it ended,
    ``transcript_id`` names the transcript of what was heard (``GET /v1/transcripts/{id}``)."""

    id: str
    status: Literal["created", "streaming", "closed", "failed"]
    backend: str
    options: SessionOptions
    stream_path: str
    stream_url: str
    audio_seconds: float
    bytes_received: int
    final_results: int
    interim_results: int
    final_latency: LatencyOut | None
    credits_charged: int | None
    transcript_id: str | None
    ended: SessionEnd | None
    error: SessionError | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    ended_at: datetime | None


SessionPage = Listing[SessionOut]
