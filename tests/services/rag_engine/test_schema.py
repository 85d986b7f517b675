"""rag_engine's migrations build exactly the tables and indexes its models declare (the kit's
job, idempotency and vector tables included; re-embeddings, a collection's vector space and a
document's source transcript), on SQLite and PostgreSQL."""

from __future__ import annotations

from v100.kit.db import create_engine, migrate, schema_drift
from v100.services.rag_engine.app import DATABASE


async def test_migrations_match_the_models(database_url: str) -> None:
    await migrate("rag_engine", database_url, DATABASE.migrations_dir, DATABASE.metadata)
    engine = create_engine(database_url)
    try:
        assert await schema_drift(engine, "rag_engine", DATABASE.metadata) == []
    finally:
        await engine.dispose()
