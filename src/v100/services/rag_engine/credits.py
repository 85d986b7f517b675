"""How a document pays for its embeddings (ADR 0015; the flow is ``contracts.credit_holds``, as
transcription's): one hold per revision once its chunks are made, per started 1,000 tokens
(cl100k counts of the chunks: what is sent to the model), captured after the embeddings,
released on failure; keyed by the document and revision, so a retried run is charged once and
an unchanged re-ingestion (no revision) is not charged at all.

An LLM answer (``ANSWER``) holds what its prompt (counted with cl100k) and its longest reply
would cost before the call, keys ``rag-answer:<id>:hold|capture|release``, and charges what
the vendor counted once it ends: the hold captured, anything beyond it deducted
(``rag-answer:<id>:excess``; the reply cannot pass ``llm_max_tokens``, but the vendor's
tokenizer may count the prompt longer than cl100k); a failed call releases it."""

from __future__ import annotations

import math
from datetime import timedelta

from v100.ai.llm import Usage
from v100.contracts.credit_holds import HoldTerms, hold_lifetime
from v100.kit.jobs import JobContext
from v100.services.rag_engine.errors import AnswerFailed, DocumentFailed
from v100.services.rag_engine.models import Document
from v100.services.rag_engine.repository import DocumentRepository
from v100.services.rag_engine.resources import Resources

__all__ = ["ANSWER", "EMBED", "credits_for_answer", "credits_for_tokens", "reserve", "work_id"]

# The job's limits (tasks.py: three attempts of at most an hour): the hold outlives them all.
EMBED = HoldTerms(
    kind="document",
    reason="rag.embed",
    work="embedding the document",
    lifetime=hold_lifetime(3600, attempts=3),
    failure=DocumentFailed,
)

# One call, answered while the request waits: its hold outlives the longest answer.
ANSWER = HoldTerms(
    kind="rag-answer",
    reason="rag.answer",
    work="the answer",
    lifetime=timedelta(hours=2),
    failure=AnswerFailed,
)


def credits_for_answer(usage: Usage, per_1k_input: float, per_1k_output: float) -> int:
    """Credits for an answer's tokens: rounded up, at least 1 when anything is charged."""
    cost = (usage.input_tokens * per_1k_input + usage.output_tokens * per_1k_output) / 1000
    return 0 if cost <= 0 else max(1, math.ceil(cost - 1e-9))


def credits_for_tokens(tokens: int, per_1k: int) -> int:
    """Credits for embedding ``tokens``: every started 1,000 costs ``per_1k``."""
    return max(1, math.ceil(tokens / 1000)) * per_1k


def work_id(row: Document) -> str:
    return f"{row.id}:{row.revision}"


async def reserve(job: JobContext, resources: Resources, row: Document, amount: int) -> str | None:
    """Hold ``amount`` before embedding and keep the hold's id on the document's row."""
    hold_id = await EMBED.reserve(
        resources.billing, work_id=work_id(row), tenant_id=row.tenant_id,
        created_at=row.revised_at, amount=amount, last_attempt=job.is_last_attempt,
    )  # fmt: skip
    if hold_id is not None:
        async with job.unit_of_work() as session:
            stored = await DocumentRepository(session).by_id(row.id)
            if stored is not None and stored.revision == row.revision:
                stored.hold_id = hold_id
    return hold_id
