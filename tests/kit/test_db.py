"""The database layer on SQLite and on a real PostgreSQL: migrations from real revision files,
tenant isolation, cursor pagination, the commit point and its hooks, and pool recovery."""

from __future__ import annotations

import asyncio
import shutil
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import String, func, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.ext.asyncio import create_async_engine

from v100.kit.db import (
    TYPE_ANNOTATION_MAP,
    AsyncEngine,
    DeclarativeBase,
    InvalidCursorError,
    Mapped,
    TenantOwned,
    TenantRepository,
    Timestamped,
    check_at_head,
    create_engine,
    create_sessionmaker,
    current_revision,
    drop_database,
    ensure_database,
    head_revisions,
    is_sqlite,
    make_base,
    mapped_column,
    migrate,
    new_id,
    new_revision,
    not_interrupted,
    ping,
    schema_drift,
    service_metadata,
    session_hooks,
    unit_of_work,
    version_table,
    writers_turn,
)
from v100.kit.testing.db import fresh_postgres_url, migrated_engine, postgres_admin_url

SAMPLE_MIGRATIONS = Path(__file__).parent / "migrations_sample"
FIRST_REVISION = "46c59a87e143"
HEAD_REVISION = "96e01919a77c"
TENANT_A = new_id()
TENANT_B = new_id()


class SampleBase(DeclarativeBase):
    metadata = service_metadata("sample")
    type_annotation_map = TYPE_ANNOTATION_MAP


class Note(SampleBase, TenantOwned, Timestamped):
    __tablename__ = "notes"

    body: Mapped[str] = mapped_column(String(200))
    pinned: Mapped[bool] = mapped_column(default=False, server_default=sa.false())


class NoteRepository(TenantRepository[Note]):
    model = Note


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    async with migrated_engine("sample", database_url, SAMPLE_MIGRATIONS, SampleBase.metadata) as e:
        yield e


async def table_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))


# --- migrations ---------------------------------------------------------------------------


async def test_migrate_builds_schema_once_and_second_run_is_a_no_op(database_url: str) -> None:
    assert await migrate("sample", database_url, SAMPLE_MIGRATIONS) == HEAD_REVISION
    engine = create_engine(database_url)
    try:
        assert await table_names(engine) == {"notes", "alembic_version_sample"}
        async with unit_of_work(create_sessionmaker(engine)) as session:
            await NoteRepository(session).add(Note(tenant_id=TENANT_A, body="kept"))

        assert await migrate("sample", database_url, SAMPLE_MIGRATIONS) == HEAD_REVISION

        async with engine.connect() as connection:
            versions = (
                await connection.execute(text("SELECT * FROM alembic_version_sample"))
            ).all()
            notes = await connection.scalar(select(func.count()).select_from(Note))
        assert versions == [(HEAD_REVISION,)]
        assert notes == 1  # the second run neither re-created nor emptied the table
        assert await current_revision(engine, "sample") == HEAD_REVISION
        assert await check_at_head(engine, "sample", SAMPLE_MIGRATIONS)
        assert await schema_drift(engine, "sample", SampleBase.metadata) == []
    finally:
        await engine.dispose()


async def test_upgrade_from_an_older_revision_and_readiness_sees_it(
    database_url: str, tmp_path: Path
) -> None:
    older = tmp_path / "older"
    (older / "versions").mkdir(parents=True)
    shutil.copy(
        SAMPLE_MIGRATIONS / "versions" / "2026-11-26-1200_create_notes.py", older / "versions"
    )

    assert await migrate("sample", database_url, older) == FIRST_REVISION
    engine = create_engine(database_url)
    try:
        assert not await check_at_head(engine, "sample", SAMPLE_MIGRATIONS)
        assert await schema_drift(engine, "sample", SampleBase.metadata) != []  # no "pinned"

        assert await migrate("sample", database_url, SAMPLE_MIGRATIONS) == HEAD_REVISION
        assert await check_at_head(engine, "sample", SAMPLE_MIGRATIONS)
        assert await schema_drift(engine, "sample", SampleBase.metadata) == []
    finally:
        await engine.dispose()


