"""The SQLite backend: each passage's float32 vector in ``kit_vectors_f32``, its sign bits in
sqlite-vec's ``vec0`` (``kit_vectors_bits_<D>``, one per dimension, hamming), and FTS5 (``bm25``)
over ``kit_vectors.text`` (ADR 0059).

``vec0`` has no approximate index, and its exact float scan took 230 ms at 100,000 passages of
384 dimensions. A nearest search therefore shortlists by binary quantization and rescores:
the ``OVERSAMPLE * k`` passages whose sign bits are closest to the query's (hamming, 48 bytes a
passage at 384-d) are read back as floats and ordered by exact cosine. ``vec0``'s top-k costs
about (rows scanned) x (k asked), so each collection is spread over ``SHARDS`` partitions
(``<collection>/<id % SHARDS>``) asked for a share each: the same candidates for a
``SHARDS``-th of the sorting; only the k winners' text and attributes are read. A collection
of at most ``SHARDS * per-shard`` passages is thereby searched exactly. Version 3 (ADR 0059's
second section): 32 partitions of 512-row chunks, and the database file read through ``mmap``.
A search with attribute filters, or in a space of fewer than
``SHORTLIST_MIN_DIMENSION`` dimensions, computes the exact cosine of just the rows that pass
them: k rows whenever k match."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sqlalchemy import BindParameter, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from v100.kit.vectors._model import VectorEntry, VectorHit, VectorScope
from v100.kit.vectors._store import Vector, VectorStore, check_k
from v100.kit.vectors._table import F32_TABLE, bits_table, vec_table
from v100.kit.vectors._terms import query_terms

__all__ = [
    "CHUNK_SIZE",
    "MMAP_SIZE",
    "OVERSAMPLE",
    "SHARDS",
    "SHORTLIST_MIN_DIMENSION",
    "SQLITE_VEC",
    "V2_CHUNK_SIZE",
    "V2_SHARDS",
    "V3_CHUNK_SIZE",
    "V3_SHARDS",
    "SqliteVecStore",
    "create_bits_table",
    "create_f32_table",
    "create_vec_table",
    "sign_bits",
]

# Partitions of a collection's sign bits (see the module's docstring; bench/vector_ann.py):
# 32 of 512-row chunks (version 3) cost half the CPU of version 2's 16 of 128 (ADR 0059).
SHARDS = 32
V3_SHARDS = SHARDS  # the layout ``migration.upgrade_vector_tables_to_v3`` builds
# Candidates shortlisted by hamming distance per passage asked for, rescored by cosine: 40 gave
# recall@10 0.97 against exact search at 100,000 passages (ADR 0059).
OVERSAMPLE = 40
# Fewer sign bits than this say too little about a cosine (32 bits gave recall@10 0.5): a
# space of fewer dimensions is scanned exactly, which at that size is cheap.
SHORTLIST_MIN_DIMENSION = 256
# vec0's largest k.
_VEC0_MAX_K = 4096
# vec0 reads a chunk at a fixed cost (a row of its chunks table, a blob opened), so a scan of
# 100,000 rows in 128-row chunks spent a third of its time on them. vec0 allocates its chunks
# whole: 512 rows of 48 bytes (plus their rowids) make a collection of 32 passages or more
# hold 32 x 29 KB, about 0.9 MB, at least (ADR 0059).
CHUNK_SIZE = 512
V3_CHUNK_SIZE = CHUNK_SIZE
# Version 2's layout (``migration.upgrade_vector_tables_to_v2``, frozen).
V2_SHARDS, V2_CHUNK_SIZE = 16, 128
# SQLite reads pages outside its 2 MB cache with a system call each; the float rows a search
# rescores (150 MB at 100,000 x 384) and the sign-bit chunks it scans are read mapped instead
# (set once per connection by the first search on it).
MMAP_SIZE = 1 << 30
_MMAPPED = "v100.kit.vectors.mmap"

_COLUMNS = "v.id, v.collection_id, v.document_id, v.position, v.text, v.attributes"


def create_vec_table(dimension: int) -> str:
    """Version 1's float ``vec0`` table (``migration.create_vector_tables``; frozen)."""
    return (
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {vec_table(dimension)} USING vec0("
        f"collection_id text partition key, embedding float[{dimension}] distance_metric=cosine)"
    )


def create_f32_table() -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {F32_TABLE} "
        "(id INTEGER NOT NULL PRIMARY KEY, embedding BLOB NOT NULL)"
    )


