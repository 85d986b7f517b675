"""How a transcript pays (ADR 0015; the flow is ``contracts.credit_holds``, as media_processor's
transcodes): one hold per transcript once the audio's length is known, per started minute of
audio, captured after the transcription, released on failure; keyed by the transcript, so a
retried run is charged once. The hold's id is kept on the transcript's row."""

from __future__ import annotations

from v100.contracts.credit_holds import HoldTerms, hold_lifetime
from v100.kit.jobs import JobContext
from v100.services.transcription.errors import TranscriptFailed
from v100.services.transcription.models import Transcript
from v100.services.transcription.repository import TranscriptRepository
from v100.services.transcription.resources import Resources

__all__ = ["TRANSCRIBE", "reserve"]

# The job's limits (tasks.py: three attempts of at most 3 hours): the hold outlives them all.
TRANSCRIBE = HoldTerms(
    kind="transcript",
    reason="transcription.transcribe",
    work="the transcript",
    lifetime=hold_lifetime(3 * 3600, attempts=3),
    failure=TranscriptFailed,
)


async def reserve(
    job: JobContext, resources: Resources, row: Transcript, amount: int
) -> str | None:
    """Hold ``amount`` before transcribing and keep the hold's id on the transcript's row."""
    hold_id = await TRANSCRIBE.reserve(
        resources.billing, work_id=row.id, tenant_id=row.tenant_id, created_at=row.created_at,
        amount=amount, last_attempt=job.is_last_attempt,
    )  # fmt: skip
    if hold_id is not None:
        async with job.unit_of_work() as session:
            stored = await TranscriptRepository(session).by_id(row.id)
            if stored is not None:
                stored.hold_id = hold_id
    return hold_id
