"""recording_processor's background jobs: processing an uploaded recording (retried on a dead
worker or a passing failure), and a sweep that errors any recording whose job ended without
settling it, so none stays ``processing`` for ever.

A job finds its object store and bus through ``bind`` (done by the app at start-up, keyed by
the app's sessionmaker); ``v100 worker`` builds them from the environment instead."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from v100.kit.bus import create_bus
from v100.kit.jobs import JobContext, JobRegistry, JobStatus, get_job
from v100.kit.storage import storage_from_settings
from v100.services.recording_processor import processing
from v100.services.recording_processor.lifecycle import mark_errored
from v100.services.recording_processor.processing import Resources
from v100.services.recording_processor.progress import Announcer
from v100.services.recording_processor.repository import RecordingRepository
from v100.services.recording_processor.settings import RecordingProcessorSettings

__all__ = ["bind", "jobs", "process_recording", "settle_abandoned", "unbind"]

jobs = JobRegistry("recording_processor")

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
