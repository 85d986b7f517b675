"""Knowledge bases (ADR 0041, ADR 0046): the record is here (name, description, the embedding
model chosen when it is made); its documents and passages are rag_engine's collection of the
same id, reached through ``contracts.rag`` with the platform scope ``service:rag``. Making one
makes its collection first (with the model), deleting one drops the collection with every
document and passage first, so a knowledge base listed here always has its collection. Its
documents are added, listed, read and deleted through rag_engine, each checked to belong to
the knowledge base named. Agents may name only the tenant's own knowledge bases.

Each change is announced on the durable ``knowledge_bases`` stream (``contracts.events``;
integration turns it into webhooks and the event stream): ``knowledge_base.created`` and
``.deleted`` after their commit, ``knowledge_base.document.added`` and ``.removed`` once
rag_engine accepted them (ADR 0059)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from v100.contracts.events import (
    KNOWLEDGE_BASE_CREATED,
    KNOWLEDGE_BASE_DELETED,
    KNOWLEDGE_BASE_DOCUMENT_ADDED,
    KNOWLEDGE_BASE_DOCUMENT_REMOVED,
    KnowledgeBaseEventData,
    publish_knowledge_base_event,
)
from v100.contracts.rag import DocumentInfo, DocumentPageInfo, RagClient, RagError, RagNotFound
from v100.kit.bus import Bus
from v100.kit.db import Page, new_id, session_hooks, utcnow
from v100.services.ai_orchestration.errors import (
    DocumentNotFound,
    KnowledgeBaseNotFound,
    RagRefused,
    UnknownKnowledgeBases,
)
from v100.services.ai_orchestration.models import KnowledgeBase
from v100.services.ai_orchestration.repository import KnowledgeBaseRepository

__all__ = ["KnowledgeBases", "check_knowledge_bases", "relayed"]

T = TypeVar("T")


async def relayed(call: Awaitable[T]) -> T:
    """rag_engine's answer; its refusal passed on with its own status and type."""
    try:
        return await call
    except RagError as exc:
        raise RagRefused(exc.status, exc.problem) from exc


async def check_knowledge_bases(
    session: AsyncSession, tenant_id: str, knowledge_base_ids: Sequence[str]
) -> None:
    """``UnknownKnowledgeBases`` (422) when an id is not one of the tenant's knowledge bases
    (unknown, deleted, or another tenant's)."""
    if not knowledge_base_ids:
        return
    statement = select(KnowledgeBase.id).where(
        KnowledgeBase.tenant_id == tenant_id, KnowledgeBase.id.in_(list(knowledge_base_ids))
    )
    known = set((await session.execute(statement)).scalars().all())
    missing = [kb for kb in knowledge_base_ids if kb not in known]
    if missing:
        raise UnknownKnowledgeBases(
            f"No such knowledge base: {', '.join(missing)}.",
            extra={
                "errors": [
                    {"loc": ["body", "knowledge_base_ids", knowledge_base_ids.index(kb)],
                     "msg": "no such knowledge base"}
                    for kb in missing
                ]
            },
        )  # fmt: skip


def _event_data(kb: KnowledgeBase, document: DocumentInfo | None = None) -> KnowledgeBaseEventData:
    return KnowledgeBaseEventData(
        id=kb.id, name=kb.name, embedding_model=kb.embedding_model, dimension=kb.dimension,
        document_id=None if document is None else document.id,
        document_status=None if document is None else document.status,
        document_format=None if document is None else document.format,
        document_title=None if document is None else document.title,
    )  # fmt: skip


