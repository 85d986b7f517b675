"""recording_processor's background jobs: processing an uploaded recording (retried on a dead
worker or a passing failure), a sweep that errors any recording whose job ended without
settling it, so none stays ``processing`` for ever, and the object store's hourly sweep of
orphaned multipart uploads (for every service: the store is shared, and the sweep is the second
line behind aborts, which already drop parts landing late).

A job finds its object store and bus in ``resources.RESOURCES`` (the app's, installed at
start-up; ``v100 worker`` opens them from the environment instead)."""

from __future__ import annotations

from datetime import timedelta

from v100 import media
from v100.kit.db import utcnow
from v100.kit.jobs import JobContext, JobRegistry, abandoned
from v100.kit.observability import get_logger
from v100.services.recording_processor import processing
from v100.services.recording_processor.lifecycle import mark_errored
from v100.services.recording_processor.meeting_uploads import meeting_upload_server
from v100.services.recording_processor.progress import Announcer
from v100.services.recording_processor.repository import RecordingRepository
from v100.services.recording_processor.resources import RESOURCES

__all__ = [
    "jobs",
    "process_recording",
    "settle_abandoned",
    "sweep_meeting_uploads",
    "sweep_orphaned_uploads",
]

# The processing jobs run FFmpeg: a process with an unusable one refuses to start.
jobs = JobRegistry("recording_processor", requires=[media.require_ffmpeg])
_log = get_logger("v100.recording_processor")


# Three attempts: a worker killed mid-transcode (or a storage hiccup) is retried; bad input is
# not (PermanentJobError). A run past 3 hours is a failed attempt.
@jobs.task(max_attempts=3, backoff=5.0, timeout=3 * 3600)
async def process_recording(job: JobContext, recording_id: str) -> None:
    await processing.process(job, await RESOURCES.current(), recording_id)


@jobs.task(interval=60, max_attempts=1)
async def settle_abandoned(job: JobContext) -> None:
    """Error the recordings whose processing job failed or was cancelled without settling
    them (its last runner died: the queue fails a dead runner's last attempt)."""
    announcer = Announcer((await RESOURCES.current()).bus)
    async with job.unit_of_work() as session:
        stopped = await abandoned(
            session, await RecordingRepository(session).processing(), "Processing"
        )
        for recording, detail in stopped:
            await mark_errored(
                session,
                announcer,
                recording,
                "recording-processing-failed",
                detail,
                expect_status="processing",
            )


@jobs.task(interval=3600, max_attempts=1)
async def sweep_orphaned_uploads(job: JobContext) -> None:
    """Abort the store's multipart uploads nothing was written to for
    ``orphaned_upload_seconds``: an owner that crashed, or a part that still got past an abort.
    Several replicas sweeping at once only repeat each other's aborts."""
    resources = await RESOURCES.current()
    cutoff = utcnow() - timedelta(seconds=resources.settings.orphaned_upload_seconds)
    aborted = await resources.storage.sweep_multipart(cutoff)
    if aborted:
        _log.info("orphaned multipart uploads aborted", count=aborted)


@jobs.task(interval=900, max_attempts=1)
async def sweep_meeting_uploads(job: JobContext) -> None:
    """Meeting recordings' tus uploads: finish those whose last chunk was stored but whose
    completion did not commit (the recording then goes to processing), and end those left
    unwritten past ``meeting_upload_idle_seconds`` at the bytes stored (a page that never came
    back: what it sent is processed; nothing sent, the recording is errored ``recording-empty``,
    which is also how a recording whose meeting never committed it ends)."""
    resources = await RESOURCES.current()
    server = meeting_upload_server(resources.settings)
    result = await server.uploads(job.sessions, resources.storage).sweep()
    if result.removed or result.finished or result.failed or result.ended:
        _log.info(
            "meeting uploads swept", removed=result.removed, finished=result.finished,
            failed=result.failed, ended=result.ended,
        )  # fmt: skip
