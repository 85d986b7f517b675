"""recording_processor's background jobs: processing an uploaded recording (retried on a dead
worker or a passing failure), a sweep that errors any recording whose job ended without
settling it, so none stays ``processing`` for ever, and the object store's hourly sweep of
orphaned multipart uploads (for every service: the store is shared, and the sweep is the second
line behind aborts, which already drop parts landing late).

A job finds its object store and bus through ``bind`` (done by the app at start-up, keyed by
the app's sessionmaker); ``v100 worker`` builds them from the environment instead."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from v100 import media
from v100.kit.bus import create_bus
from v100.kit.db import utcnow
from v100.kit.jobs import JobContext, JobRegistry, JobStatus, get_job
from v100.kit.observability import get_logger
from v100.kit.storage import storage_from_settings
from v100.services.recording_processor import processing
from v100.services.recording_processor.lifecycle import mark_errored
from v100.services.recording_processor.processing import Resources
from v100.services.recording_processor.progress import Announcer
from v100.services.recording_processor.repository import RecordingRepository
from v100.services.recording_processor.settings import RecordingProcessorSettings

__all__ = [
    "bind",
    "jobs",
    "process_recording",
    "settle_abandoned",
    "sweep_orphaned_uploads",
    "unbind",
]

# The processing jobs run FFmpeg: a process with an unusable one refuses to start.
jobs = JobRegistry("recording_processor", requires=[media.require_ffmpeg])
_log = get_logger("v100.recording_processor")

Sessions = async_sessionmaker[AsyncSession]
_bound: dict[int, Resources] = {}
_from_environment: list[Resources] = []


def bind(sessions: Sessions, resources: Resources) -> None:
    """Jobs run on ``sessions`` use ``resources`` (the app's store and bus)."""
    _bound[id(sessions)] = resources


def unbind(sessions: Sessions) -> None:
    _bound.pop(id(sessions), None)


def _resources(job: JobContext) -> Resources:
    bound = _bound.get(id(job.sessions))
    if bound is not None:
        return bound
    if not _from_environment:  # a ``v100 worker`` process: one set for its lifetime
        settings = RecordingProcessorSettings()
        _from_environment.append(
            Resources(
                settings,
                storage_from_settings(settings.platform),
                create_bus(settings.platform.redis_url),
            )
        )
    return _from_environment[0]


# Three attempts: a worker killed mid-transcode (or a storage hiccup) is retried; bad input is
# not (PermanentJobError). A run past 3 hours is a failed attempt.
@jobs.task(max_attempts=3, backoff=5.0, timeout=3 * 3600)
async def process_recording(job: JobContext, recording_id: str) -> None:
    await processing.process(job, _resources(job), recording_id)


@jobs.task(interval=60, max_attempts=1)
async def settle_abandoned(job: JobContext) -> None:
    """Error the recordings whose processing job failed or was cancelled without settling
    them (its last runner died: the queue fails a dead runner's last attempt)."""
    announcer = Announcer(_resources(job).bus)
    async with job.unit_of_work() as session:
        for recording in await RecordingRepository(session).processing():
            assert recording.job_id is not None
            record = await get_job(session, recording.job_id)
            if record is None or record.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
                continue
            detail = f"Processing stopped ({record.status}): {record.last_error or 'no reason'}"
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
    resources = _resources(job)
    cutoff = utcnow() - timedelta(seconds=resources.settings.orphaned_upload_seconds)
    aborted = await resources.storage.sweep_multipart(cutoff)
    if aborted:
        _log.info("orphaned multipart uploads aborted", count=aborted)
