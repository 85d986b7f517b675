"""Engines and sessions from a database URL: SQLite (aiosqlite, one file per service, WAL) for
the embedded run and PostgreSQL (asyncpg, a pre-pinged pool) for the distributed one."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

__all__ = ["create_engine", "create_sessionmaker", "is_sqlite", "ping", "sqlite_file"]

log = logging.getLogger(__name__)

# Long enough to ride out another connection's write transaction (SQLite allows one writer).
SQLITE_BUSY_TIMEOUT_MS = 5_000


def is_sqlite(url: str | URL) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_file(url: str | URL) -> Path | None:
    """The database file of a SQLite URL; None for in-memory databases."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return Path(database.removeprefix("file:").split("?", 1)[0])


def create_engine(
    url: str | URL,
    *,
    application_name: str | None = None,
    pool_size: int = 10,
    max_overflow: int = 10,
    connect_timeout: float = 10.0,
    echo: bool = False,
) -> AsyncEngine:
    """An async engine for ``url`` (``sqlite+aiosqlite://`` or ``postgresql+asyncpg://``).

    The pool and timeout arguments apply to PostgreSQL; SQLite keeps SQLAlchemy's pool for
    aiosqlite, with the file's parent directory created and WAL set on every connection.
    """
    url = make_url(url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url, echo=echo)
    if backend == "postgresql":
        connect_args: dict[str, Any] = {"timeout": connect_timeout}
        if application_name:
            connect_args["server_settings"] = {"application_name": application_name}
        return _create_async_engine(
            url,
            echo=echo,
            pool_size=pool_size,
            max_overflow=max_overflow,
            # A restarted or failed-over database leaves dead sockets in the pool; the pre-ping
            # finds them on checkout and reconnects, so no request sees the stale connection.
            pool_pre_ping=True,
            # Below typical load-balancer/NAT idle cut-offs, so idle connections are renewed
            # before something in between silently drops them.
            pool_recycle=1800,
            connect_args=connect_args,
        )
    raise ValueError(f"unsupported database URL {url.render_as_string()!r}")


def _sqlite_engine(url: URL, *, echo: bool) -> AsyncEngine:
    path = sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = _create_async_engine(url, echo=echo)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            # WAL: readers never block the writer; NORMAL sync is durable across process
            # crashes in WAL mode and much cheaper than FULL. Foreign keys are off by default.
            if path is not None:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    return engine


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # Objects stay readable after the commit point, when the response is shaped from them.
    return async_sessionmaker(engine, expire_on_commit=False)


async def ping(engine: AsyncEngine, *, answer_within: float = 2.0) -> bool:
    """True when the database answers ``SELECT 1`` within ``answer_within`` seconds (readiness)."""
    try:
        async with asyncio.timeout(answer_within), engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as exc:  # readiness reports, it does not raise
        log.warning("database ping failed: %s", exc)
        return False
    return True
