"""The PostgreSQL backend: pgvector's HNSW (cosine) over ``kit_vectors.embedding`` and a
generated ``tsvector`` ranked by ``ts_rank_cd``.

Rows of every dimension share the table (``embedding`` is a ``vector`` without a fixed
dimension); each dimension has its own partial HNSW index over ``embedding::halfvec(D)``
(version 2, ADR 0059: half the size of a ``vector`` index, so it stays in shared buffers, and
35-40% less CPU a search at the same recall), and a search names the same expression and
``dimension = D`` so the planner picks it; the k rows it finds are then ordered by their exact
(float32) cosine, which is the score returned. A filtered search
sets ``hnsw.iterative_scan = relaxed_order``: the index scan goes on past ``ef_search`` until
``k`` rows pass the filter (pgvector#719, #785: without it a selective filter leaves fewer
than k), and the relaxed order is sorted again outside a materialized CTE, as pgvector's
README does."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

# Registers pgvector's types with SQLAlchemy's PostgreSQL reflection (schema comparisons).
import pgvector.sqlalchemy  # noqa: F401
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from v100.kit.vectors._model import VectorEntry, VectorHit, VectorScope
from v100.kit.vectors._store import Vector, VectorStore, check_k
from v100.kit.vectors._table import halfvec_index, hnsw_index
from v100.kit.vectors._terms import query_terms

__all__ = [
    "EF_SEARCH",
    "PGVECTOR",
    "TEXT_SEARCH_CONFIG",
    "PgVectorStore",
    "create_halfvec_index",
    "create_hnsw_index",
]

# Candidates the HNSW scan keeps (pgvector's default is 40): bench/vector_ann.py measured
# recall@10 against exact search at 100,000 passages: 0.99 at 64, 0.995 at 100 for a third
# more CPU (ADR 0042, ADR 0059).
EF_SEARCH = 64
# The text search configuration of ``search_text`` (stemming, stop words): English.
TEXT_SEARCH_CONFIG = "english"

_COLUMNS = "v.id, v.collection_id, v.document_id, v.position, v.text, v.attributes"


def vector_literal(vector: Vector) -> str:
    """pgvector's text form, ``[0.1,0.2,...]`` (float32 values, shortest exact repr)."""
    return "[" + ",".join(repr(float(x)) for x in vector.tolist()) + "]"


