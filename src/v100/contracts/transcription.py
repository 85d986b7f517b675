"""What other services use of transcription: a typed async client, over
``kit.http.ServiceClient``, for a tenant's finished transcript (its ``TranscriptDocument``:
words with times, segments, paragraphs) and for the transcript of a tenant's stored video ("the
finished transcript of video V, or ask for one"). The calls carry the platform scope
``service:transcripts``, which no tenant credential can hold; the tenant is the token's, so
another tenant's transcript or video is 404 like an unknown one.

    transcripts = connect_transcripts(settings.transcription_url, settings.platform)
    finished = await transcripts.finished(tenant_id, transcript_id)  # aclose() after
    finished.document.paragraphs, finished.title, finished.language
    found = await transcripts.video_transcript(tenant_id, video_id)  # asks for one if none
    if found.status == "completed": found.document

``video_transcript`` answers the video's newest transcript that has not failed (completed, or
still queued or processing), and when it has none, the one it has just asked for (the
tenant's default backend); with only failed ones, the newest failed one (it does not ask
again); 404 ``video-not-found``, 409 ``video-not-ready`` or ``video-has-no-audio``.

Refusals raise ``TranscriptMissing`` (404: unknown, another tenant's, deleted),
``TranscriptNotFinished`` (409 ``transcript-not-finished``: queued, processing or failed) or
``TranscriptionError``; no answer at all raises the kit's ``UpstreamUnavailable``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict

from v100.contracts._calls import Refused, platform_tokens, problem_of
from v100.contracts.transcripts import TranscriptDocument
from v100.kit.auth import Principal
from v100.kit.http import ServiceClient
from v100.kit.settings import PlatformSettings

__all__ = [
    "FINISHED_PATH",
    "NOT_FINISHED",
    "TRANSCRIPTS_SCOPES",
    "VIDEO_TRANSCRIPT_PATH",
    "FinishedTranscript",
    "TranscriptMissing",
    "TranscriptNotFinished",
    "TranscriptionError",
    "TranscriptsClient",
    "VideoTranscript",
    "connect_transcripts",
    "working_for",
]

TRANSCRIPTS_SCOPES = frozenset({"service:transcripts"})
FINISHED_PATH = "/v1/transcripts/{transcript_id}/finished"
VIDEO_TRANSCRIPT_PATH = "/v1/transcripts/videos/{video_id}"
# The problem slug of a transcript that is not completed (transcription raises it).
NOT_FINISHED = "transcript-not-finished"


def working_for(tenant_id: str) -> Principal:
    """The identity of a service's call about ``tenant_id``'s transcripts."""
    return Principal(tenant_id=tenant_id, scopes=TRANSCRIPTS_SCOPES, role="service")


class FinishedTranscript(BaseModel):
    """``GET /v1/transcripts/{id}/finished``: a completed transcript's document, with what
    names it (the source file's name, the language heard, the duration)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    transcript_id: str
    title: str | None
    language: str | None
    duration: float | None
    source_video_id: str | None
    completed_at: datetime | None
    document: TranscriptDocument


class VideoTranscript(BaseModel):
    """``POST /v1/transcripts/videos/{video_id}``: the video's transcript as it stands."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    transcript_id: str
    video_id: str
    status: Literal["queued", "processing", "completed", "failed"]
    language: str | None = None
    # Once completed.
    document: TranscriptDocument | None = None
    # Once failed: the problem slug and why.
    error: str | None = None
    error_detail: str | None = None


class TranscriptionError(Refused):
    """transcription refused a call; ``problem`` is its RFC 9457 body."""


class TranscriptMissing(TranscriptionError):
    """No such transcript for this tenant (unknown, another tenant's, or deleted)."""


class TranscriptNotFinished(TranscriptionError):
    """The transcript is queued, processing, or failed: it has no document."""


class TranscriptsClient:
    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    async def aclose(self) -> None:
        await self._client.aclose()

    async def finished(self, tenant_id: str, transcript_id: str) -> FinishedTranscript:
        """A completed transcript's document; a refusal when it has none."""
        path = FINISHED_PATH.format(transcript_id=transcript_id)
        response = await self._client.get(path, principal=working_for(tenant_id))
        return FinishedTranscript.model_validate(_answer(response))

    async def video_transcript(self, tenant_id: str, video_id: str) -> VideoTranscript:
        """The video's transcript, asked for when it has none."""
        path = VIDEO_TRANSCRIPT_PATH.format(video_id=video_id)
        response = await self._client.request("POST", path, principal=working_for(tenant_id))
        return VideoTranscript.model_validate(_answer(response))


def connect_transcripts(
    url: str, platform: PlatformSettings, *, timeout: float = 30.0
) -> TranscriptsClient:
    """A client of transcription at ``url`` that signs its calls with the platform's internal
    token secret; it owns its connections (``aclose``)."""
    tokens = platform_tokens(platform)
    return TranscriptsClient(ServiceClient(url, tokens, timeout=timeout))


def _answer(response: httpx.Response) -> Any:
    if response.status_code < 400:
        return response.json()
    problem = problem_of(response)
    if response.status_code == 404:
        raise TranscriptMissing(404, problem)
    if str(problem.get("type", "")).endswith(f"/{NOT_FINISHED}"):
        raise TranscriptNotFinished(response.status_code, problem)
    raise TranscriptionError(response.status_code, problem)
