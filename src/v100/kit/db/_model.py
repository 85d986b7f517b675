"""Declarative building blocks: one MetaData (and so one set of tables) per service, the
``TenantOwned`` and ``Timestamped`` mixins every tenant row uses, and a UTC-only datetime type.

A service declares its base in ``models.py`` as a plain class statement (mypy sees a real class):

    class Base(DeclarativeBase):
        metadata = service_metadata("billing")
        type_annotation_map = TYPE_ANNOTATION_MAP

    class CreditHold(Base, TenantOwned, Timestamped):
        __tablename__ = "credit_holds"
        amount: Mapped[int]
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from v100.kit.db._ids import new_id, utcnow

__all__ = [
    "ID_LENGTH",
    "NAMING_CONVENTION",
    "TYPE_ANNOTATION_MAP",
    "TenantOwned",
    "Timestamped",
    "UTCDateTime",
    "make_base",
    "service_metadata",
]

# A UUIDv7 string. Kept as text (not PostgreSQL's uuid) so a malformed id from a URL is simply
# "not found" on every backend instead of a driver error, and SQLite and PostgreSQL agree.
ID_LENGTH = 36

# Deterministic constraint names: Alembic can only drop or alter what it can name, and SQLite
# batch migrations need the names to rebuild tables.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    PostgreSQL keeps ``timestamptz``; SQLite has no zone, so values are stored as naive UTC and
    given back their zone on load. Naive datetimes are refused: their meaning is a guess.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware value")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


TYPE_ANNOTATION_MAP: dict[Any, Any] = {datetime: UTCDateTime()}


def service_metadata(service: str) -> MetaData:
    """A fresh MetaData for one service's tables, with the shared naming convention."""
    return MetaData(naming_convention=NAMING_CONVENTION, info={"service": service})


def make_base(service: str) -> type[DeclarativeBase]:
    """A declarative base with its own MetaData, for code that builds models at run time
    (tests, tools). Services write the class statement shown in the module docstring instead,
    since mypy does not accept a variable as a base class."""

    class Base(DeclarativeBase):
        metadata = service_metadata(service)
        type_annotation_map = TYPE_ANNOTATION_MAP

    Base.__name__ = Base.__qualname__ = f"{service.title().replace('_', '')}Base"
    return Base


class TenantOwned:
    """A row that belongs to one tenant: a sortable string id and an indexed ``tenant_id``.

    Every query on such a table filters by ``tenant_id`` (see ``TenantRepository``).
    """

    # sort_order: keys first and timestamps last in CREATE TABLE, whatever the mixin order.
    id: Mapped[str] = mapped_column(
        String(ID_LENGTH), primary_key=True, default=new_id, sort_order=-20
    )
    tenant_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), index=True, nullable=False, sort_order=-10
    )


class Timestamped:
    """``created_at`` and ``updated_at``, set by the application clock in UTC.

    Python-side defaults (not ``server_default``) so SQLite and PostgreSQL rows look the same and
    the values are known without a round trip.
    """

    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, nullable=False, sort_order=100
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False, sort_order=101
    )
