"""The repository base every service's tenant-owned queries build on: each statement starts
from ``select(model).where(tenant_id == ...)``, so another tenant's row is simply not found,
and lists page with an opaque keyset cursor over the time-sortable id."""

from __future__ import annotations

import base64
import binascii
import builtins
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from v100.kit.db._model import TenantOwned

__all__ = ["InvalidCursorError", "Page", "TenantRepository"]

ModelT = TypeVar("ModelT", bound=TenantOwned)
ItemT = TypeVar("ItemT")

MAX_PAGE_SIZE = 200
_CURSOR_PREFIX = "v1:"


class InvalidCursorError(ValueError):
    """A cursor that this repository did not make (the API answers 400)."""


@dataclass(frozen=True, slots=True)
class Page(Generic[ItemT]):
    items: Sequence[ItemT]
    # None on the last page.
    next_cursor: str | None


def encode_cursor(last_id: str) -> str:
    raw = (_CURSOR_PREFIX + last_id).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidCursorError("malformed cursor") from exc
    if not raw.startswith(_CURSOR_PREFIX) or len(raw) == len(_CURSOR_PREFIX):
        raise InvalidCursorError("malformed cursor")
    return raw.removeprefix(_CURSOR_PREFIX)


class TenantRepository(Generic[ModelT]):
    """Tenant-scoped queries for one model. Subclasses set ``model`` and add their own queries
    on top of ``select_for(tenant_id)``:

        class VideoRepository(TenantRepository[Video]):
            model = Video

            async def list_ready(self, tenant_id: str, cursor: str | None) -> Page[Video]:
                return await self.list(tenant_id, cursor=cursor, where=[Video.status == "ready"])
    """

    model: type[ModelT]

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def select_for(self, tenant_id: str) -> Select[ModelT]:
        """The start of every query: this model's rows of one tenant."""
        if not tenant_id:
            raise ValueError("tenant_id is required")
        return select(self.model).where(self.model.tenant_id == tenant_id)

    async def get(self, tenant_id: str, id: str) -> ModelT | None:
        """The row, or None when it does not exist or belongs to another tenant."""
        statement = self.select_for(tenant_id).where(self.model.id == id)
        result = await self.session.execute(statement)
        return result.scalar_one_or_none()

    async def list(
        self,
        tenant_id: str,
        *,
        limit: int = 50,
        cursor: str | None = None,
        newest_first: bool = True,
        where: Iterable[ColumnElement[bool]] = (),
    ) -> Page[ModelT]:
        """One page of the tenant's rows in id (creation) order, continuing after ``cursor``."""
        limit = max(1, min(limit, MAX_PAGE_SIZE))
        statement = self.select_for(tenant_id).where(*where)
        key = self.model.id
        if cursor is not None:
            after = decode_cursor(cursor)
            statement = statement.where(key < after if newest_first else key > after)
        statement = statement.order_by(key.desc() if newest_first else key.asc())
        # One extra row tells whether another page exists without a COUNT.
        result = await self.session.execute(statement.limit(limit + 1))
        rows: builtins.list[ModelT] = builtins.list(result.scalars().all())
        if len(rows) <= limit:
            return Page(items=rows, next_cursor=None)
        rows = rows[:limit]
        return Page(items=rows, next_cursor=encode_cursor(rows[-1].id))

    async def add(self, obj: ModelT) -> ModelT:
        """Stage ``obj`` and flush it, so its id and defaults are known and a constraint error
        surfaces here rather than at the commit point."""
        if not obj.tenant_id:
            raise ValueError(f"{type(obj).__name__} has no tenant_id")
        self.session.add(obj)
        await self.session.flush()
        return obj

    async def delete(self, tenant_id: str, id: str) -> bool:
        """Delete the tenant's row; False when there was none to delete (the API answers 404).

        Loads the row first so ORM cascades and hooks apply, unlike a bulk DELETE.
        """
        obj = await self.get(tenant_id, id)
        if obj is None:
            return False
        await self.session.delete(obj)
        await self.session.flush()
        return True
