"""Re-embedding a knowledge base into another embedding model (ADR 0047). The request makes a
``Reembedding`` (queued) and its job; the job copies the collection's passages (text, position,
metadata: no document is parsed again) into a new vector space, embedded by the new model,
while searches and answers keep using the old space. Then, with the collection's row locked,
it checks that the old space still holds exactly the passages it copied (a document ingested,
replaced or deleted meanwhile is copied again or dropped, and the check repeated), and in one
commit switches the collection to the new model and space and deletes the old vectors. A
failure deletes the new space and leaves the old model in place. An ingestion that embedded
with the old model and finds the collection switched is run again (``processing``).

Paid for like an ingestion: a hold of ``credits_per_1k_tokens`` per started 1,000 cl100k
tokens of the passages, keys ``reembedding:<id>:hold|capture|release``, captured after the
switch, released on failure."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from v100.ai.chunking import count_tokens
from v100.ai.embeddings import Embedder, EmbeddingRefused
from v100.contracts.credit_holds import HoldTerms, hold_lifetime
from v100.kit.db import new_id, utcnow, writers_turn
from v100.kit.jobs import JobContext, PermanentJobError, enqueue
from v100.kit.observability import get_logger
from v100.kit.vectors import VectorEntry, VectorHit, vector_store
from v100.services.rag_engine import credits
from v100.services.rag_engine.embedders import EMBEDDERS
from v100.services.rag_engine.errors import (
    EmbeddingModelUnavailable,
    KnowledgeBaseNotFound,
    ReembeddingConflict,
    ReembeddingFailed,
    ReembeddingNotFound,
)
from v100.services.rag_engine.models import Collection, Reembedding, ReembeddingStatus
from v100.services.rag_engine.repository import CollectionRepository
from v100.services.rag_engine.resources import Resources
from v100.services.rag_engine.settings import RagEngineSettings

__all__ = ["JOB", "REEMBED", "get", "request", "run"]

JOB = "rag_engine.reembed"
# The job's limits (tasks.py): three attempts of at most six hours.
JOB_TIMEOUT = 6 * 3600
REEMBED = HoldTerms(
    kind="reembedding",
    reason="rag.reembed",
    work="re-embedding the knowledge base",
    lifetime=hold_lifetime(JOB_TIMEOUT, attempts=3),
    failure=ReembeddingFailed,
)
# Passages embedded and stored at a time (one unit of work each).
_BATCH = 64
# Times the job copies what changed meanwhile before giving up on a knowledge base that keeps
# changing under it.
_ROUNDS = 5
_ACTIVE = (ReembeddingStatus.QUEUED, ReembeddingStatus.RUNNING)
_log = get_logger("v100.rag_engine.reembedding")


async def request(
    session: AsyncSession,
    settings: RagEngineSettings,
    tenant_id: str,
    knowledge_base_id: str,
    model_id: str,
) -> Reembedding:
    """Queue the knowledge base's re-embedding into ``model_id`` (in the caller's unit of
    work): 404 when it has no collection, 422 for a model not run here or the one it has, 409
    while another re-embedding of it is under way."""
    collection = await CollectionRepository(session).by_knowledge_base(tenant_id, knowledge_base_id)
    if collection is None:
        raise KnowledgeBaseNotFound(f"Knowledge base {knowledge_base_id} has no documents here.")
    if model_id == collection.embedding_model:
        raise EmbeddingModelUnavailable(f"The knowledge base is embedded by {model_id} already.")
    embedder = EMBEDDERS.get(model_id, settings)
    if embedder is None:
        raise EmbeddingModelUnavailable(f"The embedding model {model_id!r} is not run here.")
    active = await session.scalar(
        select(Reembedding.id).where(
            Reembedding.collection_id == collection.id, Reembedding.status.in_(_ACTIVE)
        )
    )
    if active is not None:
        raise ReembeddingConflict(
            f"Re-embedding {active} of this knowledge base is under way.",
            extra={"reembedding_id": active},
        )
    row = Reembedding(
        id=new_id(), tenant_id=tenant_id, collection_id=collection.id,
        knowledge_base_id=knowledge_base_id, from_model=collection.embedding_model,
        to_model=model_id, dimension=embedder.model.dimension, space_id=new_id(),
        status=ReembeddingStatus.QUEUED, embedded_count=0,
    )  # fmt: skip
    session.add(row)
    await session.flush()
    row.job_id = await enqueue(
        session, JOB, row.id, tenant_id=tenant_id, dedupe_key=f"reembedding:{row.id}"
    )
    await session.flush()
    return row


async def get(session: AsyncSession, tenant_id: str, reembedding_id: str) -> Reembedding:
    row = await session.get(Reembedding, reembedding_id)
    if row is None or row.tenant_id != tenant_id:
        raise ReembeddingNotFound(f"Re-embedding {reembedding_id} does not exist.")
    return row


async def run(job: JobContext, resources: Resources, reembedding_id: str) -> None:
    """The job's body: queued (or running, on a rerun) -> running -> done | failed."""
    async with job.unit_of_work() as session:
        row = await session.get(Reembedding, reembedding_id)
        if row is None or row.status not in _ACTIVE:
            return
        row.status, row.started_at = ReembeddingStatus.RUNNING, row.started_at or utcnow()
        row.embedded_count = 0
    try:
        await _copy_and_switch(job, resources, row)
    except ReembeddingFailed as exc:
        await _fail(job, resources, row, exc.slug, exc.detail)
        raise PermanentJobError(str(exc)) from exc
    except Exception as exc:
        if job.is_last_attempt:
            detail = f"Re-embedding failed after {job.attempt} attempts ({type(exc).__name__})."
            await _fail(job, resources, row, "reembedding-failed", detail)
        raise


