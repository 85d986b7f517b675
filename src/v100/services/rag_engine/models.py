"""rag_engine's tables: a collection per knowledge base (its embedding model and dimension,
ADR 0041), documents (their source, state and what they cost), the passages with their vectors
(``kit_vectors``, ADR 0042), re-embeddings into another model (ADR 0047), the kit's job table
and the stored answers of idempotent POSTs."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from v100.kit.db import ID_LENGTH, TYPE_ANNOTATION_MAP, TenantOwned, Timestamped, service_metadata
from v100.kit.idempotency import add_idempotency_table
from v100.kit.jobs import add_job_table
from v100.kit.vectors import add_vector_tables


class Base(DeclarativeBase):
    metadata = service_metadata("rag_engine")
    type_annotation_map = TYPE_ANNOTATION_MAP


add_job_table(Base.metadata)
add_idempotency_table(Base.metadata)
add_vector_tables(Base.metadata)

# A knowledge base's id as ai_orchestration (or the tenant) names it.
KNOWLEDGE_BASE_ID_LENGTH = 64


class DocumentStatus(StrEnum):
    """queued -> parsing -> embedding -> ready | failed; a changed document goes back to queued
    (its previous passages stay searchable until the new ones replace them)."""

    QUEUED = "queued"
    PARSING = "parsing"
    EMBEDDING = "embedding"
    READY = "ready"
    FAILED = "failed"


class SourceFormat(StrEnum):
    TEXT = "text"
    MARKDOWN = "markdown"
    HTML = "html"
    PDF = "pdf"
    TRANSCRIPT = "transcript"


class Collection(Base, TenantOwned, Timestamped):
    """A knowledge base's passages, in one vector space: every vector in it comes from
    ``embedding_model``, so vectors of two models are never compared."""

    __tablename__ = "collections"
    __table_args__ = (UniqueConstraint("tenant_id", "knowledge_base_id"),)

    knowledge_base_id: Mapped[str] = mapped_column(String(KNOWLEDGE_BASE_ID_LENGTH))
    embedding_model: Mapped[str] = mapped_column(String(100))
    dimension: Mapped[int] = mapped_column(Integer)
    # The vector space its passages are in (``kit_vectors.collection_id``): None is the
    # collection's own id; a re-embedding writes a new space beside it and switches to it.
    space_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))

    @property
    def vectors_id(self) -> str:
        return self.space_id or self.id


class ReembeddingStatus(StrEnum):
    """queued -> running -> done | failed; done switched the collection to the new model,
    failed left it on the old one."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Reembedding(Base, TenantOwned, Timestamped):
    """A knowledge base's passages embedded again by another model, into a new vector space
    beside the old one (searched until the switch)."""

    __tablename__ = "reembeddings"

    collection_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    knowledge_base_id: Mapped[str] = mapped_column(String(KNOWLEDGE_BASE_ID_LENGTH))
    from_model: Mapped[str] = mapped_column(String(100))
    to_model: Mapped[str] = mapped_column(String(100))
    dimension: Mapped[int] = mapped_column(Integer)
    # The new vector space (``kit_vectors.collection_id`` of the new vectors).
    space_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    status: Mapped[str] = mapped_column(String(16), default=ReembeddingStatus.QUEUED, index=True)
    passage_count: Mapped[int | None] = mapped_column(Integer)
    embedded_count: Mapped[int] = mapped_column(Integer, default=0)
    token_count: Mapped[int | None] = mapped_column(Integer)
    job_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    hold_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    credits_charged: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(64))
    error_detail: Mapped[str | None] = mapped_column(String(500))
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class Document(Base, TenantOwned, Timestamped):
    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("collection_id", "external_id"),)

    collection_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    knowledge_base_id: Mapped[str] = mapped_column(String(KNOWLEDGE_BASE_ID_LENGTH), index=True)
    # The caller's own id for the document: a new version under the same id replaces it.
    external_id: Mapped[str | None] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(String(200))
    format: Mapped[str] = mapped_column(String(16))
    source_kind: Mapped[str] = mapped_column(String(16))  # "content" | "upload" | "transcript"
    # A transcript's id at transcription (source kind "transcript").
    source_transcript_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    source_name: Mapped[str | None] = mapped_column(String(200))
    content_type: Mapped[str | None] = mapped_column(String(100))
    # Where the source is kept until its job has read it.
    source_key: Mapped[str | None] = mapped_column(String(1024))
    source_size: Mapped[int] = mapped_column(BigInteger)
    # sha256 of the format and the source's bytes: the same again is no work.
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    # The caller's metadata, which searches filter on (equality per key).
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default=DocumentStatus.QUEUED, index=True)
    # 1, 2, ...: each new content is a new revision; a job works for one.
    revision: Mapped[int] = mapped_column(Integer, default=1)
    # When this revision's content arrived (its credit hold's expiry counts from it).
    revised_at: Mapped[datetime]

    job_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    hold_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    credits_charged: Mapped[int | None] = mapped_column(Integer)

    # Once ready: what was indexed.
    page_count: Mapped[int | None] = mapped_column(Integer)
    chunk_count: Mapped[int | None] = mapped_column(Integer)
    token_count: Mapped[int | None] = mapped_column(Integer)

    # Once failed: a problem type slug and a sentence for people.
    error: Mapped[str | None] = mapped_column(String(64))
    error_detail: Mapped[str | None] = mapped_column(String(500))
    started_at: Mapped[datetime | None]
    ready_at: Mapped[datetime | None]
