"""How an analysis pays (ADR 0015; the flow is ``contracts.credit_holds``, as transcription's
and media_processor's work): one hold per analysis once the video's length is known, per
started minute of video, captured when the analysis completes, released when it fails; keyed
by the analysis, so a rerun after a killed worker is charged once. The hold's id is kept on the
analysis's row. Clips are video_processing's, charged there (ADR 0060).

The highlights' LLM call is paid by the tenant like ai_orchestration's calls (``LLM``,
``TokenCharge``): before it, the prompt's tokens (counted with cl100k) and the reply's bound
are held at the service's token rates; after it, the vendor's usage is captured (never more
than held); a failed call releases the hold. Keyed by the analysis: a rerun is charged once."""

from __future__ import annotations

import math
from dataclasses import dataclass

from v100.ai.llm import Usage
from v100.contracts.credit_holds import HoldTerms, hold_lifetime
from v100.kit.jobs import JobContext
from v100.services.video_analysis.errors import AnalysisFailed
from v100.services.video_analysis.models import Analysis
from v100.services.video_analysis.repository import AnalysisRepository
from v100.services.video_analysis.resources import Resources

__all__ = ["ANALYSE", "LLM", "TokenCharge", "reserve", "token_credits"]

# The job's limits (tasks.py: three attempts of at most 3 hours): the hold outlives them all.
ANALYSE = HoldTerms(
    kind="analysis",
    reason="video_analysis.analyse",
    work="the analysis",
    lifetime=hold_lifetime(3 * 3600, attempts=3),
    failure=AnalysisFailed,
)

# The highlights' LLM call (within the analysis's job): held and settled around the call.
LLM = HoldTerms(
    kind="analysis-llm",
    reason="video_analysis.highlights_llm",
    work="the highlights' LLM call",
    lifetime=hold_lifetime(3 * 3600, attempts=3),
    failure=AnalysisFailed,
)


def token_credits(usage: Usage, per_1k_input: float, per_1k_output: float) -> int:
    """Credits for a call's tokens: rounded up, at least 1 when anything is charged (as
    ai_orchestration's ``credits_for``)."""
    cost = (usage.input_tokens * per_1k_input + usage.output_tokens * per_1k_output) / 1000
    return 0 if cost <= 0 else max(1, math.ceil(cost - 1e-9))


@dataclass
class TokenCharge:
    """The hold and capture of one analysis's LLM call."""

    job: JobContext
    resources: Resources
    row: Analysis

    def credits(self, usage: Usage) -> int:
        settings = self.resources.settings
        return token_credits(
            usage, settings.llm_credits_per_1k_input, settings.llm_credits_per_1k_output
        )

    async def hold(self, amount: int) -> str | None:
        """Hold ``amount``; ``AnalysisFailed`` (``insufficient-credits``, ...) when refused."""
        return await LLM.reserve(
            self.resources.billing, work_id=self.row.id, tenant_id=self.row.tenant_id,
            created_at=self.row.created_at, amount=amount,
            last_attempt=self.job.is_last_attempt,
        )  # fmt: skip

    async def settle(self, hold_id: str | None, amount: int | None) -> int:
        """Capture ``amount`` (None: the call failed, the hold is released); what was charged."""
        if hold_id is None:
            return 0
        if amount is None:
            await LLM.release(
                self.resources.billing, work_id=self.row.id, tenant_id=self.row.tenant_id,
                hold_id=hold_id,
            )  # fmt: skip
            return 0
        charged = await LLM.capture(
            self.resources.billing, work_id=self.row.id, tenant_id=self.row.tenant_id,
            hold_id=hold_id, amount=amount,
        )  # fmt: skip
        return charged or 0


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
