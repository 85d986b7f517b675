"""transcription's migrations build exactly the tables and indexes its models declare (the kit's
job and idempotency tables included, the partial unique index of automatic transcripts), on
SQLite and PostgreSQL."""

from __future__ import annotations

from v100.kit.db import create_engine, migrate, schema_drift
from v100.services.transcription.app import DATABASE


async def test_migrations_match_the_models(database_url: str) -> None:
    await migrate("transcription", database_url, DATABASE.migrations_dir, DATABASE.metadata)
    engine = create_engine(database_url)
    try:
        assert await schema_drift(engine, "transcription", DATABASE.metadata) == []
    finally:
        await engine.dispose()
