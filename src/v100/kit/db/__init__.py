"""The database layer every service uses: engines from a URL (SQLite embedded, PostgreSQL
distributed), a MetaData per service with tenant and timestamp mixins, the tenant-scoped
repository base, the one commit point per request, and the per-service migrations runner.

A service wires it like this:

    # models.py
    class Base(DeclarativeBase):
        metadata = service_metadata("billing")
        type_annotation_map = TYPE_ANNOTATION_MAP

    class CreditHold(Base, TenantOwned, Timestamped):
        __tablename__ = "credit_holds"
        amount: Mapped[int]

    # repository.py
    class CreditHoldRepository(TenantRepository[CreditHold]):
        model = CreditHold

    # start-up (``v100 migrate`` / app lifespan)
    MIGRATIONS = Path(__file__).parent / "migrations"      # holds versions/*.py, no env.py
    await migrate("billing", settings.resolved_database_url, MIGRATIONS, Base.metadata)
    engine = create_engine(settings.resolved_database_url, application_name="v100.billing")
    sessions = create_sessionmaker(engine)

    # per request or job: the one commit point
    async with unit_of_work(sessions) as session:
        hold = await CreditHoldRepository(session).add(CreditHold(tenant_id=t, amount=5))
        session_hooks(session).after_commit(lambda: publish("credits.held", hold.id))
"""

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from v100.kit.db._engine import create_engine, create_sessionmaker, is_sqlite, ping, sqlite_file
from v100.kit.db._ids import new_id, utcnow
from v100.kit.db._migrations import (
    backend_only,
    check_at_head,
    current_revision,
    head_revisions,
    migrate,
    new_revision,
    schema_drift,
    version_table,
)
from v100.kit.db._model import (
    ID_LENGTH,
    NAMING_CONVENTION,
    TYPE_ANNOTATION_MAP,
    TenantOwned,
    Timestamped,
    UTCDateTime,
    make_base,
    service_metadata,
)
from v100.kit.db._provision import drop_database, ensure_database
from v100.kit.db._repository import InvalidCursorError, Page, TenantRepository
from v100.kit.db._unit_of_work import (
    AfterCommit,
    SessionHooks,
    not_interrupted,
    session_hooks,
    unit_of_work,
    writers_turn,
)

__all__ = [
    "ID_LENGTH",
    "NAMING_CONVENTION",
    "TYPE_ANNOTATION_MAP",
    "AfterCommit",
    "AsyncEngine",
    "AsyncSession",
    "DeclarativeBase",
    "InvalidCursorError",
    "Mapped",
    "Page",
    "SessionHooks",
    "TenantOwned",
    "TenantRepository",
    "Timestamped",
    "UTCDateTime",
    "async_sessionmaker",
    "backend_only",
    "check_at_head",
    "create_engine",
    "create_sessionmaker",
    "current_revision",
    "drop_database",
    "ensure_database",
    "head_revisions",
    "is_sqlite",
    "make_base",
    "mapped_column",
    "migrate",
    "new_id",
    "new_revision",
    "not_interrupted",
    "ping",
    "schema_drift",
    "service_metadata",
    "session_hooks",
    "sqlite_file",
    "unit_of_work",
    "utcnow",
    "version_table",
    "writers_turn",
]
