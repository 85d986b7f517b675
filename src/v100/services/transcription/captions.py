"""The captions of a video's automatic transcript, attached to the video the way Mux's
generated subtitles are: when the transcript completes, the job ``transcription.attach_captions``
is queued in the same unit of work (so a completion never loses its captions), and it hands the
transcript document to video_processing (``PUT /v1/videos/{id}/captions/{language}``), which
makes the WebVTT and SRT track and offers it in the video's HLS playlist. Retried while
video_processing does not answer; a video deleted meanwhile gets none. A transcript with no
words (a video without speech) gives no track."""

from __future__ import annotations

import re

from sqlalchemy.ext.asyncio import AsyncSession

from v100.kit.jobs import JobContext, enqueue
from v100.kit.observability import get_logger
from v100.services.transcription import videos
from v100.services.transcription.models import Transcript
from v100.services.transcription.repository import TranscriptRepository
from v100.services.transcription.resources import Resources

__all__ = ["JOB", "attach", "queue"]

JOB = "transcription.attach_captions"
_log = get_logger("v100.transcription.captions")
# A caption track is named by an ISO 639 code ("en", "haw"); "en-US" gives "en".
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")


async def queue(session: AsyncSession, row: Transcript) -> None:
    """In the completion's unit of work: an automatic transcript with words captions its
    video."""
    if row.automatic and row.source_video_id is not None and row.word_count:
        await enqueue(
            session, JOB, row.id, tenant_id=row.tenant_id, dedupe_key=f"captions:{row.id}"
        )


async def attach(job: JobContext, resources: Resources, transcript_id: str) -> None:
    async with job.unit_of_work() as session:
        row = await TranscriptRepository(session).by_id(transcript_id)
    if row is None or row.document is None:
        return  # deleted since it completed
    language = (row.language or row.language_requested or "").split("-")[0].lower()
    if not _LANGUAGE.match(language):
        _log.warning("no captions: no usable language", transcript_id=row.id, language=language)
        return
    track = await videos.attach_captions(resources.settings, row, language)
    _log.info(
        "captions attached" if track else "no captions: the video was deleted",
        transcript_id=row.id, video_id=row.source_video_id, language=language,
    )  # fmt: skip