async def test_readiness_before_any_migration(database_url: str) -> None:
    await ensure_database(database_url)
    engine = create_engine(database_url)
    try:
        assert await current_revision(engine, "sample") is None
        assert not await check_at_head(engine, "sample", SAMPLE_MIGRATIONS)
    finally:
        await engine.dispose()


async def test_two_services_share_one_database_with_their_own_version_tables(
    database_url: str, tmp_path: Path
) -> None:
    other_base = make_base("other")

    class Tag(other_base, TenantOwned):  # type: ignore[misc,valid-type]
        __tablename__ = "tags"
        label: Mapped[str] = mapped_column(String(50))

    other_dir = tmp_path / "other_migrations"
    generated = await new_revision("other", other_dir, "create tags", metadata=other_base.metadata)
    assert "create_table('tags'" in generated.read_text().replace('"', "'")

    # At once, as ``v100 up`` migrates every service on one event loop.
    sample_head, other_head = await asyncio.gather(
        migrate("sample", database_url, SAMPLE_MIGRATIONS),
        migrate("other", database_url, other_dir, other_base.metadata),
    )
    assert sample_head == HEAD_REVISION
    assert other_head == next(iter(head_revisions(other_dir)))

    engine = create_engine(database_url)
    try:
        assert await table_names(engine) == {
            "notes",
            "tags",
            version_table("sample"),
            version_table("other"),
        }
        assert await current_revision(engine, "sample") == HEAD_REVISION
        assert await current_revision(engine, "other") == other_head
        assert await check_at_head(engine, "other", other_dir)
        # Another run of either one leaves the other alone.
        assert await migrate("sample", database_url, SAMPLE_MIGRATIONS) == HEAD_REVISION
        assert await current_revision(engine, "other") == other_head
    finally:
        await engine.dispose()


async def test_new_revision_is_date_named_and_chained_to_head(tmp_path: Path) -> None:
    migrations = tmp_path / "migrations"
    shutil.copytree(SAMPLE_MIGRATIONS, migrations)

    path = await new_revision("sample", migrations, "Add archived flag to notes!")

    assert path.parent == migrations / "versions"
    # e.g. 2026-11-26-1200_add_archived_flag_to_notes.py, in UTC.
    stamp = datetime.strptime(path.name[:15], "%Y-%m-%d-%H%M").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 120
    assert path.name[15:] == "_add_archived_flag_to_notes.py"
    source = path.read_text()
    assert f"down_revision: str | Sequence[str] | None = {HEAD_REVISION!r}" in source
    compile(source, str(path), "exec")

    database_url = f"sqlite+aiosqlite:///{tmp_path}/db.sqlite"
    new_head = await migrate("sample", database_url, migrations)
    assert new_head not in {None, HEAD_REVISION}
    assert new_head in source


async def test_autogenerate_sees_a_new_column(tmp_path: Path) -> None:
    migrations = tmp_path / "migrations"
    shutil.copytree(SAMPLE_MIGRATIONS, migrations)
    base = make_base("sample")

    class WiderNote(base, TenantOwned, Timestamped):  # type: ignore[misc,valid-type]
        __tablename__ = "notes"
        body: Mapped[str] = mapped_column(String(200))
        pinned: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
        color: Mapped[str | None] = mapped_column(String(20))

    path = await new_revision("sample", migrations, "add color", metadata=base.metadata)

    source = path.read_text().replace('"', "'")
    assert "op.add_column('notes', sa.Column('color', sa.String(length=20), nullable=True))" in (
        source
    )
    assert "drop_table" not in source


