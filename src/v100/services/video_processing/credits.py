"""How processing and clips pay (ADR 0015, ADR 0023; the flow is ``contracts.credit_holds``,
shared with media_processor): one hold per video (or clip) before any encoding, per started
minute of output, captured with the actual amount after, released on failure. Keyed by the
video or clip, so a retried job is charged once. The hold's id is kept on its row."""

from __future__ import annotations

from v100.contracts.credit_holds import HoldTerms, hold_lifetime
from v100.kit.jobs import JobContext
from v100.services.video_processing.errors import ProcessingFailed
from v100.services.video_processing.outputs import VideoJob
from v100.services.video_processing.repository import VideoRepository
from v100.services.video_processing.resources import Resources
from v100.services.video_processing.settings import VideoProcessingSettings

__all__ = ["clip_holds", "reserve", "video_holds"]


def video_holds(settings: VideoProcessingSettings) -> HoldTerms:
    """A video's processing; the hold outlives every attempt of the processing job."""
    return HoldTerms(
        kind="video",
        reason="video.processing",
        work="processing",
        lifetime=hold_lifetime(
            settings.processing_timeout_seconds, attempts=settings.processing_attempts
        ),
        failure=ProcessingFailed,
    )


def clip_holds(settings: VideoProcessingSettings) -> HoldTerms:
    """A clip's rendering; the hold outlives every attempt of the clip job."""
    return HoldTerms(
        kind="clip",
        reason="video.clip",
        work="rendering the clip",
        lifetime=hold_lifetime(settings.clip_timeout_seconds, attempts=settings.clip_attempts),
        failure=ProcessingFailed,
    )


async def reserve(
    job: JobContext, resources: Resources, video: VideoJob, amount: int
) -> str | None:
    """Hold the video's credits before any encoding and keep the hold's id on its row."""
    hold_id = await video_holds(resources.settings).reserve(
        resources.billing, work_id=video.id, tenant_id=video.tenant_id,
        created_at=video.created_at, amount=amount, last_attempt=job.is_last_attempt,
    )  # fmt: skip
    if hold_id is None:
        return None
    async with job.unit_of_work() as session:
        row = await VideoRepository(session).by_id(video.id)
        if row is not None:
            row.hold_id = hold_id
    video.hold_id = hold_id
    return hold_id
