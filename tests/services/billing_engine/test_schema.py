"""The billing engine's migrations build exactly what its models declare, on both backends."""

from __future__ import annotations

import pytest

from v100.kit.db import create_engine, migrate, schema_drift
from v100.services.billing_engine.app import DATABASE

pytestmark = pytest.mark.time_sensitive


async def test_the_migrations_build_what_the_models_declare(database_url: str) -> None:
    await migrate("billing_engine", database_url, DATABASE.migrations_dir, DATABASE.metadata)
    engine = create_engine(database_url)
    try:
        assert await schema_drift(engine, "billing_engine", DATABASE.metadata) == []
    finally:
        await engine.dispose()