async def test_postgres_database_is_created_by_migrate_even_when_racing(tmp_path: Path) -> None:
    admin_url = postgres_admin_url()
    if admin_url is None:
        pytest.skip("V100_TEST_POSTGRES_URL is not set")
    url = fresh_postgres_url(admin_url, prefix="v100_race")
    name = make_url(url).database
    admin = create_engine(admin_url)
    exists = text("SELECT count(*) FROM pg_database WHERE datname = :name")
    # Separate processes, as replicas starting together would be: each one races to CREATE
    # DATABASE and then queues on the advisory lock for the upgrade itself.
    program = textwrap.dedent(
        f"""
        import asyncio
        from v100.kit.db import migrate
        print(asyncio.run(migrate("sample", {url!r}, {str(SAMPLE_MIGRATIONS)!r})))
        """
    )
    try:
        async with admin.connect() as connection:
            assert await connection.scalar(exists, {"name": name}) == 0
        processes = [
            await asyncio.create_subprocess_exec(
                sys.executable, "-c", program, stdout=asyncio.subprocess.PIPE
            )
            for _ in range(2)
        ]
        outputs = [await p.communicate() for p in processes]
        assert [p.returncode for p in processes] == [0, 0]
        assert [out.decode().strip() for out, _ in outputs] == [HEAD_REVISION] * 2
        async with admin.connect() as connection:
            assert await connection.scalar(exists, {"name": name}) == 1
        engine = create_engine(url)
        try:
            assert await current_revision(engine, "sample") == HEAD_REVISION
        finally:
            await engine.dispose()
        assert await ensure_database(url) is False
    finally:
        await admin.dispose()
        await drop_database(url)


async def test_concurrent_creators_of_one_postgres_database_all_succeed() -> None:
    admin_url = postgres_admin_url()
    if admin_url is None:
        pytest.skip("V100_TEST_POSTGRES_URL is not set")
    url = fresh_postgres_url(admin_url, prefix="v100_race")
    try:
        created = await asyncio.gather(*(ensure_database(url) for _ in range(4)))
        # The losers' "already exists" errors are swallowed: one created it, all may go on.
        assert sorted(created) == [False, False, False, True]
    finally:
        await drop_database(url)


# --- repository ---------------------------------------------------------------------------


async def test_another_tenants_row_is_not_found(engine: AsyncEngine) -> None:
    sessions = create_sessionmaker(engine)
    async with unit_of_work(sessions) as session:
        note = await NoteRepository(session).add(Note(tenant_id=TENANT_A, body="private"))

    async with unit_of_work(sessions) as session:
        notes = NoteRepository(session)
        assert await notes.get(TENANT_B, note.id) is None
        assert (await notes.list(TENANT_B)).items == []
        assert await notes.delete(TENANT_B, note.id) is False
        found = await notes.get(TENANT_A, note.id)
        assert found is not None
        assert found.body == "private"
        assert await notes.get(TENANT_A, "not-an-id") is None

    async with unit_of_work(sessions) as session:
        notes = NoteRepository(session)
        assert await notes.get(TENANT_A, note.id) is not None  # B's delete did nothing
        assert await notes.delete(TENANT_A, note.id) is True
    async with unit_of_work(sessions) as session:
        assert await NoteRepository(session).get(TENANT_A, note.id) is None


