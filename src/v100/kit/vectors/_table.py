"""The ``kit_vectors`` table a service keeps in its own database: one row per indexed passage
(its tenant, collection, document, position, text and attributes). What each backend adds is
made by raw SQL in ``migration.py`` and ``prepare`` and never compared by autogenerate:

- PostgreSQL: the ``embedding`` column (pgvector, any dimension), ``search_text`` (a generated
  ``tsvector``) with its GIN index, and one partial HNSW index per dimension (version 2: over
  the vectors cast to ``halfvec``);
- SQLite: ``kit_vectors_fts`` (FTS5 over ``text``, kept by triggers), ``kit_vectors_f32`` (each
  row's float32 vector, by id) and one ``vec0`` virtual table of sign bits per dimension,
  ``kit_vectors_bits_<dimension>`` (version 2, ADR 0059; 32 shards of 512-row chunks since
  version 3; version 1's float ``vec0`` tables,
  ``kit_vectors_vec_<dimension>``, are gone after ``upgrade_vector_tables_to_v2``)."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, MetaData, String, Table, Text
from sqlalchemy.dialects.postgresql import JSONB

from v100.kit.db import ID_LENGTH, backend_only
from v100.kit.vectors._sqlite_vec import load_sqlite_vec

__all__ = [
    "EMBEDDING_COLUMN",
    "F32_TABLE",
    "FTS_TABLE",
    "HNSW_INDEX_PREFIX",
    "MAX_DIMENSION",
    "SEARCH_TEXT_COLUMN",
    "VECTOR_TABLE",
    "add_vector_tables",
    "bits_table",
    "halfvec_index",
    "hnsw_index",
    "vec_table",
]

VECTOR_TABLE = "kit_vectors"
EMBEDDING_COLUMN = "embedding"
SEARCH_TEXT_COLUMN = "search_text"
FTS_TABLE = "kit_vectors_fts"
# SQLite (version 2): the float32 vectors, one row per passage, by the passage's id.
F32_TABLE = "kit_vectors_f32"
HNSW_INDEX_PREFIX = "ix_kit_vectors_hnsw_"
# pgvector's HNSW indexes vectors of at most 2,000 dimensions; a longer model is shortened
# (OpenAI's ``dimensions``) rather than searched without an index.
MAX_DIMENSION = 2000


def vec_table(dimension: int) -> str:
    return f"kit_vectors_vec_{_checked(dimension)}"


def bits_table(dimension: int) -> str:
    return f"kit_vectors_bits_{_checked(dimension)}"


def hnsw_index(dimension: int) -> str:
    """Version 1's HNSW index (over ``vector(D)``)."""
    return f"{HNSW_INDEX_PREFIX}{_checked(dimension)}"


def halfvec_index(dimension: int) -> str:
    """Version 2's HNSW index (over ``halfvec(D)``, ADR 0059)."""
    return f"{HNSW_INDEX_PREFIX}half_{_checked(dimension)}"


def _checked(dimension: int) -> int:
    if not isinstance(dimension, int) or not 0 < dimension <= MAX_DIMENSION:
        raise ValueError(f"a vector has 1 to {MAX_DIMENSION} dimensions, not {dimension!r}")
    return dimension


def add_vector_tables(metadata: MetaData) -> Table:
    """Declare ``kit_vectors`` in a service's metadata (its migration calls
    ``migration.create_vector_tables``). Registers sqlite-vec with this process's SQLite first,
    so every SQLite connection opened afterwards (the app's, the migrations') can use ``vec0``."""
    load_sqlite_vec()
    # Keep in step with ``migration.create_vector_tables`` (the schema test compares the two).
    table = Table(
        VECTOR_TABLE,
        metadata,
        # SQLite: INTEGER PRIMARY KEY is the rowid, which the FTS5 and vec0 rows share.
        Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
        Column("tenant_id", String(ID_LENGTH), nullable=False, index=True),
        Column("collection_id", String(ID_LENGTH), nullable=False),
        Column("document_id", String(ID_LENGTH), nullable=False),
        Column("position", Integer, nullable=False),
        # The vector space (the collection's model) the row's embedding belongs to.
        Column("dimension", Integer, nullable=False),
        Column("text", Text, nullable=False),
        # What filters match (equality on top-level keys) and what the caller wants back.
        Column("attributes", JSON().with_variant(JSONB(), "postgresql"), nullable=False),
        Index("ix_kit_vectors_collection_id_document_id", "collection_id", "document_id"),
    )
    backend_only(
        metadata,
        columns=[f"{VECTOR_TABLE}.{EMBEDDING_COLUMN}", f"{VECTOR_TABLE}.{SEARCH_TEXT_COLUMN}"],
        indexes=["ix_kit_vectors_search_text", f"{HNSW_INDEX_PREFIX}*"],
        tables=[F32_TABLE],
    )
    return table
