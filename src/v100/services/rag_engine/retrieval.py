"""rag_engine's domain for finding passages: the tenant's knowledge bases named in a request
(another tenant's ids find nothing), their collections' one vector space (the query embedded
by their model), and the kit's vector store searched by vector, full text or both fused, then
optionally re-ranked (``reranking``: MMR on the stored embeddings). No HTTP objects in here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from v100.ai.embeddings import Embedder
from v100.kit.errors import NotConfigured
from v100.kit.vectors import AttributeValue, VectorHit, VectorScope, vector_store
from v100.services.rag_engine.embedders import EMBEDDERS
from v100.services.rag_engine.errors import MixedEmbeddingModels
from v100.services.rag_engine.repository import CollectionRepository, DocumentRepository
from v100.services.rag_engine.reranking import Vector, mmr
from v100.services.rag_engine.settings import RagEngineSettings

__all__ = ["Found", "Mode", "Retrieval", "Searcher"]

Mode = Literal["vector", "fulltext", "hybrid"]


@dataclass(frozen=True, slots=True)
class Found:
    """A passage found, with the knowledge base and document title it belongs to."""

    hit: VectorHit
    knowledge_base_id: str
    document_title: str | None
    rerank_score: float | None = None

    @property
    def headings(self) -> list[str]:
        return list(self.hit.attributes.get("_headings") or [])

    @property
    def page(self) -> int | None:
        page = self.hit.attributes.get("_page")
        return page if isinstance(page, int) else None

    @property
    def start_seconds(self) -> float | None:
        return _seconds(self.hit.attributes.get("_start"))

    @property
    def end_seconds(self) -> float | None:
        return _seconds(self.hit.attributes.get("_end"))

    @property
    def metadata(self) -> dict[str, Any]:
        return {k: v for k, v in self.hit.attributes.items() if not k.startswith("_")}


async def _embedded(embedder: Embedder, query: str) -> Vector:
    vector: Vector = (await embedder.embed([query])).vectors[0]
    return vector


def _seconds(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


@dataclass(frozen=True, slots=True)
class Retrieval:
    found: list[Found]
    # The knowledge bases' model, which embedded the query (None: nothing to search).
    embedder: Embedder | None


class Searcher:
    def __init__(self, settings: RagEngineSettings) -> None:
        self.settings = settings

    async def search(
        self,
        session: AsyncSession,
        tenant_id: str,
        *,
        query: str,
        knowledge_base_ids: Sequence[str],
        k: int,
        mode: Mode,
        where: Mapping[str, AttributeValue],
        rerank: bool = False,
    ) -> Retrieval:
        collections = await CollectionRepository(session).by_knowledge_bases(
            tenant_id, knowledge_base_ids
        )
        if not collections:
            return Retrieval([], None)
        spaces = {(c.embedding_model, c.dimension) for c in collections}
        if len(spaces) > 1:
            raise MixedEmbeddingModels(
                "These knowledge bases were embedded by different models ("
                + ", ".join(sorted(model for model, _ in spaces))
                + "): search them one model at a time."
            )
        ((model_id, dimension),) = spaces
        embedder = EMBEDDERS.get(model_id, self.settings)
        if embedder is None:
            raise NotConfigured(f"The knowledge bases' model {model_id!r} is not configured here.")
        scope = VectorScope(tenant_id, [c.vectors_id for c in collections], dimension, where=where)
        store = vector_store(session)
        depth = max(k, self.settings.rerank_candidates) if rerank else k
        vector = None if mode == "fulltext" and not rerank else await _embedded(embedder, query)
        if mode == "fulltext":
            hits = await store.matching(session, scope, query, depth)
        elif mode == "vector":
            assert vector is not None
            hits = await store.nearest(session, scope, vector, depth)
        else:
            assert vector is not None
            hits = await store.hybrid(session, scope, vector, query, depth)
        scores: list[float | None] = [None] * len(hits)
        if rerank and hits:
            assert vector is not None
            stored = await store.vectors(session, dimension, [hit.id for hit in hits])
            ranked = mmr(query, vector, hits, stored, k, self.settings.rerank_balance)
            hits, scores = [hit for hit, _ in ranked], [score for _, score in ranked]
        knowledge_bases = {c.vectors_id: c.knowledge_base_id for c in collections}
        titles = await DocumentRepository(session).titles(
            tenant_id, sorted({hit.document_id for hit in hits})
        )
        found = [
            Found(hit, knowledge_bases[hit.collection_id], titles.get(hit.document_id), score)
            for hit, score in zip(hits, scores, strict=True)
        ]
        return Retrieval(found, embedder)
