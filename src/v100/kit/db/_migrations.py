"""Each service's own Alembic tree, run from code: ``migrations/versions/*.py`` with no
``env.py``, a version table per service (``alembic_version_<service>``), upgrades to head on
start or by ``v100 migrate``, readiness checks, and new revision files from one shared template."""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
import weakref
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from alembic.autogenerate import RevisionContext, compare_metadata
from alembic.autogenerate.api import AutogenContext
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import rev_id
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from v100.kit.db._engine import create_engine
from v100.kit.db._model import UTCDateTime
from v100.kit.db._provision import ensure_database

__all__ = [
    "backend_only",
    "check_at_head",
    "current_revision",
    "head_revisions",
    "migrate",
    "new_revision",
    "schema_drift",
    "version_table",
]

TEMPLATE_DIR = Path(__file__).with_name("migration_template")
# Date-prefixed names sort in the order they were written: 2026-11-26-1200_initial.py
FILE_TEMPLATE = "%(year)d-%(month).2d-%(day).2d-%(hour).2d%(minute).2d_%(slug)s"
_VERSION_TABLE_PREFIX = "alembic_version_"

# Alembic's ``op`` and ``context`` are module-level proxies: two migrations interleaving on one
# event loop (``v100 up`` migrating every service) would send one's operations to the other.
_loop_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def version_table(service: str) -> str:
    return f"{_VERSION_TABLE_PREFIX}{service}"


def script_directory(migrations_dir: str | Path) -> ScriptDirectory:
    """The revisions in ``<migrations_dir>/versions``, with the shared template for new ones."""
    return ScriptDirectory(
        TEMPLATE_DIR,
        version_locations=[Path(migrations_dir, "versions")],
        file_template=FILE_TEMPLATE,
        timezone="UTC",
        # Callers report what they did; Alembic's own messages would go to stdout.
        messaging_opts={"quiet": True},
    )


@lru_cache(maxsize=64)
def _heads(migrations_dir: Path) -> frozenset[str]:
    return frozenset(script_directory(migrations_dir).get_heads())


def head_revisions(migrations_dir: str | Path) -> frozenset[str]:
    """The head revision(s) on disk; read once per process, since files do not change under a
    running service and readiness asks often."""
    return _heads(Path(migrations_dir).resolve())


async def migrate(
    service: str,
    database_url: str,
    migrations_dir: str | Path,
    metadata: MetaData | None = None,
) -> str | None:
    """Upgrade ``service``'s schema to head and return the revision now current.

    Creates the PostgreSQL database first if needed. Safe to run from several replicas at once:
    on PostgreSQL a per-service advisory lock makes the others wait, then find nothing to do.
    """
    await ensure_database(database_url)
    script = script_directory(migrations_dir)
    engine = create_engine(database_url, application_name=f"v100.{service}.migrate")
    try:
        async with _migration_lock(), engine.connect() as connection:
            revision = await connection.run_sync(_upgrade, script, service, metadata)
            await connection.commit()
    finally:
        await engine.dispose()
    return revision


def _upgrade(
    connection: Connection, script: ScriptDirectory, service: str, metadata: MetaData | None
) -> str | None:
    if connection.dialect.name == "postgresql":
        # Held until commit; taken before reading the version table so the waiter reads the
        # winner's result. PostgreSQL runs DDL in the transaction, so all revisions land or none.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _lock_key(service)})

    def upgrade_to_head(revision: Any, _context: MigrationContext) -> Any:
        return script._upgrade_revs("head", revision)

    with EnvironmentContext(Config(), script, fn=upgrade_to_head, destination_rev="head") as env:
        env.configure(
            connection=connection,
            target_metadata=metadata,
            version_table=version_table(service),
        )
        with env.begin_transaction():
            env.run_migrations()
        return env.get_context().get_current_revision()


