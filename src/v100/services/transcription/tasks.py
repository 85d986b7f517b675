"""transcription's background jobs (kit.jobs; state in this service's ``kit_jobs`` table):
transcribing one transcript (retried on a dead worker or a passing failure, never on bad
input), attaching an automatic transcript's captions to its video, the minute sweep that
fails any transcript whose queue job ended without settling it (its last runner died),
releasing its credit hold, and the minute sweep of live sessions never connected or whose
stream's process died (live_settle.sweep)."""

from __future__ import annotations

from v100 import media
from v100.kit.jobs import JobContext, JobRegistry, abandoned
from v100.services.transcription import captions, live_settle, processing
from v100.services.transcription.repository import TranscriptRepository
from v100.services.transcription.resources import RESOURCES

__all__ = ["attach_captions", "jobs", "settle_abandoned", "settle_abandoned_sessions", "transcribe"]

# Decoding runs FFmpeg: a process with an unusable one refuses to start.
jobs = JobRegistry("transcription", requires=[media.require_ffmpeg])


# Three attempts of at most 3 hours (credits.TRANSCRIBE's holds outlive them).
@jobs.task(max_attempts=3, backoff=5.0, timeout=3 * 3600)
async def transcribe(job: JobContext, transcript_id: str) -> None:
    await processing.transcribe(job, await RESOURCES.current(), transcript_id)


# video_processing may be away for a while (a restart): five tries over a few minutes.
@jobs.task(max_attempts=5, backoff=10.0, timeout=300)
async def attach_captions(job: JobContext, transcript_id: str) -> None:
    await captions.attach(job, await RESOURCES.current(), transcript_id)


@jobs.task(interval=60, max_attempts=1)
async def settle_abandoned(job: JobContext) -> None:
    """Fail the transcripts whose queue job failed or was cancelled without settling them."""
    resources = await RESOURCES.current()
    async with job.unit_of_work() as session:
        rows = await abandoned(
            session, await TranscriptRepository(session).unsettled(), "Transcription"
        )
    for row, detail in rows:
        await processing.fail(job, resources, row.id, "transcription-failed", detail)


@jobs.task(interval=60, max_attempts=1)
async def settle_abandoned_sessions(job: JobContext) -> None:
    """Close live sessions never connected in time; fail those whose stream went silent."""
    await live_settle.sweep(job, await RESOURCES.current())
