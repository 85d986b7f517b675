"""The ``idempotency_records`` table a service keeps in its own database (one row per tenant and
key: the request's fingerprint and its first answer) and the reads and writes on it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from v100.kit.db import ID_LENGTH, NAMING_CONVENTION, UTCDateTime, new_id, utcnow
from v100.kit.errors import Conflict

__all__ = [
    "IDEMPOTENCY_TABLE",
    "IdempotencyKeyInUse",
    "IdempotencyKeyReused",
    "StoredAnswer",
    "add_idempotency_table",
    "fingerprint",
    "recall",
    "recall_many",
    "remember",
    "remember_many",
    "run_once",
]

IDEMPOTENCY_TABLE = "idempotency_records"
KEY_LENGTH = 255
# A claimed key whose work has not committed yet (only ever seen by a concurrent duplicate).
_PENDING = 0


class IdempotencyKeyReused(Conflict):
    slug = "idempotency-key-reused"
    title = "Idempotency-Key reused with another request"


class IdempotencyKeyInUse(Conflict):
    slug = "idempotency-key-in-use"
    title = "A request with this Idempotency-Key is still running"


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    status_code: int
    body: dict[str, Any]


def _define(metadata: MetaData) -> Table:
    # Keep in step with ``migration.create_idempotency_table`` (billing's own model, declared
    # before this module existed, is the same table).
    return Table(
        IDEMPOTENCY_TABLE,
        metadata,
        Column("id", String(ID_LENGTH), primary_key=True),
        Column("tenant_id", String(ID_LENGTH), nullable=False, index=True),
        Column("key", String(KEY_LENGTH), nullable=False),
        # The operation and a hash of its body: the same key with another request is a conflict.
        Column("fingerprint", String(300), nullable=False),
        Column("status_code", Integer, nullable=False),
        Column("response", JSON, nullable=False),
        Column("created_at", UTCDateTime(), nullable=False),
        UniqueConstraint("tenant_id", "key"),
    )


# The kit's handle for its statements; SQL does not depend on which MetaData a Table is in.
RECORDS = _define(MetaData(naming_convention=NAMING_CONVENTION))


def add_idempotency_table(metadata: MetaData) -> Table:
    """Declare ``idempotency_records`` in a service's MetaData (for autogenerate and the
    schema-drift test); the service's migration creates it with
    ``v100.kit.idempotency.migration.create_idempotency_table()``."""
    if IDEMPOTENCY_TABLE in metadata.tables:
        return metadata.tables[IDEMPOTENCY_TABLE]
    return _define(metadata)


def fingerprint(operation: str, payload: Any) -> str:
    digest = hashlib.sha256(
        json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()
    ).hexdigest()
    return f"{operation}:{digest}"


async def recall(
    session: AsyncSession, tenant_id: str, key: str, print_: str
) -> StoredAnswer | None:
    """The stored answer for a retry; IdempotencyKeyReused when the key was used otherwise."""
    statement = select(RECORDS.c.fingerprint, RECORDS.c.status_code, RECORDS.c.response).where(
        RECORDS.c.tenant_id == tenant_id, RECORDS.c.key == key
    )
    row = (await session.execute(statement)).one_or_none()
    if row is None:
        return None
    if row.fingerprint != print_:
        raise IdempotencyKeyReused(f"Idempotency-Key {key!r} was used with another request.")
    return StoredAnswer(row.status_code, row.response)


async def remember(
    session: AsyncSession, tenant_id: str, key: str, print_: str, answer: StoredAnswer
) -> None:
    """Store the answer in the session's transaction (the unique key is the backstop)."""
    await session.execute(
        insert(RECORDS).values(
            id=new_id(),
            tenant_id=tenant_id,
            key=key,
            fingerprint=print_,
            status_code=answer.status_code,
            response=answer.body,
            created_at=utcnow(),
        )
    )


async def recall_many(
    session: AsyncSession, tenant_id: str, keys: Collection[str]
) -> dict[str, tuple[str, StoredAnswer]]:
    """The fingerprint and stored answer of each of ``keys`` that has one, in one query: for a
    caller that answers a batch of calls under its own lock (billing's group commit)."""
    statement = select(
        RECORDS.c.key, RECORDS.c.fingerprint, RECORDS.c.status_code, RECORDS.c.response
    ).where(RECORDS.c.tenant_id == tenant_id, RECORDS.c.key.in_(keys))
    return {
        row.key: (row.fingerprint, StoredAnswer(row.status_code, row.response))
        for row in await session.execute(statement)
    }


async def remember_many(
    session: AsyncSession, tenant_id: str, answers: Sequence[tuple[str, str, StoredAnswer]]
) -> None:
    """Store several answers, each ``(key, fingerprint, answer)``, with one multi-row INSERT in
    the session's transaction."""
    if not answers:
        return
    now = utcnow()
    rows = [
        {
            "id": new_id(),
            "tenant_id": tenant_id,
            "key": key,
            "fingerprint": print_,
            "status_code": answer.status_code,
            "response": answer.body,
            "created_at": now,
        }
        for key, print_, answer in answers
    ]
    await session.execute(insert(RECORDS), rows)


async def run_once(
    session: AsyncSession,
    tenant_id: str,
    key: str,
    print_: str,
    work: Callable[[], Awaitable[StoredAnswer]],
) -> tuple[StoredAnswer, bool]:
    """Replay the stored answer, or claim the key, do the work and store its answer; the answer
    and whether it was replayed. The claim is a row inserted before the work: a concurrent
    duplicate's insert waits for this transaction (PostgreSQL), then finds the stored answer."""
    stored = await recall(session, tenant_id, key, print_)
    if stored is not None and stored.status_code != _PENDING:
        return stored, True
    record_id = new_id()
    claim = insert(RECORDS).values(
        id=record_id,
        tenant_id=tenant_id,
        key=key,
        fingerprint=print_,
        status_code=_PENDING,
        response={},
        created_at=utcnow(),
    )
    try:
        if session.get_bind().dialect.name == "sqlite":
            # No savepoint: pysqlite opens its transaction at the first write, so a savepoint
            # taken before it would be the outermost one and its RELEASE would commit the claim
            # on its own. A failed INSERT on SQLite undoes only itself.
            await session.execute(claim)
        else:
            # PostgreSQL aborts the whole transaction on an error, unless inside a savepoint.
            async with session.begin_nested():
                await session.execute(claim)
    except IntegrityError:
        stored = await recall(session, tenant_id, key, print_)
        if stored is None or stored.status_code == _PENDING:
            raise IdempotencyKeyInUse(
                f"A request with Idempotency-Key {key!r} is still running; retry later.",
                headers={"Retry-After": "1"},
            ) from None
        return stored, True
    answer = await work()
    await session.execute(
        update(RECORDS)
        .where(RECORDS.c.id == record_id)
        .values(status_code=answer.status_code, response=answer.body)
    )
    return answer, False
