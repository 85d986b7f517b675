"""rag_engine's queries: a tenant's collections by knowledge base, documents of a tenant (one,
a page, by external id or content hash), any tenant's document for its own job, and the
conditional update that moves a document through its states for one revision without racing
a newer revision or a deletion (it names what it expects and reports whether it won)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update

from v100.kit.db import Page, TenantRepository, utcnow
from v100.services.rag_engine.models import Collection, Document, DocumentStatus

__all__ = ["CollectionRepository", "DocumentRepository"]


class CollectionRepository(TenantRepository[Collection]):
    model = Collection

    async def by_knowledge_base(self, tenant_id: str, knowledge_base_id: str) -> Collection | None:
        statement = self.select_for(tenant_id).where(
            Collection.knowledge_base_id == knowledge_base_id
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def by_knowledge_bases(
        self, tenant_id: str, knowledge_base_ids: Sequence[str]
    ) -> Sequence[Collection]:
        statement = self.select_for(tenant_id).where(
            Collection.knowledge_base_id.in_(list(knowledge_base_ids))
        )
        return (await self.session.execute(statement)).scalars().all()

    async def by_id(self, collection_id: str) -> Collection | None:
        """Any tenant's collection (for a document's own job)."""
        return await self.session.get(Collection, collection_id)

    async def locked(self, collection_id: str) -> Collection | None:
        """The collection as it is now, its row locked to the end of the transaction: vectors
        written into its space and a re-embedding's switch of that space go one at a time."""
        statement = (
            select(Collection)
            .where(Collection.id == collection_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()


class DocumentRepository(TenantRepository[Document]):
    model = Document

    async def page(
        self,
        tenant_id: str,
        *,
        knowledge_base_id: str | None,
        status: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Document]:
        where = []
        if knowledge_base_id is not None:
            where.append(Document.knowledge_base_id == knowledge_base_id)
        if status is not None:
            where.append(Document.status == status)
        return await self.list(tenant_id, limit=limit, cursor=cursor, where=where)

    async def same_source(
        self, tenant_id: str, collection_id: str, external_id: str | None, content_hash: str
    ) -> Document | None:
        """The document a new version replaces: the same external id, or (without one) the
        same content in the collection."""
        statement = self.select_for(tenant_id).where(Document.collection_id == collection_id)
        if external_id is not None:
            statement = statement.where(Document.external_id == external_id)
        else:
            statement = statement.where(
                Document.external_id.is_(None), Document.content_hash == content_hash
            )
        statement = statement.order_by(Document.id).limit(1).with_for_update()
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def titles(self, tenant_id: str, document_ids: Sequence[str]) -> dict[str, str | None]:
        statement = select(Document.id, Document.title).where(
            Document.tenant_id == tenant_id, Document.id.in_(list(document_ids))
        )
        return {row.id: row.title for row in await self.session.execute(statement)}

    async def by_id(self, document_id: str) -> Document | None:
        """Any tenant's document (for its own background run, which knows no tenant filter)."""
        statement = (
            select(Document)
            .where(Document.id == document_id)
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def change(
        self,
        document_id: str,
        revision: int,
        *,
        expect_status: str | Sequence[str],
        **values: Any,
    ) -> Document | None:
        """Set ``values`` when the document is at ``revision`` in ``expect_status``; the row as
        updated, or None when a newer revision, a deletion or another change came first."""
        statuses = [expect_status] if isinstance(expect_status, str) else list(expect_status)
        statement = (
            update(Document)
            .where(
                Document.id == document_id,
                Document.revision == revision,
                Document.status.in_(statuses),
            )
            .values(updated_at=utcnow(), **values)
            .execution_options(synchronize_session=False)
        )
        result = await self.session.execute(statement)
        if not result.rowcount:  # type: ignore[attr-defined]
            return None
        return await self.by_id(document_id)

    async def unsettled(self, limit: int = 500) -> Sequence[Document]:
        """Every tenant's documents not yet settled that have a job (for the sweep)."""
        statement = (
            select(Document)
            .where(
                Document.status.in_(
                    (DocumentStatus.QUEUED, DocumentStatus.PARSING, DocumentStatus.EMBEDDING)
                ),
                Document.job_id.is_not(None),
            )
            .order_by(Document.id)
            .limit(limit)
        )
        return (await self.session.execute(statement)).scalars().all()
