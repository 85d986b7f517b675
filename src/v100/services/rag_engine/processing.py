"""Ingesting one revision of a document: read its source, parse it (Markdown, HTML, PDF, text),
cut it into chunks by tokens along its headings, paragraphs and sentences, hold credits for the
tokens, embed the chunks with the knowledge base's model, then, in one commit, replace the
document's passages with the new ones and mark it ready (so it is searchable at once, and a
re-ingestion never leaves it half-indexed). Bad input ends the document ``failed`` with a clear
error, never retried and never stuck; a passing failure (billing, the embedding vendor) is
retried, and so is a run that finds its knowledge base switched to another model by a
re-embedding before it could store its vectors. A rerun after a killed worker starts over from
the stored source and is charged once (the hold's keys derive from the document and
revision)."""

from __future__ import annotations

import asyncio

from v100.ai.chunking import Chunk, ChunkingOptions, chunk_blocks
from v100.ai.embeddings import EmbeddingRefused
from v100.kit.db import writers_turn
from v100.kit.jobs import JobContext, PermanentJobError
from v100.kit.observability import get_logger
from v100.kit.storage import ObjectNotFound
from v100.kit.vectors import VectorEntry, vector_store
from v100.services.rag_engine import credits, lifecycle
from v100.services.rag_engine.embedders import EMBEDDERS
from v100.services.rag_engine.errors import DocumentFailed
from v100.services.rag_engine.models import Document
from v100.services.rag_engine.parsing import Parsed, parse
from v100.services.rag_engine.repository import CollectionRepository
from v100.services.rag_engine.resources import Resources

__all__ = ["ModelSwitched", "fail", "ingest", "passage_attributes"]

_log = get_logger("v100.rag_engine.processing")


class ModelSwitched(Exception):
    """The knowledge base was re-embedded into another model while this run embedded: the
    job is run again (nothing was written)."""


async def ingest(job: JobContext, resources: Resources, document_id: str, revision: int) -> None:
    """The job's body: queued (or a rerun's state) -> parsing -> embedding -> ready | failed."""
    async with job.unit_of_work() as session:
        row = await lifecycle.mark_parsing(session, document_id, revision)
    if row is None:
        return  # settled by an earlier run, replaced by a newer revision, or deleted
    try:
        await _run(job, resources, row)
    except DocumentFailed as exc:
        await fail(job, resources, row, exc.slug, exc.detail)
        raise PermanentJobError(str(exc)) from exc
    except Exception as exc:
        if job.is_last_attempt:
            detail = f"Ingestion failed after {job.attempt} attempts ({type(exc).__name__})."
            await fail(job, resources, row, "ingestion-failed", detail)
        raise


async def fail(
    job: JobContext, resources: Resources, row: Document, slug: str, detail: str
) -> None:
    """-> failed, the hold released (failed work costs nothing) and the source dropped."""
    async with job.unit_of_work() as session:
        failed = await lifecycle.mark_failed(
            session, resources.bus, row.id, row.revision, slug, detail
        )
    _log.info("document failed", document_id=row.id, error=slug, detail=detail[:200])
    if failed is None:
        return
    if failed.hold_id is not None:
        await credits.EMBED.release(
            resources.billing, work_id=credits.work_id(failed), tenant_id=failed.tenant_id,
            hold_id=failed.hold_id,
        )  # fmt: skip
    if failed.source_key is not None:
        await resources.storage.delete(failed.source_key)


def passage_attributes(
    row: Document, chunk: Chunk, seconds: tuple[float, float] | None = None
) -> dict[str, object]:
    """What a passage carries: the document's own metadata (which searches filter on) and,
    under reserved keys, where in the document it is (a transcript's: its seconds too)."""
    attributes = {**row.attributes, "_headings": list(chunk.headings), "_page": chunk.page}
    if seconds is not None:
        attributes["_start"], attributes["_end"] = seconds
    return attributes


