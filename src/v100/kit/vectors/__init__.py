"""Passages with their embeddings, searched by vector, by full text or both fused, in a
service's own database: pgvector (HNSW, cosine, iterative scans for filters) and a generated
``tsvector`` on PostgreSQL; sqlite-vec (``vec0``) and FTS5 on SQLite. One interface,
``VectorStore``; the backend follows the session's database (ADR 0042).

A service wires it like this:

    # models.py: the table lives in the service's own metadata and database
    add_vector_tables(Base.metadata)

    # migrations/versions/..._vectors.py
    from v100.kit.vectors.migration import create_vector_tables, drop_vector_tables
    def upgrade() -> None: create_vector_tables(dimensions=(384,))

    # in a unit of work: rows and the caller's own changes commit together
    store = vector_store(session)
    await store.prepare(session, 384)                  # a new dimension's index or table
    await store.add(session, tenant_id, collection_id, 384, [VectorEntry(...), ...])
    scope = VectorScope(tenant_id, [collection_id], 384, where={"lang": "en"})
    hits = await store.hybrid(session, scope, query_vector, "the question", k=10)
    await store.remove(session, tenant_id, collection_id, [document_id])
"""

from v100.kit.vectors._choice import vector_store
from v100.kit.vectors._fusion import RRF_K, reciprocal_rank_fusion
from v100.kit.vectors._model import AttributeValue, VectorEntry, VectorHit, VectorScope
from v100.kit.vectors._sqlite_vec import SqliteVecMissing, load_sqlite_vec
from v100.kit.vectors._store import HYBRID_DEPTH, MAX_K, VectorStore
from v100.kit.vectors._table import MAX_DIMENSION, VECTOR_TABLE, add_vector_tables
from v100.kit.vectors._terms import query_terms

__all__ = [
    "HYBRID_DEPTH",
    "MAX_DIMENSION",
    "MAX_K",
    "RRF_K",
    "VECTOR_TABLE",
    "AttributeValue",
    "SqliteVecMissing",
    "VectorEntry",
    "VectorHit",
    "VectorScope",
    "VectorStore",
    "add_vector_tables",
    "load_sqlite_vec",
    "query_terms",
    "reciprocal_rank_fusion",
    "vector_store",
]
