"""The SQLite backend: sqlite-vec's ``vec0`` tables (one per dimension, cosine, partitioned by
collection) and FTS5 (``bm25``) over ``kit_vectors.text``.

``vec0`` searches exactly (it scans the collection's partition, no approximate index), so a
nearest search over whole collections asks it for ``k`` per collection and keeps the best ``k``.
A search with attribute filters computes the distance of just the rows that pass them
(``vec_distance_cosine``): exact too, and never fewer than ``k`` rows when ``k`` match."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sqlalchemy import BindParameter, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from v100.kit.vectors._model import VectorEntry, VectorHit, VectorScope
from v100.kit.vectors._store import Vector, VectorStore, check_k
from v100.kit.vectors._table import vec_table
from v100.kit.vectors._terms import query_terms

__all__ = ["SQLITE_VEC", "SqliteVecStore", "create_vec_table"]

_COLUMNS = "v.id, v.collection_id, v.document_id, v.position, v.text, v.attributes"


def create_vec_table(dimension: int) -> str:
    return (
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {vec_table(dimension)} USING vec0("
        f"collection_id text partition key, embedding float[{dimension}] distance_metric=cosine)"
    )


class SqliteVecStore(VectorStore):
    backend = "sqlite-vec"

    async def prepare(self, session: AsyncSession, dimension: int) -> None:
        await session.execute(text(create_vec_table(dimension)))

    async def add(
        self,
        session: AsyncSession,
        tenant_id: str,
        collection_id: str,
        dimension: int,
        entries: Sequence[VectorEntry],
    ) -> None:
        table = vec_table(dimension)
        for entry in entries:
            if entry.vector.shape != (dimension,):
                raise ValueError(f"a vector of shape {entry.vector.shape} is not {dimension}-d")
        if not entries:
            return
        # The first row takes its id (and SQLite's one write lock, so no writer can race);
        # the others take the ids after it, so both tables are written in a few statements
        # rather than two per entry.
        rows = [
            {
                "tenant": tenant_id, "collection": collection_id, "document": entry.document_id,
                "position": entry.position, "dimension": dimension, "text": entry.text,
                "attributes": json.dumps(dict(entry.attributes)),
            }
            for entry in entries
        ]  # fmt: skip
        inserted = await session.execute(
            text(
                "INSERT INTO kit_vectors (tenant_id, collection_id, document_id, position, "
                "dimension, text, attributes) VALUES (:tenant, :collection, :document, "
                ":position, :dimension, :text, :attributes) RETURNING id"
            ),
            rows[0],
        )
        first = int(inserted.scalar_one())
        if len(rows) > 1:
            await session.execute(
                text(
                    "INSERT INTO kit_vectors (id, tenant_id, collection_id, document_id, "
                    "position, dimension, text, attributes) VALUES (:id, :tenant, :collection, "
                    ":document, :position, :dimension, :text, :attributes)"
                ),
                [{"id": first + index, **row} for index, row in enumerate(rows) if index],
            )
        await session.execute(
            text(
                f"INSERT INTO {table} (rowid, collection_id, embedding) "  # noqa: S608
                "VALUES (:id, :collection, :embedding)"
            ),
            [
                {
                    "id": first + index, "collection": collection_id,
                    "embedding": entry.vector.astype("<f4").tobytes(),
                }
                for index, entry in enumerate(entries)
            ],
        )  # fmt: skip

    async def remove(
        self,
        session: AsyncSession,
        tenant_id: str,
        collection_id: str,
        document_ids: Sequence[str] | None = None,
    ) -> int:
        where = "tenant_id = :tenant AND collection_id = :collection"
        params: dict[str, Any] = {"tenant": tenant_id, "collection": collection_id}
        expanding: list[BindParameter[Any]] = []
        if document_ids is not None:
            where += " AND document_id IN :documents"
            params["documents"] = list(document_ids)
            expanding.append(bindparam("documents", expanding=True))
        rows = (
            await session.execute(
                text(f"SELECT id, dimension FROM kit_vectors WHERE {where}").bindparams(  # noqa: S608
                    *expanding
                ),
                params,
            )
        ).all()
        by_dimension: dict[int, list[int]] = {}
        for row in rows:
            by_dimension.setdefault(int(row.dimension), []).append(int(row.id))
        for dimension, ids in by_dimension.items():
            for first in range(0, len(ids), 500):
                await session.execute(
                    text(f"DELETE FROM {vec_table(dimension)} WHERE rowid IN :ids").bindparams(  # noqa: S608
                        bindparam("ids", expanding=True)
                    ),
                    {"ids": ids[first : first + 500]},
                )
        # The FTS rows go with them (the table's delete trigger).
        await session.execute(
            text(f"DELETE FROM kit_vectors WHERE {where}").bindparams(*expanding),  # noqa: S608
            params,
        )
        return len(rows)

    async def count(
        self, session: AsyncSession, tenant_id: str, collection_id: str, document_id: str | None
    ) -> int:
        params = {"tenant": tenant_id, "collection": collection_id, "document": document_id}
        statement = (
            "SELECT count(*) FROM kit_vectors WHERE tenant_id = :tenant AND "
            "collection_id = :collection AND (:document IS NULL OR document_id = :document)"
        )
        return int(await session.scalar(text(statement), params) or 0)

    async def vectors(
        self, session: AsyncSession, dimension: int, ids: Sequence[int]
    ) -> dict[int, Vector]:
        if not ids:
            return {}
        statement = text(
            f"SELECT rowid, embedding FROM {vec_table(dimension)} "  # noqa: S608
            "WHERE rowid IN :ids"
        ).bindparams(bindparam("ids", expanding=True))
        rows = (await session.execute(statement, {"ids": [int(i) for i in ids]})).all()
        return {int(row[0]): np.frombuffer(row[1], dtype="<f4").astype(np.float32) for row in rows}

    async def nearest(
        self, session: AsyncSession, scope: VectorScope, vector: Vector, k: int
    ) -> list[VectorHit]:
        check_k(k)
        if not scope.collection_ids:
            return []
        table = vec_table(scope.dimension)
        if vector.shape != (scope.dimension,):
            raise ValueError(f"a query vector of shape {vector.shape} is not {scope.dimension}-d")
        where, params, expanding = _scope_filter(scope)
        params |= {"vector": vector.astype("<f4").tobytes(), "k": k}
        if scope.where:
            # Exact over the rows that pass the filter: k rows whenever k match.
            statement = (
                f"SELECT {_COLUMNS}, vec_distance_cosine(x.embedding, :vector) AS distance "  # noqa: S608
                f"FROM kit_vectors v JOIN {table} x ON x.rowid = v.id WHERE {where} "
                "ORDER BY distance, v.id LIMIT :k"
            )
        else:
            # vec0 answers k per partition named in the IN list; the best k of those are the
            # best k overall.
            statement = (
                f"WITH knn AS (SELECT rowid AS id, distance FROM {table} "  # noqa: S608
                "WHERE embedding MATCH :vector AND k = :k AND collection_id IN :collections) "
                f"SELECT {_COLUMNS}, knn.distance FROM knn JOIN kit_vectors v ON v.id = knn.id "
                f"WHERE {where} ORDER BY knn.distance, v.id LIMIT :k"
            )
        bound = text(statement).bindparams(*expanding)
        rows = (await session.execute(bound, params)).all()
        return [_hit(row, 1.0 - float(row.distance)) for row in rows]

    async def matching(
        self, session: AsyncSession, scope: VectorScope, text_query: str, k: int
    ) -> list[VectorHit]:
        check_k(k)
        terms = query_terms(text_query)
        if not terms or not scope.collection_ids:
            return []
        where, params, expanding = _scope_filter(scope)
        # bm25() is lower for better matches.
        statement = (
            f"SELECT {_COLUMNS}, bm25(kit_vectors_fts) AS rank FROM kit_vectors_fts "  # noqa: S608
            "JOIN kit_vectors v ON v.id = kit_vectors_fts.rowid "
            f"WHERE kit_vectors_fts MATCH :match AND {where} ORDER BY rank, v.id LIMIT :k"
        )
        params |= {"match": " OR ".join(f'"{term}"' for term in terms), "k": k}
        rows = (await session.execute(text(statement).bindparams(*expanding), params)).all()
        return [_hit(row, -float(row.rank)) for row in rows]


def _scope_filter(scope: VectorScope) -> tuple[str, dict[str, Any], list[BindParameter[Any]]]:
    clause = "v.tenant_id = :tenant AND v.collection_id IN :collections"
    params: dict[str, Any] = {"tenant": scope.tenant_id, "collections": list(scope.collection_ids)}
    for index, (name, value) in enumerate(sorted(scope.where.items())):
        clause += f" AND json_extract(v.attributes, :path{index}) = :value{index}"
        params[f"path{index}"] = f'$."{name}"'
        params[f"value{index}"] = value
    return clause, params, [bindparam("collections", expanding=True)]


def _hit(row: Any, score: float) -> VectorHit:
    attributes: Mapping[str, Any] = json.loads(row.attributes)
    return VectorHit(
        id=int(row.id), collection_id=row.collection_id, document_id=row.document_id,
        position=int(row.position), text=row.text, attributes=attributes, score=score,
    )  # fmt: skip


SQLITE_VEC = SqliteVecStore()