class PgVectorStore(VectorStore):
    backend = "pgvector"

    def __init__(self, *, ef_search: int = EF_SEARCH) -> None:
        self.ef_search = ef_search

    async def prepare(self, session: AsyncSession, dimension: int) -> None:
        index = halfvec_index(dimension)
        exists = text("SELECT 1 FROM pg_indexes WHERE indexname = :name")
        if await session.scalar(exists, {"name": index}):
            return
        # Two processes preparing one dimension: the second waits, then finds it.
        key = int.from_bytes(hashlib.blake2b(index.encode(), digest_size=8).digest(), signed=True)
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        await session.execute(text(create_halfvec_index(dimension)))

    async def add(
        self,
        session: AsyncSession,
        tenant_id: str,
        collection_id: str,
        dimension: int,
        entries: Sequence[VectorEntry],
    ) -> None:
        if not entries:
            return
        rows = []
        for entry in entries:
            if entry.vector.shape != (dimension,):
                raise ValueError(f"a vector of shape {entry.vector.shape} is not {dimension}-d")
            rows.append(
                {
                    "tenant": tenant_id, "collection": collection_id,
                    "document": entry.document_id, "position": entry.position,
                    "dimension": dimension, "text": entry.text,
                    "attributes": json.dumps(dict(entry.attributes)),
                    "embedding": vector_literal(entry.vector),
                }
            )  # fmt: skip
        await session.execute(
            text(
                "INSERT INTO kit_vectors (tenant_id, collection_id, document_id, position, "
                "dimension, text, attributes, embedding) VALUES (:tenant, "
                ":collection, :document, :position, :dimension, :text, "
                "CAST(:attributes AS jsonb), CAST(:embedding AS vector))"
            ),
            rows,
        )

    async def remove(
        self,
        session: AsyncSession,
        tenant_id: str,
        collection_id: str,
        document_ids: Sequence[str] | None = None,
    ) -> int:
        params: dict[str, Any] = {"tenant": tenant_id, "collection": collection_id}
        statement = (
            "DELETE FROM kit_vectors WHERE tenant_id = :tenant AND collection_id = :collection"
        )
        if document_ids is not None:
            statement += " AND document_id = ANY(:documents)"
            params["documents"] = list(document_ids)
        result = await session.execute(text(statement), params)
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def count(
        self, session: AsyncSession, tenant_id: str, collection_id: str, document_id: str | None
    ) -> int:
        params = {"tenant": tenant_id, "collection": collection_id, "document": document_id}
        statement = (
            "SELECT count(*) FROM kit_vectors WHERE tenant_id = :tenant AND "
            "collection_id = :collection AND (CAST(:document AS text) IS NULL OR "
            "document_id = :document)"
        )
        return int(await session.scalar(text(statement), params) or 0)

    async def vectors(
        self, session: AsyncSession, dimension: int, ids: Sequence[int]
    ) -> dict[int, Vector]:
        if not ids:
            return {}
        statement = text(
            "SELECT id, CAST(embedding AS text) AS embedding FROM kit_vectors "
            "WHERE id = ANY(:ids) AND dimension = :dimension"
        )
        params = {"ids": [int(i) for i in ids], "dimension": dimension}
        rows = (await session.execute(statement, params)).all()
        return {int(row.id): np.array(json.loads(row.embedding), dtype=np.float32) for row in rows}

    async def nearest(
        self, session: AsyncSession, scope: VectorScope, vector: Vector, k: int
    ) -> list[VectorHit]:
        check_k(k)
        if not scope.collection_ids:
            return []
        dimension = int(scope.dimension)
        hnsw_index(dimension)  # checks the dimension before it is written into the SQL
        if vector.shape != (dimension,):
            raise ValueError(f"a query vector of shape {vector.shape} is not {dimension}-d")
        # Both settings in one round trip, for this transaction only (SET LOCAL).
        # At least 2k candidates: with fewer than k, recall@k falls (0.94 at k 50, ef 64).
        ef_search = max(int(self.ef_search), 2 * k)
        await session.execute(_SETTINGS, {"ef_search": str(ef_search)})
        where, params = _scope_filter(scope)
        statement = (
            "WITH nearest AS MATERIALIZED ("  # noqa: S608
            f"SELECT id FROM kit_vectors v WHERE dimension = {dimension} AND {where} "
            f"ORDER BY embedding::halfvec({dimension}) <=> CAST(:half AS halfvec({dimension})) "
            "LIMIT :k) "
            f"SELECT {_COLUMNS}, v.embedding::vector({dimension}) <=> "
            f"CAST(:vector AS vector({dimension})) AS distance "
            "FROM nearest n JOIN kit_vectors v ON v.id = n.id ORDER BY distance, v.id"
        )
        # Two parameters of one text: one parameter would be typed by its first cast (halfvec),
        # and the exact distance would then be computed from the rounded query.
        literal = vector_literal(vector)
        params |= {"half": literal, "vector": literal, "k": k}
        rows = (await session.execute(text(statement), params)).all()
        return [_hit(row, 1.0 - float(row.distance)) for row in rows]

    async def matching(
        self, session: AsyncSession, scope: VectorScope, text_query: str, k: int
    ) -> list[VectorHit]:
        check_k(k)
        terms = query_terms(text_query)
        if not terms or not scope.collection_ids:
            return []
        where, params = _scope_filter(scope)
        statement = (
            f"SELECT {_COLUMNS}, ts_rank_cd(v.search_text, q.query) AS score "  # noqa: S608
            "FROM kit_vectors v, to_tsquery('english', :terms) AS q(query) "
            f"WHERE v.search_text @@ q.query AND {where} "
            "ORDER BY score DESC, v.id LIMIT :k"
        )
        params |= {"terms": " | ".join(terms), "k": k}
        rows = (await session.execute(text(statement), params)).all()
        return [_hit(row, float(row.score)) for row in rows]


_SETTINGS = text(
    "SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true), "
    "set_config('hnsw.ef_search', :ef_search, true)"
)


def create_halfvec_index(dimension: int) -> str:
    """The partial HNSW index (cosine, over ``halfvec``) of one dimension (version 2)."""
    return (
        f"CREATE INDEX IF NOT EXISTS {halfvec_index(dimension)} ON kit_vectors USING hnsw "
        f"((embedding::halfvec({dimension})) halfvec_cosine_ops) "
        f"WHERE dimension = {dimension}"
    )


def create_hnsw_index(dimension: int) -> str:
    """Version 1's partial HNSW index (cosine, over ``vector``) of one dimension (frozen:
    ``migration.create_vector_tables``)."""
    return (
        f"CREATE INDEX IF NOT EXISTS {hnsw_index(dimension)} ON kit_vectors USING hnsw "
        f"((embedding::vector({dimension})) vector_cosine_ops) "
        f"WHERE dimension = {dimension}"
    )


def _scope_filter(scope: VectorScope) -> tuple[str, dict[str, Any]]:
    clause = "v.tenant_id = :tenant AND v.collection_id = ANY(:collections)"
    params: dict[str, Any] = {"tenant": scope.tenant_id, "collections": list(scope.collection_ids)}
    if scope.where:
        clause += " AND v.attributes @> CAST(:where AS jsonb)"
        params["where"] = json.dumps(dict(scope.where))
    return clause, params


def _hit(row: Any, score: float) -> VectorHit:
    attributes: Mapping[str, Any] = row.attributes
    return VectorHit(
        id=int(row.id), collection_id=row.collection_id, document_id=row.document_id,
        position=int(row.position), text=row.text, attributes=attributes, score=score,
    )  # fmt: skip


PGVECTOR = PgVectorStore()
