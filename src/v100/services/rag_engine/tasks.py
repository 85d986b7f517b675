"""rag_engine's background jobs (kit.jobs; state in this service's ``kit_jobs`` table):
ingesting one revision of a document (retried on a dead worker or a passing failure, never on
bad input), re-embedding a knowledge base into another model (ADR 0047), and the minute sweep
that fails any document whose queue job ended without settling it (its last runner died),
releasing its credit hold."""

from __future__ import annotations

from v100.kit.jobs import JobContext, JobRegistry, abandoned
from v100.services.rag_engine import processing, reembedding
from v100.services.rag_engine.repository import DocumentRepository
from v100.services.rag_engine.resources import RESOURCES

__all__ = ["ingest", "jobs", "reembed", "settle_abandoned"]

jobs = JobRegistry("rag_engine")


# Three attempts of at most an hour (credits.EMBED's holds outlive them).
@jobs.task(max_attempts=3, backoff=5.0, timeout=3600)
async def ingest(job: JobContext, document_id: str, revision: int) -> None:
    await processing.ingest(job, await RESOURCES.current(), document_id, revision)


@jobs.task(max_attempts=3, backoff=5.0, timeout=reembedding.JOB_TIMEOUT)
async def reembed(job: JobContext, reembedding_id: str) -> None:
    await reembedding.run(job, await RESOURCES.current(), reembedding_id)


@jobs.task(interval=60, max_attempts=1)
async def settle_abandoned(job: JobContext) -> None:
    """Fail the documents whose queue job failed or was cancelled without settling them."""
    resources = await RESOURCES.current()
    async with job.unit_of_work() as session:
        unsettled = await DocumentRepository(session).unsettled()
        rows = await abandoned(session, unsettled, "Ingestion")
    for row, detail in rows:
        await processing.fail(job, resources, row, "ingestion-failed", detail)
