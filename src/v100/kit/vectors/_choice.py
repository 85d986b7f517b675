"""Which store a session's database uses: pgvector on PostgreSQL, sqlite-vec and FTS5 on
SQLite (the same engine the service already has, DESIGN.md section 8)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from v100.kit.vectors._postgres import PGVECTOR
from v100.kit.vectors._sqlite import SQLITE_VEC
from v100.kit.vectors._store import VectorStore

__all__ = ["vector_store"]


def vector_store(session: AsyncSession) -> VectorStore:
    bind = session.bind
    if bind is None:
        raise ValueError("the session is bound to no engine")
    name = bind.dialect.name
    if name == "postgresql":
        return PGVECTOR
    if name == "sqlite":
        return SQLITE_VEC
    raise ValueError(f"no vector store for {name}")