def _by_document(passages: Sequence[VectorHit]) -> dict[str, frozenset[int]]:
    rows: dict[str, set[int]] = {}
    for passage in passages:
        rows.setdefault(passage.document_id, set()).add(passage.id)
    return {document: frozenset(ids) for document, ids in rows.items()}


async def _copy_and_switch(job: JobContext, resources: Resources, row: Reembedding) -> None:
    embedder = EMBEDDERS.get(row.to_model, resources.settings)
    if embedder is None:
        raise ReembeddingFailed(
            "embedding-model-unavailable", f"the model {row.to_model!r} is not run here"
        )
    async with job.unit_of_work() as session:
        collection = await CollectionRepository(session).by_id(row.collection_id)
        if collection is None or collection.embedding_model != row.from_model:
            raise ReembeddingFailed("reembedding-failed", "the knowledge base changed meanwhile")
        old_space = collection.vectors_id
        store = vector_store(session)
        await store.prepare(session, row.dimension)
        # A rerun starts the new space over.
        await store.remove(session, row.tenant_id, row.space_id)
    copied: dict[str, frozenset[int]] = {}
    for _ in range(_ROUNDS):
        async with job.unit_of_work() as session:
            passages = await vector_store(session).passages(session, row.tenant_id, old_space)
        if row.hold_id is None and row.passage_count is None:
            await _hold(job, resources, row, passages)
        current = _by_document(passages)
        stale = {doc for doc, ids in current.items() if copied.get(doc) != ids}
        gone = [doc for doc in copied if doc not in current]
        if stale or gone:
            async with job.unit_of_work() as session:
                await vector_store(session).remove(
                    session, row.tenant_id, row.space_id, [*stale, *gone]
                )
            for doc in gone:
                copied.pop(doc)
            await _copy(job, row, embedder, [p for p in passages if p.document_id in stale])
            copied.update({doc: current[doc] for doc in stale})
        if await _switch(job, resources, row, old_space, copied):
            return
    raise ReembeddingFailed(
        "reembedding-failed",
        f"the knowledge base kept changing during {_ROUNDS} rounds of copying; ask again",
    )


