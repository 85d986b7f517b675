"""video_processing's migrations build exactly the tables its models declare (the kit's job,
idempotency and tus tables included), on SQLite and PostgreSQL, and downgrade cleanly."""

from __future__ import annotations

from v100.kit.db import create_engine, migrate, schema_drift
from v100.services.video_processing.app import DATABASE


async def test_migrations_match_the_models(database_url: str) -> None:
    await migrate("video_processing", database_url, DATABASE.migrations_dir, DATABASE.metadata)
    engine = create_engine(database_url)
    try:
        assert await schema_drift(engine, "video_processing", DATABASE.metadata) == []
    finally:
        await engine.dispose()
