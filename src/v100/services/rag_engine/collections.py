"""A knowledge base's collection, as ai_orchestration asks for it (ADR 0041, ADR 0046): made up
front with the embedding model the knowledge base was created with (the same request again
answers it as it is; another model for an existing one is refused, its vectors would not
compare), and dropped with every document, passage and stored source of it in one commit (a
job still running finds no document and stores nothing)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from v100.kit.db import session_hooks
from v100.kit.errors import Conflict, ValidationFailed
from v100.kit.storage import ObjectStore
from v100.kit.vectors import vector_store
from v100.services.rag_engine.embedders import EMBEDDERS
from v100.services.rag_engine.models import Collection, Document
from v100.services.rag_engine.repository import CollectionRepository
from v100.services.rag_engine.settings import RagEngineSettings

__all__ = [
    "CollectionModelDiffers",
    "EmbeddingModelUnavailable",
    "count_documents",
    "drop",
    "make",
]


class EmbeddingModelUnavailable(ValidationFailed):
    slug = "embedding-model-unavailable"
    title = "This embedding model cannot be used here"


class CollectionModelDiffers(Conflict):
    slug = "collection-model-differs"
    title = "The knowledge base already uses another embedding model"


async def make(
    session: AsyncSession,
    settings: RagEngineSettings,
    tenant_id: str,
    knowledge_base_id: str,
    embedding_model: str | None,
) -> tuple[Collection, int]:
    """The collection (made now with ``embedding_model``, or the default model new knowledge
    bases get) and how many documents it holds."""
    if embedding_model is None:
        model = EMBEDDERS.for_new_collection(settings)
    else:
        embedder = EMBEDDERS.get(embedding_model, settings)
        if embedder is None:
            raise EmbeddingModelUnavailable(
                f"The embedding model {embedding_model!r} is not available on this "
                "installation (the local model is minilm-l6-v2-int8; OpenAI's needs its key).",
                extra={"errors": [{"loc": ["body", "embedding_model"], "msg": "unavailable"}]},
            )
        model = embedder.model
    collections = CollectionRepository(session)
    found = await collections.by_knowledge_base(tenant_id, knowledge_base_id)
    if found is None:
        try:
            # The row first: on SQLite a transaction that begins with a write waits for the
            # file's write lock, while one that began by reading (the vector table's IF NOT
            # EXISTS reads the schema) fails at once with "database is locked" if another
            # connection wrote since its read.
            async with session.begin_nested():
                found = await collections.add(
                    Collection(
                        tenant_id=tenant_id, knowledge_base_id=knowledge_base_id,
                        embedding_model=model.id, dimension=model.dimension,
                    )
                )  # fmt: skip
                await vector_store(session).prepare(session, model.dimension)
        except IntegrityError:  # made by a concurrent request first
            found = await collections.by_knowledge_base(tenant_id, knowledge_base_id)
            if found is None:
                raise
    if found.embedding_model != model.id:
        raise CollectionModelDiffers(
            f"The knowledge base {knowledge_base_id} uses {found.embedding_model}, not {model.id}."
        )
    return found, await count_documents(session, found)


async def drop(
    session: AsyncSession, storage: ObjectStore, tenant_id: str, knowledge_base_id: str
) -> bool:
    """Forget the collection, its documents and passages (in this commit), then their stored
    sources; whether there was one."""
    found = await CollectionRepository(session).by_knowledge_base(tenant_id, knowledge_base_id)
    if found is None:
        return False
    await vector_store(session).remove(session, tenant_id, found.id)
    rows = (
        (
            await session.execute(
                select(Document).where(
                    Document.tenant_id == tenant_id, Document.collection_id == found.id
                )
            )
        )
        .scalars()
        .all()
    )
    keys = [row.source_key for row in rows if row.source_key is not None]
    for row in rows:
        await session.delete(row)
    await session.delete(found)
    await session.flush()

    async def forget_sources() -> None:
        for key in keys:
            await storage.delete(key)

    session_hooks(session).after_commit(forget_sources)
    return True


async def count_documents(session: AsyncSession, collection: Collection) -> int:
    statement = select(func.count()).where(Document.collection_id == collection.id)
    return int((await session.execute(statement)).scalar_one())
