"""DDL for ``kit_vectors``, called from a service's own Alembic revision:

    from v100.kit.vectors.migration import create_vector_tables, drop_vector_tables

    def upgrade() -> None:
        create_vector_tables(dimensions=(384,))

    def downgrade() -> None:
        drop_vector_tables(dimensions=(384,))

On PostgreSQL it adds the pgvector extension, the ``embedding`` and generated ``search_text``
columns, the GIN index and one HNSW index per dimension; on SQLite the FTS5 table with the
triggers that keep it, and one ``vec0`` table per dimension (a dimension not made here is made
by ``VectorStore.prepare`` when its first collection appears). Frozen like
``v100.kit.jobs.migration``: a change to the tables is a new helper, never an edit.

Version 2 (``upgrade_vector_tables_to_v2``, in a later revision of the service; ADR 0059):
SQLite's float ``vec0`` tables give way to ``kit_vectors_f32`` (each passage's float32 vector
by id) and ``kit_vectors_bits_<D>`` (its sign bits, ``vec0`` partitioned by shard of a
collection), which the store's nearest search shortlists and rescores with; PostgreSQL's
HNSW indexes are built again over ``embedding::halfvec(D)``.

Version 3 (``upgrade_vector_tables_to_v3``; ADR 0059, 2026-12-08): SQLite's sign-bit tables
built again with 32 shards a collection in 512-row chunks (version 2: 16 of 128); nothing on
PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from v100.kit.vectors._postgres import (
    TEXT_SEARCH_CONFIG,
    create_halfvec_index,
    create_hnsw_index,
)
from v100.kit.vectors._sqlite import (
    V2_CHUNK_SIZE,
    V2_SHARDS,
    V3_CHUNK_SIZE,
    V3_SHARDS,
    create_bits_table,
    create_f32_table,
    create_vec_table,
    shard,
    sign_bits,
)
from v100.kit.vectors._sqlite_vec import load_sqlite_vec
from v100.kit.vectors._table import F32_TABLE, bits_table, halfvec_index, hnsw_index, vec_table

__all__ = [
    "create_vector_tables",
    "downgrade_vector_tables_from_v2",
    "downgrade_vector_tables_from_v3",
    "drop_vector_tables",
    "upgrade_vector_tables_to_v2",
    "upgrade_vector_tables_to_v3",
]


def create_vector_tables(dimensions: Sequence[int] = (384,)) -> None:
    """Create ``kit_vectors`` (version 1) with each backend's search structures."""
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.create_table(
        "kit_vectors",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("collection_id", sa.String(length=36), nullable=False),
        sa.Column("document_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("dimension", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column(
            "attributes", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kit_vectors")),
    )
    op.create_index(op.f("ix_kit_vectors_tenant_id"), "kit_vectors", ["tenant_id"])
    op.create_index(
        op.f("ix_kit_vectors_collection_id_document_id"),
        "kit_vectors",
        ["collection_id", "document_id"],
    )
    if postgres:
        op.execute("ALTER TABLE kit_vectors ADD COLUMN embedding vector NOT NULL")
        op.execute(
            "ALTER TABLE kit_vectors ADD COLUMN search_text tsvector GENERATED ALWAYS AS "
            f"(to_tsvector('{TEXT_SEARCH_CONFIG}', text)) STORED"
        )
        op.execute("CREATE INDEX ix_kit_vectors_search_text ON kit_vectors USING gin (search_text)")
        for dimension in dimensions:
            op.execute(create_hnsw_index(dimension))
        return
    load_sqlite_vec()  # for connections opened later; this one must have it already
    op.execute(
        "CREATE VIRTUAL TABLE kit_vectors_fts USING fts5(text, content='kit_vectors', "
        "content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')"
    )
    op.execute(
        "CREATE TRIGGER kit_vectors_fts_insert AFTER INSERT ON kit_vectors BEGIN "
        "INSERT INTO kit_vectors_fts (rowid, text) VALUES (new.id, new.text); END"
    )
    op.execute(
        "CREATE TRIGGER kit_vectors_fts_delete AFTER DELETE ON kit_vectors BEGIN "
        "INSERT INTO kit_vectors_fts (kit_vectors_fts, rowid, text) "
        "VALUES ('delete', old.id, old.text); END"
    )
    op.execute(
        "CREATE TRIGGER kit_vectors_fts_update AFTER UPDATE OF text ON kit_vectors BEGIN "
        "INSERT INTO kit_vectors_fts (kit_vectors_fts, rowid, text) "
        "VALUES ('delete', old.id, old.text); "
        "INSERT INTO kit_vectors_fts (rowid, text) VALUES (new.id, new.text); END"
    )
    for dimension in dimensions:
        op.execute(create_vec_table(dimension))


def drop_vector_tables(dimensions: Sequence[int] = (384,)) -> None:
    """Drop what ``create_vector_tables`` made (and the dimensions ``prepare`` added)."""
    # PostgreSQL: the HNSW indexes, every dimension's, go with the table.
    if op.get_bind().dialect.name == "sqlite":
        rows = op.get_bind().exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE name LIKE 'kit\\_vectors\\_vec\\_%' ESCAPE '\\' "
            "AND sql LIKE 'CREATE VIRTUAL TABLE%'"
        )
        made = {row[0] for row in rows} | {vec_table(dimension) for dimension in dimensions}
        for table in sorted(made):
            op.execute(f"DROP TABLE IF EXISTS {table}")
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS kit_vectors_fts_{trigger}")
        op.execute("DROP TABLE IF EXISTS kit_vectors_fts")
    op.drop_index(op.f("ix_kit_vectors_collection_id_document_id"), table_name="kit_vectors")
    op.drop_index(op.f("ix_kit_vectors_tenant_id"), table_name="kit_vectors")
    op.drop_table("kit_vectors")


