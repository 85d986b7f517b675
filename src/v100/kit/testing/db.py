"""Database fixtures: ``database_url`` runs a test once on SQLite and once on a fresh PostgreSQL
database (when ``V100_TEST_POSTGRES_URL`` is set), ``module_database_url`` the same for a whole
module's tests sharing one app, and ``migrated_engine`` builds a service's schema from its real
migrations, never from ``create_all``."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import MetaData
from sqlalchemy.engine import make_url

from v100.kit.db import AsyncEngine, create_engine, drop_database, migrate

__all__ = [
    "POSTGRES_URL_ENV",
    "database_url",
    "fresh_postgres_url",
    "migrated_engine",
    "module_database_url",
    "postgres_admin_url",
]

POSTGRES_URL_ENV = "V100_TEST_POSTGRES_URL"


def postgres_admin_url() -> str | None:
    """The real server's admin URL (database ``postgres``), or None when tests run without it."""
    return os.environ.get(POSTGRES_URL_ENV) or None


def fresh_postgres_url(admin_url: str, prefix: str = "v100_test") -> str:
    """A URL on the same server naming a database that does not exist yet."""
    url = make_url(admin_url).set(database=f"{prefix}_{uuid.uuid4().hex[:16]}")
    return url.render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A URL to an empty database of its own, on each backend.

    The database does not exist yet: ``migrate`` (or ``ensure_database``) creates it, which is
    also what production start-up does. It is dropped after the test.
    """
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/test.db"
        return
    admin_url = postgres_admin_url()
    if admin_url is None:
        pytest.skip(f"{POSTGRES_URL_ENV} is not set (scripts/services/postgres.sh start)")
    url = fresh_postgres_url(admin_url)
    try:
        yield url
    finally:
        await drop_database(url)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def module_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """``database_url`` for a module whose tests share one app on each backend (the test ids
    are the same: ``[sqlite]``, ``[postgres]``): made once per module and backend, dropped after
    its last test. The tests stay apart by tenant, each working for tenants of its own; a test
    that needs a database to itself takes ``database_url``. Synchronous, so that it belongs to
    no event loop: the app's lifespan runs on the module's loop, the drop on one of its own."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('shared-db')}/test.db"
        return
    admin_url = postgres_admin_url()
    if admin_url is None:
        pytest.skip(f"{POSTGRES_URL_ENV} is not set (scripts/services/postgres.sh start)")
    url = fresh_postgres_url(admin_url)
    try:
        yield url
    finally:
        asyncio.run(drop_database(url))


@asynccontextmanager
async def migrated_engine(
    service: str,
    database_url: str,
    migrations_dir: str | Path,
    metadata: MetaData | None = None,
) -> AsyncIterator[AsyncEngine]:
    """An engine on ``database_url`` after ``service``'s migrations ran to head; disposed after.

    Services wrap it in their own fixture:

        @pytest.fixture
        async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
            async with migrated_engine("billing", database_url, MIGRATIONS, Base.metadata) as e:
                yield e
    """
    await migrate(service, database_url, migrations_dir, metadata)
    engine = create_engine(database_url, application_name=f"v100.test.{service}")
    try:
        yield engine
    finally:
        await engine.dispose()
