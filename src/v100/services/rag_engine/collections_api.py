"""rag_engine's routes for ai_orchestration, which owns knowledge bases (ADR 0041, ADR 0046),
under the scope ``service:rag`` that no tenant credential can hold (``contracts/rag.py`` is
their client; the tenant is the internal token's): make a knowledge base's collection with its
embedding model up front, read it, and drop it with every document and passage. Thin: parse,
call ``collections``, shape."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from starlette.responses import Response

from v100.contracts.rag import CollectionIn, CollectionInfo
from v100.kit.auth import Principal
from v100.kit.db import unit_of_work, writers_turn
from v100.kit.http import VENDOR_NOT_CONFIGURED, Authorized, SessionDep
from v100.services.rag_engine import collections
from v100.services.rag_engine.deps import ServiceDep, SettingsDep
from v100.services.rag_engine.errors import CollectionNotFound
from v100.services.rag_engine.models import Collection
from v100.services.rag_engine.repository import CollectionRepository

__all__ = ["collections_router"]

ServiceRag = Annotated[Principal, Depends(Authorized("service:rag"))]
KnowledgeBaseId = Annotated[
    str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
]

collections_router = APIRouter(
    prefix="/v1/documents/collections", tags=["documents (platform services)"]
)


def _info(collection: Collection, documents: int) -> CollectionInfo:
    return CollectionInfo(
        knowledge_base_id=collection.knowledge_base_id,
        embedding_model=collection.embedding_model,
        dimension=collection.dimension,
        documents=documents,
        created_at=collection.created_at,
    )


@collections_router.put(
    "/{knowledge_base_id}", response_model=CollectionInfo, responses=VENDOR_NOT_CONFIGURED
)
async def make_collection(
    knowledge_base_id: KnowledgeBaseId,
    body: CollectionIn,
    principal: ServiceRag,
    settings: SettingsDep,
    service: ServiceDep,
) -> CollectionInfo:
    """Make a knowledge base's collection with its embedding model (the same again: as it is;
    another model: 409 ``collection-model-differs``)."""
    # On SQLite, in turn with the ingestion jobs' writes (kit.db.writers_turn).
    async with writers_turn(service.sessions), unit_of_work(service.sessions) as session:
        made, documents = await collections.make(
            session, settings, principal.tenant_id, knowledge_base_id, body.embedding_model
        )
        return _info(made, documents)


@collections_router.get("/{knowledge_base_id}", response_model=CollectionInfo)
async def get_collection(
    knowledge_base_id: KnowledgeBaseId, principal: ServiceRag, session: SessionDep
) -> CollectionInfo:
    """A knowledge base's collection: its model, its dimension, how many documents."""
    found = await CollectionRepository(session).by_knowledge_base(
        principal.tenant_id, knowledge_base_id
    )
    if found is None:
        raise CollectionNotFound(f"No collection for the knowledge base {knowledge_base_id}.")
    return _info(found, await collections.count_documents(session, found))


@collections_router.delete("/{knowledge_base_id}", status_code=204)
async def drop_collection(
    knowledge_base_id: KnowledgeBaseId,
    principal: ServiceRag,
    service: ServiceDep,
) -> Response:
    """Drop a knowledge base's collection with every document and passage of it (204 also
    when there was none: the knowledge base is gone either way)."""
    async with writers_turn(service.sessions), unit_of_work(service.sessions) as session:
        await collections.drop(session, service.storage, principal.tenant_id, knowledge_base_id)
    return Response(status_code=204)
