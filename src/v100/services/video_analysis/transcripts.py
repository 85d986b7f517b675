"""The transcript stage's use of transcription (``contracts/transcription.py``, scope
``service:transcripts``): the video's finished transcript, asked for when it has none, waited
for (polled) up to ``transcript_wait_seconds``. The stage is optional: transcription not
answering, refusing, failing the transcript or taking too long skips it, saying why
(``Skipped``); the analysis still completes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from v100.contracts.transcription import (
    TranscriptionError,
    VideoTranscript,
    connect_transcripts,
)
from v100.kit.errors import UpstreamUnavailable
from v100.services.video_analysis.settings import VideoAnalysisSettings

__all__ = ["Skipped", "finished_transcript"]

_POLL_SECONDS = 2.0
_UNREACHABLE = (UpstreamUnavailable, httpx.HTTPError)


class Skipped(Exception):
    """A stage that cannot run here, and why (shown on the analysis)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def finished_transcript(
    settings: VideoAnalysisSettings,
    tenant_id: str,
    video_id: str,
    on_wait: Callable[[float], Awaitable[None]],
) -> dict[str, Any]:
    """The stage's result (``schemas.TranscriptResult``); ``on_wait`` is told the share of the
    wait spent while the transcript is being made."""
    client = connect_transcripts(settings.transcription_url, settings.platform)
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        while True:
            try:
                found = await client.video_transcript(tenant_id, video_id)
            except _UNREACHABLE as exc:
                raise Skipped(f"transcription is not reachable ({type(exc).__name__})") from exc
            except TranscriptionError as exc:
                detail = exc.problem.get("detail") or exc.problem.get("type") or exc.status
                raise Skipped(f"transcription refused: {detail}") from exc
            if found.status == "completed":
                return _result(found)
            if found.status == "failed":
                raise Skipped(f"the transcript failed: {found.error_detail or found.error}")
            waited = loop.time() - started
            if waited >= settings.transcript_wait_seconds:
                raise Skipped(
                    f"the transcript was not finished after {settings.transcript_wait_seconds:g} s"
                )
            await on_wait(waited / settings.transcript_wait_seconds)
            await asyncio.sleep(_POLL_SECONDS)
    finally:
        await client.aclose()


def _result(found: VideoTranscript) -> dict[str, Any]:
    assert found.document is not None
    return {
        "transcript_id": found.transcript_id,
        "language": found.language,
        "text": found.document.text,
        "document": found.document.model_dump(mode="json"),
    }
