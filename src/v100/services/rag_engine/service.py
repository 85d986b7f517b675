"""rag_engine's domain for documents: the knowledge base's collection (made on its first document,
with the model new knowledge bases get), sources streamed into object storage under the size
limit (or a completed transcript read from transcription), creating a document or a new revision
of one (the same content again is no work), queueing its ingestion job, reading, listing and
deleting documents (every passage with them). No HTTP objects in here."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from v100.contracts.transcription import (
    FinishedTranscript,
    TranscriptionError,
    TranscriptMissing,
    TranscriptNotFinished,
    connect_transcripts,
)
from v100.kit.db import Page, new_id, session_hooks, utcnow
from v100.kit.errors import UpstreamUnavailable
from v100.kit.jobs import enqueue
from v100.kit.storage import ObjectStore, ReceivedObject, UploadRefusals, receive_bounded
from v100.kit.vectors import vector_store
from v100.services.rag_engine import errors
from v100.services.rag_engine.embedders import EMBEDDERS
from v100.services.rag_engine.errors import DocumentNotFound, DocumentTooLarge, EmptyDocument
from v100.services.rag_engine.models import Collection, Document, DocumentStatus
from v100.services.rag_engine.repository import CollectionRepository, DocumentRepository
from v100.services.rag_engine.settings import RagEngineSettings

__all__ = ["JOB", "DocumentService", "Ingestion", "StoredSource", "source_key"]

JOB = "rag_engine.ingest"


def source_key(tenant_id: str, source_id: str) -> str:
    return f"rag/{tenant_id}/sources/{source_id}"


# receive_bounded's refusals in this service's words.
SOURCE_REFUSALS = UploadRefusals(
    DocumentTooLarge, "A document", EmptyDocument, "The document is empty: send its content."
)


# What a source is once stored: its key, size, SHA-256 and content type.
StoredSource = ReceivedObject


@dataclass(frozen=True, slots=True)
class Ingestion:
    """What to make a document of: where it goes, its source, and what describes it."""

    knowledge_base_id: str
    format: str
    source_kind: str  # "content" | "upload" | "transcript"
    title: str | None = None
    external_id: str | None = None
    source_name: str | None = None
    attributes: Mapping[str, Any] | None = None
    transcript_id: str | None = None


class DocumentService:
    """One instance per request or job: the sessions, the store and the settings."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        storage: ObjectStore,
        settings: RagEngineSettings,
    ) -> None:
        self.sessions = sessions
        self.storage = storage
        self.settings = settings

    # -- sources ----------------------------------------------------------------------------

    async def store_content(
        self, tenant_id: str, content: str | bytes, content_type: str = "text/plain"
    ) -> StoredSource:
        data = content.encode() if isinstance(content, str) else content
        limit = self.settings.max_document_bytes
        if len(data) > limit:
            raise DocumentTooLarge(f"A document takes at most {limit} bytes; this one has "
                                   f"{len(data)}.")  # fmt: skip

        async def body() -> AsyncIterator[bytes]:
            yield data

        return await self.store_upload(
            tenant_id, body(), declared_length=len(data), content_type=content_type
        )

    async def store_upload(
        self,
        tenant_id: str,
        body: AsyncIterator[bytes],
        *,
        declared_length: int | None,
        content_type: str | None,
    ) -> StoredSource:
        """Stream a source into storage: over ``max_document_bytes`` (declared or found) is
        ``DocumentTooLarge``, nothing at all ``EmptyDocument``; nothing is kept on a refusal."""
        return await receive_bounded(
            self.storage, source_key(tenant_id, new_id()), body,
            limit=self.settings.max_document_bytes, declared_length=declared_length,
            content_type=content_type, refusals=SOURCE_REFUSALS,
        )  # fmt: skip

    async def read_transcript(self, tenant_id: str, transcript_id: str) -> FinishedTranscript:
        """A completed transcript of the tenant, from transcription: 404 when there is no
        such one, 409 when it is not completed, 503 when transcription does not answer (or
        answers anything else)."""
        client = connect_transcripts(self.settings.transcription_url, self.settings.platform)
        try:
            return await client.finished(tenant_id, transcript_id)
        except TranscriptMissing:
            raise errors.TranscriptNotFound(f"Transcript {transcript_id} does not exist.") from None
        except TranscriptNotFinished as exc:
            raise errors.TranscriptNotFinished(str(exc.problem.get("detail") or "")) from None
        except TranscriptionError as exc:  # not this caller's doing: as if it did not answer
            raise UpstreamUnavailable(f"transcription answered {exc.status}.") from exc
        finally:
            await client.aclose()

    # -- collections ------------------------------------------------------------------------

    async def collection(
        self, session: AsyncSession, tenant_id: str, knowledge_base_id: str
    ) -> Collection:
        """The knowledge base's collection, made on its first document with the model new
        knowledge bases get (and that model's vector index or table)."""
        collections = CollectionRepository(session)
        found = await collections.by_knowledge_base(tenant_id, knowledge_base_id)
        if found is not None:
            return found
        model = EMBEDDERS.for_new_collection(self.settings)
        try:
            async with session.begin_nested():
                await vector_store(session).prepare(session, model.dimension)
                return await collections.add(
                    Collection(
                        tenant_id=tenant_id, knowledge_base_id=knowledge_base_id,
                        embedding_model=model.id, dimension=model.dimension,
                    )
                )  # fmt: skip
        except IntegrityError:  # made by a concurrent request first
            made = await collections.by_knowledge_base(tenant_id, knowledge_base_id)
            if made is None:
                raise
            return made

    # -- documents (in the request's unit of work) ------------------------------------------

    async def ingest(
        self, session: AsyncSession, tenant_id: str, what: Ingestion, source: StoredSource
    ) -> Document:
        """A new document, or a new revision of the one with the same external id (or, without
        one, the same content); the same content and metadata again answers the document as it
        stands, with no work queued and the new source dropped."""
        collection = await self.collection(session, tenant_id, what.knowledge_base_id)
        attributes = dict(what.attributes or {})
        content_hash = _content_hash(what.format, source.sha256, attributes)
        documents = DocumentRepository(session)
        row = await documents.same_source(tenant_id, collection.id, what.external_id, content_hash)
        if row is not None and row.content_hash == content_hash and row.status != "failed":
            if row.title != what.title and what.title is not None:
                row.title = what.title
            storage, key = self.storage, source.key
            session_hooks(session).after_commit(lambda: storage.delete(key))
            return row
        if row is None:
            row = Document(id=new_id(), tenant_id=tenant_id, collection_id=collection.id,
                           knowledge_base_id=what.knowledge_base_id,
                           external_id=what.external_id, revision=1)  # fmt: skip
            session.add(row)
        else:
            replaced = row.source_key
            if replaced is not None:
                storage = self.storage
                session_hooks(session).after_commit(lambda: storage.delete(replaced))
            row.revision += 1
        row.title = what.title
        row.format = what.format
        row.source_kind = what.source_kind
        row.source_name = what.source_name
        row.source_transcript_id = what.transcript_id
        row.content_type = source.content_type
        row.source_key = source.key
        row.source_size = source.size
        row.content_hash = content_hash
        row.attributes = attributes
        row.status = DocumentStatus.QUEUED
        row.revised_at = utcnow()
        row.hold_id = row.credits_charged = row.error = row.error_detail = None
        await session.flush()
        row.job_id = await enqueue(
            session, JOB, row.id, row.revision, tenant_id=tenant_id,
            dedupe_key=f"document:{row.id}:{row.revision}",
        )  # fmt: skip
        await session.flush()
        return row

    async def get(self, session: AsyncSession, tenant_id: str, document_id: str) -> Document:
        row = await DocumentRepository(session).get(tenant_id, document_id)
        if row is None:
            raise DocumentNotFound(f"Document {document_id} does not exist.")
        return row

    async def page(
        self,
        session: AsyncSession,
        tenant_id: str,
        *,
        knowledge_base_id: str | None,
        status: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Document]:
        return await DocumentRepository(session).page(
            tenant_id, knowledge_base_id=knowledge_base_id, status=status, limit=limit,
            cursor=cursor,
        )  # fmt: skip

    async def delete(self, session: AsyncSession, tenant_id: str, document_id: str) -> None:
        """Forget the document and every passage of it (in this commit), and drop its stored
        source after it. A job still running finds no row and stores nothing."""
        row = await self.get(session, tenant_id, document_id)
        collection = await CollectionRepository(session).locked(row.collection_id)
        space = row.collection_id if collection is None else collection.vectors_id
        await vector_store(session).remove(session, tenant_id, space, [row.id])
        key = row.source_key
        await session.delete(row)
        if key is not None:
            storage = self.storage
            session_hooks(session).after_commit(lambda: storage.delete(key))


def _content_hash(source_format: str, sha256: str, attributes: Mapping[str, Any]) -> str:
    canonical = json.dumps(
        {"format": source_format, "sha256": sha256, "attributes": attributes}, sort_keys=True
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
