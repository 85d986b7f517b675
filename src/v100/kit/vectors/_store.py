"""The one interface both backends implement (``VectorStore``). A store holds no
connection of its own: every call runs in the caller's session, so passages are written in the
same transaction as the caller's rows (a document turns ready and searchable at one commit)."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from v100.kit.vectors._fusion import reciprocal_rank_fusion
from v100.kit.vectors._model import VectorEntry, VectorHit, VectorScope

__all__ = ["HYBRID_DEPTH", "MAX_K", "VectorStore", "check_k"]

# The most passages one search returns.
MAX_K = 200
# Hybrid search fuses this many of each list (at least k): deeper lists let a passage ranked
# well by one method and modestly by the other rise.
HYBRID_DEPTH = 50

Vector = npt.NDArray[np.float32]


class VectorStore(ABC):
    """Passages with their vectors, per tenant and collection, searched by vector (cosine),
    by full text, or both fused by reciprocal rank."""

    backend: str

    @abstractmethod
    async def prepare(self, session: AsyncSession, dimension: int) -> None:
        """Make the index (PostgreSQL) or table (SQLite) for vectors of ``dimension``; nothing
        when it exists. Called before the first vector of a new dimension is added."""

    @abstractmethod
    async def add(
        self,
        session: AsyncSession,
        tenant_id: str,
        collection_id: str,
        dimension: int,
        entries: Sequence[VectorEntry],
    ) -> None:
        """Store ``entries`` (vectors of ``dimension``) in the collection."""

    @abstractmethod
    async def remove(
        self,
        session: AsyncSession,
        tenant_id: str,
        collection_id: str,
        document_ids: Sequence[str] | None = None,
    ) -> int:
        """Remove the documents' passages (None: the whole collection's); how many went."""

    @abstractmethod
    async def count(
        self, session: AsyncSession, tenant_id: str, collection_id: str, document_id: str | None
    ) -> int:
        """How many passages the collection (or one of its documents) holds."""

    async def passages(
        self,
        session: AsyncSession,
        tenant_id: str,
        collection_id: str,
        document_ids: Sequence[str] | None = None,
    ) -> list[VectorHit]:
        """The collection's passages (or its documents'), by document and position, without
        their vectors (``score`` 0): what a caller copies into another vector space."""
        where = "tenant_id = :tenant AND collection_id = :collection"
        params: dict[str, Any] = {"tenant": tenant_id, "collection": collection_id}
        statement = "SELECT id, collection_id, document_id, position, text, attributes FROM "
        statement += f"kit_vectors WHERE {where}"
        if document_ids is not None:
            statement += " AND document_id IN :documents"
            params["documents"] = list(document_ids)
        query = text(statement + " ORDER BY document_id, position, id")
        if document_ids is not None:
            query = query.bindparams(bindparam("documents", expanding=True))
        rows = (await session.execute(query, params)).all()
        return [_stored(row) for row in rows]

    @abstractmethod
    async def vectors(
        self, session: AsyncSession, dimension: int, ids: Sequence[int]
    ) -> dict[int, Vector]:
        """The stored vectors of passages the caller found (their ``VectorHit.id``), for a
        re-ranking that compares passages with each other."""

    @abstractmethod
    async def nearest(
        self, session: AsyncSession, scope: VectorScope, vector: Vector, k: int
    ) -> list[VectorHit]:
        """The ``k`` passages closest to ``vector`` by cosine, best first. A filter narrows
        what is searched, never what is returned: k rows whenever k match."""

    @abstractmethod
    async def matching(
        self, session: AsyncSession, scope: VectorScope, text: str, k: int
    ) -> list[VectorHit]:
        """The ``k`` passages that best match the words of ``text``, best first."""

    async def hybrid(
        self, session: AsyncSession, scope: VectorScope, vector: Vector, text: str, k: int
    ) -> list[VectorHit]:
        """Both lists, fused by reciprocal rank."""
        depth = min(MAX_K, max(k, HYBRID_DEPTH))
        by_vector = await self.nearest(session, scope, vector, depth)
        by_text = await self.matching(session, scope, text, depth)
        return reciprocal_rank_fusion(by_vector, by_text, k)


def _stored(row: Any) -> VectorHit:
    attributes = row.attributes
    if isinstance(attributes, str):  # SQLite's JSON comes back as text
        attributes = json.loads(attributes)
    return VectorHit(
        id=int(row.id), collection_id=row.collection_id, document_id=row.document_id,
        position=int(row.position), text=row.text, attributes=attributes, score=0.0,
    )  # fmt: skip


def check_k(k: int) -> int:
    if not 1 <= k <= MAX_K:
        raise ValueError(f"k is between 1 and {MAX_K}, not {k}")
    return k
