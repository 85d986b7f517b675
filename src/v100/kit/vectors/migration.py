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
``v100.kit.jobs.migration``: a change to the tables is a new helper, never an edit."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from v100.kit.vectors._postgres import TEXT_SEARCH_CONFIG, create_hnsw_index
from v100.kit.vectors._sqlite import create_vec_table
from v100.kit.vectors._sqlite_vec import load_sqlite_vec
from v100.kit.vectors._table import vec_table

__all__ = ["create_vector_tables", "drop_vector_tables"]


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
