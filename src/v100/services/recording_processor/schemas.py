"""recording_processor's request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from v100.contracts.events import RecordingStage, RecordingStatus
from v100.kit.http import Listing
from v100.kit.text import Line

__all__ = ["DownloadOut", "RecordingCreate", "RecordingError", "RecordingOut", "RecordingPage"]


class RecordingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Annotated[Line, Field(min_length=1, max_length=200)] = "Meeting recording"
    meeting_id: Annotated[Line, Field(min_length=1, max_length=36)] | None = None


class RecordingError(BaseModel):
    # The problem type (``/problems/<slug>``) and what went wrong.
    type: str
    detail: str | None


class DownloadOut(BaseModel):
    # mp4 (or m4a for an audio-only recording), thumbnail, source
    kind: str
    # Presigned: anyone holding it may GET (with Range) until ``expires_at``.
    url: str
    filename: str
    content_type: str
    size: int | None
    expires_at: datetime


class RecordingOut(BaseModel):
    id: str
    meeting_id: str | None
    title: str
    status: RecordingStatus
    stage: RecordingStage
    percent: int
    error: RecordingError | None
    # Where the content goes (PUT) while the recording is uploading.
    upload_url: str | None
    # The WebSocket that streams progress until ready or errored.
    progress_url: str
    source_size: int | None
    duration: float | None
    width: int | None
    height: int | None
    audio_only: bool | None
    created_at: datetime
    updated_at: datetime
    uploaded_at: datetime | None
    ready_at: datetime | None
    # Present on a single recording (not in lists).
    downloads: list[DownloadOut] | None = None


RecordingPage = Listing[RecordingOut]
