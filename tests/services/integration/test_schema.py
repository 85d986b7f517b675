"""integration's migrations (integration0004 adds the CRM's tables) build exactly what its
models declare, on both stacks."""

from __future__ import annotations

from v100.kit.db import create_engine, migrate, schema_drift
from v100.services.integration.app import DATABASE

from .conftest import Stack


async def test_migrations_match_the_models(stack: Stack) -> None:
    await migrate("integration", stack.database_url, DATABASE.migrations_dir, DATABASE.metadata)
    engine = create_engine(stack.database_url)
    try:
        assert await schema_drift(engine, "integration", DATABASE.metadata) == []
    finally:
        await engine.dispose()