async def _run(job: JobContext, resources: Resources, row: Document) -> None:
    settings = resources.settings
    assert row.source_key is not None
    try:
        data = await resources.storage.get(row.source_key)
    except ObjectNotFound as exc:  # a newer revision or a deletion took it
        raise DocumentFailed("ingestion-failed", "the document's source is gone") from exc
    parsed: Parsed = await asyncio.to_thread(parse, data, row.format)
    options = ChunkingOptions(max_tokens=settings.chunk_tokens, overlap=settings.chunk_overlap)
    chunks = await asyncio.to_thread(chunk_blocks, parsed.blocks, options)
    if not chunks:
        raise DocumentFailed("document-empty", _empty_reason(row, parsed))
    tokens = sum(chunk.tokens for chunk in chunks)
    async with job.unit_of_work() as session:
        collection = await CollectionRepository(session).by_id(row.collection_id)
        embedding = await lifecycle.mark_embedding(
            session, row.id, row.revision, page_count=parsed.pages,
            title=row.title or (parsed.title[:200] if parsed.title else None),
        )  # fmt: skip
    if embedding is None or collection is None:
        return  # replaced or deleted meanwhile
    await job.report_progress(30)
    embedder = EMBEDDERS.get(collection.embedding_model, settings)
    if embedder is None:
        raise DocumentFailed(
            "embedding-model-unavailable",
            f"the knowledge base's model {collection.embedding_model!r} is not configured here",
        )
    amount = credits.credits_for_tokens(tokens, settings.credits_per_1k_tokens)
    hold_id = await credits.reserve(job, resources, embedding, amount)
    try:
        embedded = await embedder.embed([chunk.text for chunk in chunks])
    except EmbeddingRefused as exc:
        raise DocumentFailed("embedding-refused", str(exc)[:300]) from exc
    await job.report_progress(80)
    charged = await credits.EMBED.capture(
        resources.billing, work_id=credits.work_id(embedding), tenant_id=row.tenant_id,
        hold_id=hold_id, amount=amount,
    )  # fmt: skip
    seconds = parsed.timeline.spans(chunks) if parsed.timeline else [None] * len(chunks)
    attributes = [
        passage_attributes(embedding, chunk, span)
        for chunk, span in zip(chunks, seconds, strict=True)
    ]
    entries = [
        VectorEntry(row.id, chunk.position, chunk.text, vector, carried)
        for chunk, vector, carried in zip(chunks, embedded.vectors, attributes, strict=True)
    ]
    # The largest write: on SQLite, in this process's turn (kit.db.writers_turn).
    async with writers_turn(job.sessions), job.unit_of_work() as session:
        ready = await lifecycle.mark_ready(
            session, resources.bus, row.id, row.revision, chunk_count=len(chunks),
            token_count=tokens, credits_charged=charged, source_key=None,
        )  # fmt: skip
        if ready is not None:
            # A re-embedding may have switched the knowledge base's model meanwhile: these
            # vectors are of the old one, so the run is made again (retried) with the new.
            now = await CollectionRepository(session).locked(row.collection_id)
            if now is None or now.embedding_model != collection.embedding_model:
                raise ModelSwitched(
                    f"the knowledge base's model is now {now and now.embedding_model}"
                )
            store = vector_store(session)
            await store.remove(session, row.tenant_id, now.vectors_id, [row.id])
            await store.add(session, row.tenant_id, now.vectors_id, now.dimension, entries)
    if ready is not None:
        await resources.storage.delete(row.source_key)
    _log.info("document ready", document_id=row.id, chunks=len(chunks), tokens=tokens)


def _empty_reason(row: Document, parsed: Parsed) -> str:
    if row.format == "pdf":
        return (
            f"no text was found on the PDF's {parsed.pages} page(s): a scanned PDF needs "
            "OCR, which is not done here"
        )
    return "the document has no text to index"
