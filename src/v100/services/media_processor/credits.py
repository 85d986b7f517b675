"""How a transcode pays (ADR 0015; the flow is ``contracts.credit_holds``, shared with
video_processing): one hold per media job before encoding, per started minute of output,
captured with the actual amount after, released on failure; keyed by the job, so a retried run
is charged once. The hold's id is kept on the job's row."""

from __future__ import annotations

from v100.contracts.credit_holds import HoldTerms, hold_lifetime
from v100.kit.jobs import JobContext
from v100.services.media_processor.errors import JobFailed
from v100.services.media_processor.models import MediaJob
from v100.services.media_processor.repository import JobRepository
from v100.services.media_processor.resources import Resources

__all__ = ["TRANSCODE", "reserve"]

# The transcode task's limits (tasks.py: three attempts of at most 3 hours): the hold
# outlives them all.
TRANSCODE = HoldTerms(
    kind="media-job",
    reason="media.transcode",
    work="the transcode",
    lifetime=hold_lifetime(3 * 3600, attempts=3),
    failure=JobFailed,
)


async def reserve(job: JobContext, resources: Resources, row: MediaJob, amount: int) -> str | None:
    """Hold ``amount`` before encoding and keep the hold's id on the job's row."""
    hold_id = await TRANSCODE.reserve(
        resources.billing, work_id=row.id, tenant_id=row.tenant_id, created_at=row.created_at,
        amount=amount, last_attempt=job.is_last_attempt,
    )  # fmt: skip
    if hold_id is not None:
        async with job.unit_of_work() as session:
            stored = await JobRepository(session).by_id(row.id)
            if stored is not None:
                stored.hold_id = hold_id
    return hold_id
