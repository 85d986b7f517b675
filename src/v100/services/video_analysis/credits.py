"""How an analysis pays (ADR 0015; the flow is ``contracts.credit_holds``, as transcription's
and media_processor's work): one hold per analysis once the video's length is known, per
started minute of video, captured when the analysis completes, released when it fails; keyed
by the analysis, so a rerun after a killed worker is charged once. The hold's id is kept on the
analysis's row. Clips are video_processing's, charged there (ADR 0060)."""

from __future__ import annotations

from v100.contracts.credit_holds import HoldTerms, hold_lifetime
from v100.kit.jobs import JobContext
from v100.services.video_analysis.errors import AnalysisFailed
from v100.services.video_analysis.models import Analysis
from v100.services.video_analysis.repository import AnalysisRepository
from v100.services.video_analysis.resources import Resources

__all__ = ["ANALYSE", "reserve"]

# The job's limits (tasks.py: three attempts of at most 3 hours): the hold outlives them all.
ANALYSE = HoldTerms(
    kind="analysis",
    reason="video_analysis.analyse",
    work="the analysis",
    lifetime=hold_lifetime(3 * 3600, attempts=3),
    failure=AnalysisFailed,
)


async def reserve(job: JobContext, resources: Resources, row: Analysis, amount: int) -> str | None:
    """Hold ``amount`` before analysing and keep the hold's id on the analysis's row."""
    if row.hold_id is not None:
        return row.hold_id
    hold_id = await ANALYSE.reserve(
        resources.billing, work_id=row.id, tenant_id=row.tenant_id, created_at=row.created_at,
        amount=amount, last_attempt=job.is_last_attempt,
    )  # fmt: skip
    if hold_id is not None:
        async with job.unit_of_work() as session:
            stored = await AnalysisRepository(session).by_id(row.id)
            if stored is not None:
                stored.hold_id = hold_id
    return hold_id