@pytest.mark.parametrize("newest_first", [True, False])
async def test_cursor_pages_return_every_row_exactly_once(
    engine: AsyncEngine, newest_first: bool
) -> None:
    sessions = create_sessionmaker(engine)
    async with unit_of_work(sessions) as session:
        notes = NoteRepository(session)
        mine = [(await notes.add(Note(tenant_id=TENANT_A, body=f"a{i}"))).id for i in range(23)]
        for i in range(7):
            await notes.add(Note(tenant_id=TENANT_B, body=f"b{i}"))

    seen: list[str] = []
    pages = 0
    cursor: str | None = None
    while True:
        async with unit_of_work(sessions) as session:
            page = await NoteRepository(session).list(
                TENANT_A, limit=5, cursor=cursor, newest_first=newest_first
            )
        pages += 1
        assert len(page.items) == (5 if page.next_cursor else 3)
        seen.extend(note.id for note in page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    assert pages == 5
    assert seen == (sorted(mine, reverse=True) if newest_first else sorted(mine))
    assert set(seen) == set(mine)  # no row of tenant B, none twice, none missing
    # Ids are made in creation order, so id order is creation order.
    assert sorted(mine) == mine


async def test_list_filters_and_rejects_foreign_cursors(engine: AsyncEngine) -> None:
    sessions = create_sessionmaker(engine)
    async with unit_of_work(sessions) as session:
        notes = NoteRepository(session)
        for i in range(6):
            await notes.add(Note(tenant_id=TENANT_A, body=f"n{i}", pinned=i % 2 == 0))
        pinned = await notes.list(TENANT_A, limit=2, where=[Note.pinned.is_(True)])
        assert [n.body for n in pinned.items] == ["n4", "n2"]
        rest = await notes.list(
            TENANT_A, limit=2, cursor=pinned.next_cursor, where=[Note.pinned.is_(True)]
        )
        assert [n.body for n in rest.items] == ["n0"]
        assert rest.next_cursor is None
        for bad in ("%%%", "bm90LWEtY3Vyc29y", ""):
            with pytest.raises(InvalidCursorError):
                await notes.list(TENANT_A, cursor=bad)


async def test_timestamps_are_utc_on_every_backend(engine: AsyncEngine) -> None:
    sessions = create_sessionmaker(engine)
    async with unit_of_work(sessions) as session:
        note = await NoteRepository(session).add(Note(tenant_id=TENANT_A, body="t"))
    first_update = note.updated_at
    await asyncio.sleep(0.01)
    async with unit_of_work(sessions) as session:
        loaded = await NoteRepository(session).get(TENANT_A, note.id)
        assert loaded is not None
        assert loaded.created_at.tzinfo is UTC
        assert loaded.created_at == note.created_at
        loaded.body = "changed"
    async with unit_of_work(sessions) as session:
        reloaded = await NoteRepository(session).get(TENANT_A, note.id)
        assert reloaded is not None
        assert reloaded.updated_at > first_update
        assert reloaded.created_at == note.created_at

    async with unit_of_work(sessions) as session:
        bad = Note(tenant_id=TENANT_A, body="x", created_at=datetime(2026, 1, 1))
        with pytest.raises(StatementError, match="naive datetime"):
            await NoteRepository(session).add(bad)
        await session.rollback()


# --- the commit point ---------------------------------------------------------------------


async def test_after_commit_hooks_run_after_commit_and_never_on_rollback(
    engine: AsyncEngine,
) -> None:
    sessions = create_sessionmaker(engine)
    events: list[str] = []

    async def count_committed() -> int:
        # A separate session: it sees only what is committed.
        async with sessions() as other:
            return await other.scalar(select(func.count()).select_from(Note)) or 0

    async def publish_async() -> None:
        events.append(f"async saw {await count_committed()}")

    def fail() -> None:
        raise RuntimeError("broker down")

    async with unit_of_work(sessions) as session:
        await NoteRepository(session).add(Note(tenant_id=TENANT_A, body="ok"))
        session_hooks(session).after_commit(lambda: events.append("sync"))
        session_hooks(session).after_commit(fail)
        session_hooks(session).after_commit(publish_async)
        assert events == []  # nothing runs inside the unit of work
    # The failing hook neither hid the others nor turned the committed work into an error.
    assert events == ["sync", "async saw 1"]

    async def failing_request() -> None:
        async with unit_of_work(sessions) as session:
            await NoteRepository(session).add(Note(tenant_id=TENANT_A, body="lost"))
            session_hooks(session).after_commit(lambda: events.append("must not run"))
            raise LookupError("the request failed")

    events.clear()
    with pytest.raises(LookupError):
        await failing_request()
    assert events == []
    assert await count_committed() == 1


async def test_writers_take_turns_on_sqlite_and_not_on_postgres(engine: AsyncEngine) -> None:
    sessions = create_sessionmaker(engine)
    inside = 0
    most = 0

    async def write(n: int) -> None:
        nonlocal inside, most
        async with writers_turn(sessions), unit_of_work(sessions) as session:
            inside += 1
            most = max(most, inside)
            await NoteRepository(session).add(Note(tenant_id=TENANT_A, body=f"n{n}"))
            await asyncio.sleep(0.02)  # the loop runs others while this one holds the lock
            inside -= 1

    await asyncio.gather(*(write(n) for n in range(6)))
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Note)) == 6
    assert most == (1 if engine.dialect.name == "sqlite" else 6)