def _sqlite_tables(prefix: str) -> list[str]:
    rows = op.get_bind().exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE name LIKE ? ESCAPE '\\' "
        "AND sql LIKE 'CREATE VIRTUAL TABLE%'",
        (prefix.replace("_", "\\_") + "%",),
    )
    return sorted(row[0] for row in rows)


def _postgres_dimensions(pattern: str) -> set[int]:
    rows = op.get_bind().execute(
        sa.text(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'kit_vectors' "
            "AND indexname ~ :pattern"
        ),
        {"pattern": pattern},
    )
    return {int(row[0].rsplit("_", 1)[1]) for row in rows}


def upgrade_vector_tables_to_v2(dimensions: Sequence[int] = (384,)) -> None:
    """SQLite: move every vector out of the float ``vec0`` tables into ``kit_vectors_f32`` and
    the sign-bit tables, then drop them. PostgreSQL: each dimension's HNSW index built again
    over ``halfvec`` (the ``vector`` one dropped after)."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        made = _postgres_dimensions("^ix_kit_vectors_hnsw_[0-9]+$")
        for dimension in sorted(made | set(dimensions)):
            op.execute(create_halfvec_index(dimension))
            op.execute(f"DROP INDEX IF EXISTS {hnsw_index(dimension)}")
        return
    if bind.dialect.name != "sqlite":
        return
    load_sqlite_vec()
    op.execute(create_f32_table())
    made = {int(name.rsplit("_", 1)[1]) for name in _sqlite_tables("kit_vectors_vec_")}
    for dimension in sorted(made | set(dimensions)):
        op.execute(create_bits_table(dimension, V2_CHUNK_SIZE))
        if dimension not in made:
            continue
        rows = bind.exec_driver_sql(
            f"SELECT x.rowid, v.collection_id, x.embedding FROM {vec_table(dimension)} x "  # noqa: S608
            "JOIN kit_vectors v ON v.id = x.rowid"
        ).all()
        vectors = [(int(row[0]), row[1], bytes(row[2])) for row in rows]
        if not vectors:
            op.execute(f"DROP TABLE {vec_table(dimension)}")
            continue
        bind.exec_driver_sql(
            f"INSERT INTO {F32_TABLE} (id, embedding) VALUES (?, ?)",  # noqa: S608
            [(row_id, blob) for row_id, _, blob in vectors],
        )
        bind.exec_driver_sql(
            f"INSERT INTO {bits_table(dimension)} (rowid, shard, embedding) "  # noqa: S608
            "VALUES (?, ?, vec_bit(?))",
            [
                (
                    row_id,
                    shard(collection, row_id, V2_SHARDS),
                    sign_bits(np.frombuffer(blob, "<f4")),
                )
                for row_id, collection, blob in vectors
            ],
        )
        op.execute(f"DROP TABLE {vec_table(dimension)}")


def downgrade_vector_tables_from_v2(dimensions: Sequence[int] = (384,)) -> None:
    """Back to version 1: the float ``vec0`` tables filled from ``kit_vectors_f32``; on
    PostgreSQL the ``vector`` HNSW indexes again."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        made = _postgres_dimensions("^ix_kit_vectors_hnsw_half_[0-9]+$")
        for dimension in sorted(made | set(dimensions)):
            op.execute(create_hnsw_index(dimension))
            op.execute(f"DROP INDEX IF EXISTS {halfvec_index(dimension)}")
        return
    if bind.dialect.name != "sqlite":
        return
    load_sqlite_vec()
    made = {int(name.rsplit("_", 1)[1]) for name in _sqlite_tables("kit_vectors_bits_")}
    for dimension in sorted(made | set(dimensions)):
        op.execute(create_vec_table(dimension))
        bind.exec_driver_sql(
            f"INSERT INTO {vec_table(dimension)} (rowid, collection_id, embedding) "  # noqa: S608
            f"SELECT f.id, v.collection_id, f.embedding FROM {F32_TABLE} f "
            "JOIN kit_vectors v ON v.id = f.id WHERE v.dimension = ?",
            (dimension,),
        )
        op.execute(f"DROP TABLE IF EXISTS {bits_table(dimension)}")
    op.execute(f"DROP TABLE IF EXISTS {F32_TABLE}")