async def _hold(
    job: JobContext, resources: Resources, row: Reembedding, passages: Sequence[VectorHit]
) -> None:
    tokens = sum(count_tokens(passage.text) for passage in passages)
    amount = credits.credits_for_tokens(tokens, resources.settings.credits_per_1k_tokens)
    hold_id = await REEMBED.reserve(
        resources.billing, work_id=row.id, tenant_id=row.tenant_id, created_at=row.created_at,
        amount=amount, last_attempt=job.is_last_attempt,
    )  # fmt: skip
    async with job.unit_of_work() as session:
        stored = await session.get(Reembedding, row.id)
        assert stored is not None
        stored.passage_count, stored.token_count = len(passages), tokens
        stored.hold_id = hold_id
        stored.credits_charged = amount  # what will be captured once it switches
    row.passage_count, row.token_count, row.hold_id = len(passages), tokens, hold_id
    row.credits_charged = amount


async def _copy(
    job: JobContext, row: Reembedding, embedder: Embedder, passages: Sequence[VectorHit]
) -> None:
    for start in range(0, len(passages), _BATCH):
        batch = passages[start : start + _BATCH]
        try:
            embedded = await embedder.embed([passage.text for passage in batch])
        except EmbeddingRefused as exc:
            raise ReembeddingFailed("embedding-refused", str(exc)[:300]) from exc
        entries = [
            VectorEntry(p.document_id, p.position, p.text, vector, dict(p.attributes))
            for p, vector in zip(batch, embedded.vectors, strict=True)
        ]
        async with writers_turn(job.sessions), job.unit_of_work() as session:
            await vector_store(session).add(
                session, row.tenant_id, row.space_id, row.dimension, entries
            )
            stored = await session.get(Reembedding, row.id)
            assert stored is not None
            stored.embedded_count += len(batch)
            done = stored.embedded_count
        if row.passage_count:
            await job.report_progress(min(99.0, 100.0 * done / row.passage_count))


async def _switch(
    job: JobContext,
    resources: Resources,
    row: Reembedding,
    old_space: str,
    copied: dict[str, frozenset[int]],
) -> bool:
    """In one commit, with the collection locked: when the old space holds exactly what was
    copied, the collection takes the new model and space and the old vectors go. False when
    something changed meanwhile (copied again by the caller)."""
    async with writers_turn(job.sessions), job.unit_of_work() as session:
        collection = await CollectionRepository(session).locked(row.collection_id)
        if collection is None or collection.vectors_id != old_space:
            raise ReembeddingFailed("reembedding-failed", "the knowledge base changed meanwhile")
        store = vector_store(session)
        if _by_document(await store.passages(session, row.tenant_id, old_space)) != copied:
            return False
        _switched(collection, row)
        await store.remove(session, row.tenant_id, old_space)
        stored = await session.get(Reembedding, row.id)
        assert stored is not None
        stored.status, stored.finished_at = ReembeddingStatus.DONE, utcnow()
    if row.hold_id is not None:
        try:
            await REEMBED.capture(
                resources.billing, work_id=row.id, tenant_id=row.tenant_id, hold_id=row.hold_id,
                amount=row.credits_charged or 0,
            )  # fmt: skip
        except Exception as exc:  # the switch stands; the hold lapses at its expiry
            _log.warning("re-embedding not captured", reembedding=row.id, error=repr(exc))
    _log.info("knowledge base re-embedded", reembedding=row.id, model=row.to_model)
    return True


def _switched(collection: Collection, row: Reembedding) -> None:
    collection.embedding_model = row.to_model
    collection.dimension = row.dimension
    collection.space_id = row.space_id


async def _fail(
    job: JobContext, resources: Resources, row: Reembedding, slug: str, detail: str
) -> None:
    """-> failed: the new space deleted, the hold released; the collection is untouched."""
    async with writers_turn(job.sessions), job.unit_of_work() as session:
        stored = await session.get(Reembedding, row.id)
        if stored is None or stored.status not in _ACTIVE:
            return
        stored.status, stored.finished_at = ReembeddingStatus.FAILED, utcnow()
        stored.error, stored.error_detail = slug, detail[:500]
        stored.credits_charged = None
        hold_id = stored.hold_id
        await vector_store(session).remove(session, row.tenant_id, row.space_id)
    _log.info("re-embedding failed", reembedding=row.id, error=slug, detail=detail[:200])
    if hold_id is not None:
        await REEMBED.release(
            resources.billing, work_id=row.id, tenant_id=row.tenant_id, hold_id=hold_id
        )
