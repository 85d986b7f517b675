"""Running one media job: fetch the input, probe it, check the limits, run the operation (a
transcode holds credits first), store the output and settle the job. Progress is stored on the
job (at most once a second) and published live; bad input ends the job ``failed`` with a clear
error, never retried and never stuck. A retried run starts over (outputs go to fixed keys)."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath

from v100 import media
from v100.contracts.credit_holds import credits_per_started_minute
from v100.kit.db import utcnow
from v100.kit.jobs import JobContext
from v100.kit.observability import get_logger
from v100.media.jobs import download, failing_as, upload
from v100.services.media_processor import credits, lifecycle
from v100.services.media_processor.errors import MEDIA_ERRORS, JobFailed
from v100.services.media_processor.models import JobStatus, MediaJob
from v100.services.media_processor.operations import run_operation
from v100.services.media_processor.repository import JobRepository
from v100.services.media_processor.resources import Resources

__all__ = ["output_key", "run_media_job"]

_log = get_logger("v100.media_processor.processing")
# Where the operation sits in the job's percent: fetching and probing before, storing after.
_OPERATION_START, _OPERATION_END = 5, 95
_STORE_EVERY = 1.0


def output_key(job: MediaJob, filename: str) -> str:
    return f"media/{job.tenant_id}/jobs/{job.id}/{filename}"


@dataclass
class _Hold:
    id: str | None = None
    amount: int = 0


class _Progress:
    """The job's percent: stored (throttled), published live and reported to the queue."""

    def __init__(self, job: JobContext, resources: Resources, row: MediaJob) -> None:
        self.job, self.resources, self.row = job, resources, row
        self.percent = 0
        self._stored_at = 0.0

    async def at(self, percent: int) -> None:
        if percent <= self.percent:
            return
        self.percent = percent
        await lifecycle.publish_progress(
            self.resources.bus, self.row.tenant_id, self.row.id, percent
        )
        await self.job.report_progress(percent)
        if time.monotonic() - self._stored_at >= _STORE_EVERY:
            self._stored_at = time.monotonic()
            async with self.job.unit_of_work() as session:
                await JobRepository(session).change(
                    self.row.id, expect_status=JobStatus.RUNNING, percent=percent
                )

    async def ffmpeg(self, progress: media.Progress) -> None:
        if progress.percent is not None:
            span = _OPERATION_END - _OPERATION_START
            await self.at(_OPERATION_START + int(progress.percent * span / 100))


def _check_limits(info: media.MediaInfo, resources: Resources) -> None:
    settings = resources.settings
    if info.duration > settings.max_source_seconds:
        raise JobFailed(
            "input-too-long",
            f"the input lasts {info.duration:.0f} s; at most "
            f"{settings.max_source_seconds:.0f} s are accepted",
        )
    try:
        media.check_picture(
            info, max_width=settings.max_source_width, max_height=settings.max_source_height
        )
    except media.MediaTooLarge as exc:
        raise JobFailed("input-too-large", str(exc)) from exc


async def run_media_job(job: JobContext, resources: Resources, media_job_id: str) -> None:
    """The job's body: queued (or running, on a retry) -> running -> succeeded | failed."""
    async with job.unit_of_work() as session:
        row = await JobRepository(session).change(
            media_job_id,
            expect_status=(JobStatus.QUEUED, JobStatus.RUNNING),
            status=JobStatus.RUNNING,
            started_at=utcnow(),
        )
    if row is None:
        return  # settled by an earlier run (or failed by the sweep)
    async with failing_as(
        job, partial(_fail, job, resources, row), MEDIA_ERRORS,
        gave_up=("processing-failed", "Processing failed"),
    ):  # fmt: skip
        with tempfile.TemporaryDirectory(prefix=f"v100-media-{row.id}-") as scratch:
            await _run(job, resources, row, Path(scratch))


async def _fail(
    job: JobContext, resources: Resources, row: MediaJob, slug: str, detail: str
) -> None:
    """-> failed, and the hold released: failed work costs nothing."""
    async with job.unit_of_work() as session:
        failed = await lifecycle.mark_failed(session, resources.bus, row.id, slug, detail)
        hold_id = None if failed is None else failed.hold_id
    _log.info("media job failed", job_id=row.id, error=slug, detail=detail[:200])
    if hold_id is not None:
        await credits.TRANSCODE.release(
            resources.billing, work_id=row.id, tenant_id=row.tenant_id, hold_id=hold_id
        )


async def _run(job: JobContext, resources: Resources, row: MediaJob, scratch: Path) -> None:
    storage, settings = resources.storage, resources.settings
    progress = _Progress(job, resources, row)
    source = scratch / "input"
    await download(storage, row.input_key, source)
    info = await media.probe(source)
    _check_limits(info, resources)
    await progress.at(_OPERATION_START)

    hold = _Hold()

    async def reserve(seconds: float) -> None:
        hold.amount = credits_per_started_minute(seconds, settings.credits_per_minute)
        hold.id = await credits.reserve(job, resources, row, hold.amount)

    out_dir = scratch / "out"
    out_dir.mkdir()
    stem = PurePosixPath(row.input_name).stem or "output"
    output = await run_operation(
        row.operation,
        row.params,
        source,
        info,
        out_dir,
        stem,
        on_progress=progress.ffmpeg,
        reserve=reserve,
    )
    await progress.at(_OPERATION_END)
    described = await media.probe(output.path) if output.content_type != "image/jpeg" else None
    key = output_key(row, output.path.name)
    stored = await upload(storage, output.path, key, output.content_type)
    charged = await credits.TRANSCODE.capture(
        resources.billing, work_id=row.id, tenant_id=row.tenant_id, hold_id=hold.id,
        amount=hold.amount,
    )  # fmt: skip
    async with job.unit_of_work() as session:
        await lifecycle.mark_succeeded(
            session,
            resources.bus,
            row.id,
            output_key=key,
            output_size=stored.size,
            output_content_type=output.content_type,
            output_media=None if described is None else described.as_dict(),
            result=output.result or None,
            credits_charged=charged,
        )
    _log.info("media job succeeded", job_id=row.id, operation=row.operation, size=stored.size)