def _rebuild_bits_tables(dimensions: Sequence[int], shards: int, chunk_size: int) -> None:
    """Every sign-bit table (those there and ``dimensions``) made again with ``shards``
    partitions a collection in chunks of ``chunk_size`` rows, its bits computed again from
    ``kit_vectors_f32``."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    load_sqlite_vec()
    made = {int(name.rsplit("_", 1)[1]) for name in _sqlite_tables("kit_vectors_bits_")}
    for dimension in sorted(made | set(dimensions)):
        op.execute(f"DROP TABLE IF EXISTS {bits_table(dimension)}")
        op.execute(create_bits_table(dimension, chunk_size))
        rows = bind.exec_driver_sql(
            f"SELECT f.id, v.collection_id, f.embedding FROM {F32_TABLE} f "  # noqa: S608
            "JOIN kit_vectors v ON v.id = f.id WHERE v.dimension = ? ORDER BY f.id",
            (dimension,),
        ).all()
        if not rows:
            continue
        bind.exec_driver_sql(
            f"INSERT INTO {bits_table(dimension)} (rowid, shard, embedding) "  # noqa: S608
            "VALUES (?, ?, vec_bit(?))",
            [
                (
                    int(row[0]),
                    shard(row[1], int(row[0]), shards),
                    sign_bits(np.frombuffer(bytes(row[2]), "<f4")),
                )
                for row in rows
            ],
        )


def upgrade_vector_tables_to_v3(dimensions: Sequence[int] = (384,)) -> None:
    """SQLite: the sign-bit tables made again in version 3's layout (32 shards, 512-row
    chunks). PostgreSQL: nothing."""
    _rebuild_bits_tables(dimensions, V3_SHARDS, V3_CHUNK_SIZE)


def downgrade_vector_tables_from_v3(dimensions: Sequence[int] = (384,)) -> None:
    """Back to version 2's layout (16 shards, 128-row chunks)."""
    _rebuild_bits_tables(dimensions, V2_SHARDS, V2_CHUNK_SIZE)