class KnowledgeBases:
    def __init__(self, rag: RagClient, bus: Bus) -> None:
        self.rag = rag
        self.bus = bus

    def _announce_after_commit(
        self, session: AsyncSession, event_type: str, kb: KnowledgeBase
    ) -> None:
        data, tenant_id, bus = _event_data(kb), kb.tenant_id, self.bus
        session_hooks(session).after_commit(
            lambda: publish_knowledge_base_event(bus, event_type, tenant_id=tenant_id, payload=data)
        )

    async def _announce_document(
        self, event_type: str, kb: KnowledgeBase, document: DocumentInfo
    ) -> None:
        await publish_knowledge_base_event(
            self.bus, event_type, tenant_id=kb.tenant_id, payload=_event_data(kb, document)
        )

    async def create(
        self,
        session: AsyncSession,
        tenant_id: str,
        *,
        name: str,
        description: str,
        embedding_model: str | None,
    ) -> KnowledgeBase:
        """The knowledge base, its collection made first with its model (rag_engine's default
        model when none is named; an unknown one is refused there, 422)."""
        kb_id = new_id()
        made = await relayed(self.rag.make_collection(tenant_id, kb_id, embedding_model))
        kb = await KnowledgeBaseRepository(session).add(
            KnowledgeBase(
                id=kb_id, tenant_id=tenant_id, name=name, description=description,
                embedding_model=made.embedding_model, dimension=made.dimension,
            )
        )  # fmt: skip
        self._announce_after_commit(session, KNOWLEDGE_BASE_CREATED, kb)
        return kb

    async def get(self, session: AsyncSession, tenant_id: str, kb_id: str) -> KnowledgeBase:
        found = await KnowledgeBaseRepository(session).get(tenant_id, kb_id)
        if found is None:
            raise KnowledgeBaseNotFound()
        return found

    async def page(
        self, session: AsyncSession, tenant_id: str, *, limit: int, cursor: str | None
    ) -> Page[KnowledgeBase]:
        return await KnowledgeBaseRepository(session).list(tenant_id, limit=limit, cursor=cursor)

    async def update(
        self, session: AsyncSession, tenant_id: str, kb_id: str, changes: Mapping[str, Any]
    ) -> KnowledgeBase:
        """Its name or description (its model stays: its vectors come from it)."""
        found = await self.get(session, tenant_id, kb_id)
        changed = False
        for field, value in changes.items():
            if getattr(found, field) != value:
                setattr(found, field, value)
                changed = True
        if changed:
            found.updated_at = utcnow()
            await session.flush()
        return found

    async def delete(self, session: AsyncSession, tenant_id: str, kb_id: str) -> None:
        """The knowledge base, after its collection with every document and passage. Agents
        that named it keep the id in their versions; searching it finds nothing."""
        found = await self.get(session, tenant_id, kb_id)
        await relayed(self.rag.drop_collection(tenant_id, kb_id))
        self._announce_after_commit(session, KNOWLEDGE_BASE_DELETED, found)
        await session.delete(found)
        await session.flush()

    # -- documents ------------------------------------------------------------------------

    async def add_document(
        self, kb: KnowledgeBase, body: Mapping[str, Any], idempotency_key: str
    ) -> DocumentInfo:
        added = await relayed(
            self.rag.add_document(
                kb.tenant_id, {**body, "knowledge_base_id": kb.id},
                idempotency_key=_key(kb.id, idempotency_key),
            )
        )  # fmt: skip
        await self._announce_document(KNOWLEDGE_BASE_DOCUMENT_ADDED, kb, added)
        return added

    async def upload_document(
        self,
        kb: KnowledgeBase,
        content: AsyncIterator[bytes],
        *,
        content_type: str | None,
        content_length: int | None,
        params: Mapping[str, str],
        idempotency_key: str,
    ) -> DocumentInfo:
        added = await relayed(
            self.rag.upload_document(
                kb.tenant_id, content, content_type=content_type, content_length=content_length,
                params={**params, "knowledge_base_id": kb.id},
                idempotency_key=_key(kb.id, idempotency_key),
            )
        )  # fmt: skip
        await self._announce_document(KNOWLEDGE_BASE_DOCUMENT_ADDED, kb, added)
        return added

    async def documents(
        self,
        tenant_id: str,
        kb_id: str,
        *,
        status: str | None,
        limit: int,
        cursor: str | None,
    ) -> DocumentPageInfo:
        return await relayed(
            self.rag.documents(tenant_id, kb_id, status=status, limit=limit, cursor=cursor)
        )

    async def document(self, tenant_id: str, kb_id: str, document_id: str) -> DocumentInfo:
        """The document, when it is one of this knowledge base's."""
        try:
            found = await relayed(self.rag.document(tenant_id, document_id))
        except RagRefused as exc:
            if exc.status == 404:
                raise DocumentNotFound() from None
            raise
        if found.knowledge_base_id != kb_id:
            raise DocumentNotFound()
        return found

    async def delete_document(self, kb: KnowledgeBase, document_id: str) -> None:
        found = await self.document(kb.tenant_id, kb.id, document_id)
        try:
            await self.rag.delete_document(kb.tenant_id, document_id)
        except RagNotFound:
            raise DocumentNotFound() from None
        except RagError as exc:
            raise RagRefused(exc.status, exc.problem) from exc
        await self._announce_document(KNOWLEDGE_BASE_DOCUMENT_REMOVED, kb, found)


def _key(kb_id: str, idempotency_key: str) -> str:
    """The caller's key, scoped to the knowledge base (rag_engine keeps keys per tenant)."""
    return f"kb:{kb_id}:{idempotency_key}"[:255]