def _lock_key(service: str) -> int:
    digest = hashlib.blake2b(f"v100.migrate.{service}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, signed=True)


def _migration_lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lock = _loop_locks.get(loop)
    if lock is None:
        lock = _loop_locks[loop] = asyncio.Lock()
    return lock


async def current_revision(engine: AsyncEngine, service: str) -> str | None:
    """The revision recorded in ``service``'s version table; None before the first migration."""
    async with engine.connect() as connection:
        return await connection.run_sync(_current_revision, service)


def _current_revision(connection: Connection, service: str) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": version_table(service)})
    return context.get_current_revision()


async def check_at_head(engine: AsyncEngine, service: str, migrations_dir: str | Path) -> bool:
    """True when the database is at the head revision on disk (readiness: a replica must not
    serve a schema older than its code)."""
    async with engine.connect() as connection:
        heads = await connection.run_sync(_current_heads, service)
    return frozenset(heads) == head_revisions(migrations_dir)


def _current_heads(connection: Connection, service: str) -> tuple[str, ...]:
    context = MigrationContext.configure(connection, opts={"version_table": version_table(service)})
    return context.get_current_heads()


def _is_service_table(
    service: str,
) -> Callable[[str | None, str, Any], bool]:
    # Several services may share one database (and each has its own version table): a table that
    # is another service's version table is neither ours nor "removed".
    def include_name(name: str | None, type_: str, _parent: Any) -> bool:
        if type_ == "table" and name is not None and name.startswith(_VERSION_TABLE_PREFIX):
            return name == version_table(service)
        return True

    return include_name


def backend_only(
    metadata: MetaData,
    *,
    columns: Iterable[str] = (),
    indexes: Iterable[str] = (),
    tables: Iterable[str] = (),
) -> None:
    """Name what migrations make with raw SQL for one backend and the models cannot declare (a
    pgvector column, a generated ``tsvector``, an index made at run time, a table only one
    backend has), so that ``schema_drift`` and autogenerate leave them alone: columns as
    ``table.column``, indexes and tables by name, a trailing ``*`` for a prefix. SQLite's
    virtual tables and their shadow tables (``<virtual>_*``) are always left alone."""
    named = metadata.info.setdefault("backend_only", {})
    for kind, names in (("columns", columns), ("indexes", indexes), ("tables", tables)):
        named.setdefault(kind, set()).update(names)


def _named(patterns: Iterable[str], name: str) -> bool:
    return any(
        name.startswith(pattern[:-1]) if pattern.endswith("*") else name == pattern
        for pattern in patterns
    )


def _virtual_tables(connection: Connection) -> tuple[str, ...]:
    if connection.dialect.name != "sqlite":
        return ()
    statement = text(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%'"
    )
    return tuple(connection.execute(statement).scalars())


def _compared(
    connection: Connection, service: str, metadata: MetaData
) -> tuple[Callable[..., bool], Callable[..., bool]]:
    """Alembic's filters for a comparison: this service's tables, without what
    ``backend_only`` names, nor virtual tables and their shadows."""
    own_table = _is_service_table(service)
    virtual = _virtual_tables(connection)
    named = metadata.info.get("backend_only", {})
    columns, indexes, tables = (named.get(kind, set()) for kind in ("columns", "indexes", "tables"))

    def include_name(name: str | None, type_: str, parent: Any) -> bool:
        if (
            type_ == "table"
            and name is not None
            and (
                name in virtual
                or any(name.startswith(f"{table}_") for table in virtual)
                or _named(tables, name)
            )
        ):
            return False
        return own_table(name, type_, parent)

    def include_object(obj: Any, name: str | None, type_: str, *_: Any) -> bool:
        if name is None:
            return True
        if type_ == "column":
            return not _named(columns, f"{obj.table.name}.{name}")
        if type_ == "index":
            return not _named(indexes, name)
        return True

    return include_name, include_object


def _render_item(type_: str, obj: Any, _autogen_context: AutogenContext) -> str | Literal[False]:
    # Migrations stay plain SQLAlchemy: they must not break when kit types move or change.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


async def schema_drift(engine: AsyncEngine, service: str, metadata: MetaData) -> list[Any]:
    """What the models declare that the migrated database lacks (or the reverse): an empty
    list when the migrations and the models agree. Services assert this in a test."""
    async with engine.connect() as connection:
        return await connection.run_sync(_schema_drift, service, metadata)


def _schema_drift(connection: Connection, service: str, metadata: MetaData) -> list[Any]:
    include_name, include_object = _compared(connection, service, metadata)
    context = MigrationContext.configure(
        connection,
        opts={
            "version_table": version_table(service),
            "target_metadata": metadata,
            "compare_type": True,
            "include_name": include_name,
            "include_object": include_object,
        },
    )
    return list(compare_metadata(context, metadata))


async def new_revision(
    service: str,
    migrations_dir: str | Path,
    message: str,
    *,
    metadata: MetaData | None = None,
    database_url: str | None = None,
) -> Path:
    """Write a new revision file after the current head and return its path.

    With ``metadata``, the file is autogenerated: the migrations so far are applied to
    ``database_url`` (default: a scratch SQLite file) and the models are compared to it. Review
    the result; autogenerate misses renames and some type changes.
    """
    script = script_directory(migrations_dir)
    if metadata is None:
        return await asyncio.to_thread(_empty_revision, script, message)
    with tempfile.TemporaryDirectory(prefix="v100-autogen-") as scratch:
        url = database_url or f"sqlite+aiosqlite:///{scratch}/{service}.db"
        await migrate(service, url, migrations_dir, metadata)
        engine = create_engine(url)
        try:
            async with _migration_lock(), engine.connect() as connection:
                paths = await connection.run_sync(_autogenerate, script, service, metadata, message)
        finally:
            await engine.dispose()
    return paths[0]


def _empty_revision(script: ScriptDirectory, message: str) -> Path:
    Path(script.versions).mkdir(parents=True, exist_ok=True)
    created = script.generate_revision(rev_id(), message, head="head")
    if created is None:
        raise RuntimeError("alembic wrote no revision file")
    return Path(created.path)


def _autogenerate(
    connection: Connection,
    script: ScriptDirectory,
    service: str,
    metadata: MetaData,
    message: str,
) -> Sequence[Path]:
    config = Config()
    command_args = {
        "message": message,
        "autogenerate": True,
        "sql": False,
        "head": "head",
        "splice": False,
        "branch_label": None,
        "version_path": None,
        "rev_id": rev_id(),
        "depends_on": None,
    }
    revision_context = RevisionContext(config, script, command_args)
    include_name, include_object = _compared(connection, service, metadata)

    def collect(revision: Any, context: MigrationContext) -> Iterable[Any]:
        revision_context.run_autogenerate(revision, context)
        return []

    with EnvironmentContext(
        config,
        script,
        fn=collect,
        template_args=revision_context.template_args,
        revision_context=revision_context,
    ) as env:
        env.configure(
            connection=connection,
            target_metadata=metadata,
            version_table=version_table(service),
            render_item=_render_item,
            include_name=include_name,
            include_object=include_object,
            compare_type=True,
        )
        with env.begin_transaction():
            env.run_migrations()
    return [Path(s.path) for s in revision_context.generate_scripts() if s is not None]