def create_bits_table(dimension: int, chunk_size: int = CHUNK_SIZE) -> str:
    return (
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {bits_table(dimension)} USING vec0("
        f"shard text partition key, embedding bit[{_bit_count(dimension)}], "
        f"chunk_size={int(chunk_size)})"
    )


def sign_bits(vector: Vector) -> bytes:
    """The vector's binary quantization: bit i is 1 where component i is above 0 (packed as
    sqlite-vec's ``vec_quantize_binary`` packs them), zero-padded to whole bytes."""
    return np.packbits(np.asarray(vector) > 0, bitorder="little").tobytes()


def shard(collection_id: str, row_id: int, shards: int = SHARDS) -> str:
    return f"{collection_id}/{row_id % shards}"


def _bit_count(dimension: int) -> int:
    return math.ceil(dimension / 8) * 8


class SqliteVecStore(VectorStore):
    backend = "sqlite-vec"

    async def prepare(self, session: AsyncSession, dimension: int) -> None:
        await session.execute(text(create_bits_table(dimension)))

    async def add(
        self,
        session: AsyncSession,
        tenant_id: str,
        collection_id: str,
        dimension: int,
        entries: Sequence[VectorEntry],
    ) -> None:
        table = bits_table(dimension)
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
            text(f"INSERT INTO {F32_TABLE} (id, embedding) VALUES (:id, :embedding)"),  # noqa: S608
            [
                {"id": first + index, "embedding": entry.vector.astype("<f4").tobytes()}
                for index, entry in enumerate(entries)
            ],
        )
        await session.execute(
            text(
                f"INSERT INTO {table} (rowid, shard, embedding) "  # noqa: S608
                "VALUES (:id, :shard, vec_bit(:bits))"
            ),
            [
                {
                    "id": first + index, "shard": shard(collection_id, first + index),
                    "bits": sign_bits(entry.vector),
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
                for statement in (
                    f"DELETE FROM {bits_table(dimension)} WHERE rowid IN :ids",  # noqa: S608
                    f"DELETE FROM {F32_TABLE} WHERE id IN :ids",  # noqa: S608
                ):
                    await session.execute(
                        text(statement).bindparams(bindparam("ids", expanding=True)),
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
            f"SELECT f.id, f.embedding FROM {F32_TABLE} f JOIN kit_vectors v ON v.id = f.id "  # noqa: S608
            "WHERE f.id IN :ids AND v.dimension = :dimension"
        ).bindparams(bindparam("ids", expanding=True))
        params = {"ids": [int(i) for i in ids], "dimension": dimension}
        rows = (await session.execute(statement, params)).all()
        return {int(row[0]): np.frombuffer(row[1], dtype="<f4").astype(np.float32) for row in rows}

    async def nearest(
        self, session: AsyncSession, scope: VectorScope, vector: Vector, k: int
    ) -> list[VectorHit]:
        check_k(k)
        if not scope.collection_ids:
            return []
        table = bits_table(scope.dimension)
        if vector.shape != (scope.dimension,):
            raise ValueError(f"a query vector of shape {vector.shape} is not {scope.dimension}-d")
        where, params, expanding = _scope_filter(scope)
        params |= {
            "vector": vector.astype("<f4").tobytes(), "k": k, "dimension": scope.dimension,
        }  # fmt: skip
        if scope.where or scope.dimension < SHORTLIST_MIN_DIMENSION:
            # Exact over the rows that pass the filter: k rows whenever k match.
            statement = (
                f"SELECT {_COLUMNS}, vec_distance_cosine(f.embedding, :vector) AS distance "  # noqa: S608
                f"FROM kit_vectors v JOIN {F32_TABLE} f ON f.id = v.id "
                f"WHERE {where} AND v.dimension = :dimension ORDER BY distance, v.id LIMIT :k"
            )
        else:
            # The shortlist by sign bits (vec0 answers ``per_shard`` rows per partition named
            # in the IN list), rescored by the exact cosine of the float vectors.
            per_shard = min(_VEC0_MAX_K, math.ceil(OVERSAMPLE * k / SHARDS))
            params |= {
                "bits": sign_bits(vector), "per_shard": per_shard,
                "shards": [
                    shard(collection, index)
                    for collection in scope.collection_ids for index in range(SHARDS)
                ],
            }  # fmt: skip
            expanding.append(bindparam("shards", expanding=True))
            # Only the k winners' rows are read whole (text, attributes): the candidates are
            # ranked by id and distance alone.
            statement = (
                f"WITH shortlist AS (SELECT rowid AS id FROM {table} "  # noqa: S608
                "WHERE embedding MATCH vec_bit(:bits) AND k = :per_shard AND shard IN :shards), "
                "best AS MATERIALIZED (SELECT v.id, "
                "vec_distance_cosine(f.embedding, :vector) AS distance FROM shortlist s "
                f"JOIN kit_vectors v ON v.id = s.id JOIN {F32_TABLE} f ON f.id = s.id "
                f"WHERE {where} ORDER BY distance, v.id LIMIT :k) "
                f"SELECT {_COLUMNS}, b.distance FROM best b JOIN kit_vectors v ON v.id = b.id "
                "ORDER BY b.distance, b.id"
            )
        await _map_pages(session)
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


async def _map_pages(session: AsyncSession) -> None:
    """``PRAGMA mmap_size`` on this session's connection, once per DBAPI connection (its
    ``info`` lives as long as it does)."""
    connection = await session.connection()
    info = connection.info
    if not info.get(_MMAPPED):
        await connection.exec_driver_sql(f"PRAGMA mmap_size = {MMAP_SIZE}")
        info[_MMAPPED] = True


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