async def test_a_cancelled_loop_lets_its_transaction_finish(engine: AsyncEngine) -> None:
    sessions = create_sessionmaker(engine)
    started = asyncio.Event()

    async def write() -> None:
        async with unit_of_work(sessions) as session:
            await NoteRepository(session).add(Note(tenant_id=TENANT_A, body="kept"))
            started.set()
            await asyncio.sleep(0.2)

    async def loop() -> None:
        await not_interrupted(write())

    task = asyncio.create_task(loop())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The cancel came mid-transaction; the transaction still committed, and the database is
    # free for the next writer at once.
    async with asyncio.timeout(2), unit_of_work(sessions) as session:
        await NoteRepository(session).add(Note(tenant_id=TENANT_A, body="next"))
    async with sessions() as session:
        bodies = set((await session.execute(select(Note.body))).scalars())
    assert bodies == {"kept", "next"}


# --- engines ------------------------------------------------------------------------------


async def test_sqlite_runs_in_wal_with_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/var/nested/billing.db"
    assert is_sqlite(url)
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            pragmas = {
                name: (await connection.exec_driver_sql(f"PRAGMA {name}")).scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
            }
        assert pragmas == {
            "journal_mode": "wal",
            "foreign_keys": 1,
            "busy_timeout": 5000,
            "synchronous": 1,
        }
        assert (tmp_path / "var" / "nested" / "billing.db").exists()
        assert await ping(engine)
    finally:
        await engine.dispose()


async def test_pool_recovers_after_the_server_drops_its_connections(engine: AsyncEngine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("connection termination is a PostgreSQL test")
    database = engine.url.database
    backend_pid = text("SELECT pg_backend_pid()")
    async with engine.connect() as connection:
        first_pid = await connection.scalar(backend_pid)
    admin_url = postgres_admin_url()
    assert admin_url is not None
    # A pool without pre-ping hands out the dead connection: the control that this test can fail.
    unpinged = create_async_engine(engine.url, pool_pre_ping=False)
    async with unpinged.connect() as connection:
        await connection.scalar(text("SELECT 1"))

    admin = create_engine(admin_url)
    try:
        async with admin.connect() as connection:
            killed = await connection.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = :database AND pid <> pg_backend_pid()"
                ),
                {"database": database},
            )
        assert killed is not None
        assert killed >= 2
        await asyncio.sleep(0.2)

        async with engine.connect() as connection:
            assert await connection.scalar(text("SELECT 1")) == 1
            assert await connection.scalar(backend_pid) != first_pid
        assert await ping(engine)

        with pytest.raises(DBAPIError):
            async with unpinged.connect() as connection:
                await connection.scalar(text("SELECT 1"))
    finally:
        await admin.dispose()
        await unpinged.dispose()


async def test_new_postgres_databases_have_pgvector(engine: AsyncEngine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("pgvector is the PostgreSQL backend of vector search")
    async with engine.connect() as connection:
        # Installed in template1 by scripts/services/postgres.sh, so no migration needs it.
        distance = await connection.scalar(text("SELECT '[1,2,3]'::vector <-> '[1,2,4]'::vector"))
    assert distance == pytest.approx(1.0)


async def test_ping_is_false_when_nothing_answers() -> None:
    engine = create_engine(
        f"postgresql+asyncpg://postgres@127.0.0.1:1/{uuid.uuid4().hex}", connect_timeout=1
    )
    try:
        assert await ping(engine, answer_within=2) is False
    finally:
        await engine.dispose()


def test_ids_are_uuid7_and_sort_in_creation_order() -> None:
    ids = [new_id() for _ in range(10_000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    parsed = uuid.UUID(ids[0])
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    millis = int(ids[-1].replace("-", "")[:12], 16)
    assert abs(millis / 1000 - datetime.now(UTC).timestamp()) < 5
