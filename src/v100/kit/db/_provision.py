"""Creating and dropping a service's database: on PostgreSQL each service has its own database
(``v100_<service>``), created on first migration through the server's ``postgres`` database;
on SQLite the file appears by itself on first connect."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine
from sqlalchemy.pool import NullPool

from v100.kit.db._engine import is_sqlite, sqlite_file

__all__ = ["drop_database", "ensure_database"]

log = logging.getLogger(__name__)

# duplicate_database, and unique_violation on pg_database's name index: what the loser of two
# concurrent CREATE DATABASE statements gets, depending on timing.
_ALREADY_EXISTS = {"42P04", "23505"}
_MAINTENANCE_DATABASE = "postgres"


async def ensure_database(url: str | URL) -> bool:
    """Create the database ``url`` names if it does not exist; True when this call created it."""
    url = make_url(url)
    if is_sqlite(url):
        path = sqlite_file(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        return False
    name = _database_name(url)
    async with _maintenance_connection(url) as connection:
        exists = await connection.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        )
        if exists:
            return False
        quoted = connection.dialect.identifier_preparer.quote_identifier(name)
        try:
            await connection.exec_driver_sql(f"CREATE DATABASE {quoted}")
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) in _ALREADY_EXISTS:
                return False  # another process won the race; the database is there
            raise
    log.info("created database %s", name)
    return True


async def drop_database(url: str | URL) -> None:
    """Drop the database ``url`` names (PostgreSQL: closing its connections; SQLite: the file)."""
    url = make_url(url)
    if is_sqlite(url):
        path = sqlite_file(url)
        if path is not None:
            for suffix in ("", "-wal", "-shm"):
                path.with_name(path.name + suffix).unlink(missing_ok=True)
        return
    name = _database_name(url)
    async with _maintenance_connection(url) as connection:
        quoted = connection.dialect.identifier_preparer.quote_identifier(name)
        await connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")


def _database_name(url: URL) -> str:
    if not url.database:
        raise ValueError(f"no database name in {url.render_as_string()!r}")
    if url.database == _MAINTENANCE_DATABASE:
        raise ValueError("refusing to create or drop the maintenance database")
    return url.database


@asynccontextmanager
async def _maintenance_connection(url: URL) -> AsyncIterator[AsyncConnection]:
    """An AUTOCOMMIT connection to the same server's ``postgres`` database: CREATE and DROP
    DATABASE cannot run inside a transaction nor from the database they name."""
    engine = _create_async_engine(
        url.set(database=_MAINTENANCE_DATABASE), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    try:
        async with engine.connect() as connection:
            yield connection
    finally:
        await engine.dispose()
