"""Idempotent calls: the first answer to a mutating request is stored under its
``Idempotency-Key`` in the same transaction as the work, and a retry gets it back; the same key
with another operation or body is a conflict.

Lookups run after the tenant's ledger lock is taken, so a concurrent duplicate waits for the
first to commit and then finds its answer; the unique (tenant, key) constraint is the backstop.
Failed calls (4xx problems) store nothing: they changed nothing, so a retry runs again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from v100.kit.db import new_id
from v100.kit.errors import Conflict
from v100.services.billing.models import IdempotencyRecord
from v100.services.billing.repository import IdempotencyRepository

__all__ = ["IdempotencyKeyReused", "StoredAnswer", "fingerprint", "recall", "remember"]


class IdempotencyKeyReused(Conflict):
    slug = "idempotency-key-reused"
    title = "Idempotency-Key reused with another request"


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    status_code: int
    body: dict[str, Any]


def fingerprint(operation: str, payload: Any) -> str:
    digest = hashlib.sha256(
        json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()
    ).hexdigest()
    return f"{operation}:{digest}"


async def recall(
    session: AsyncSession, tenant_id: str, key: str, print_: str
) -> StoredAnswer | None:
    """The stored answer for a retry; IdempotencyKeyReused when the key was used otherwise."""
    record = await IdempotencyRepository(session).find(tenant_id, key)
    if record is None:
        return None
    if record.fingerprint != print_:
        raise IdempotencyKeyReused(
            f"Idempotency-Key {key!r} was used with another request.",
        )
    return StoredAnswer(record.status_code, record.response)


async def remember(
    session: AsyncSession, tenant_id: str, key: str, print_: str, answer: StoredAnswer
) -> None:
    await IdempotencyRepository(session).add(
        IdempotencyRecord(
            id=new_id(),
            tenant_id=tenant_id,
            key=key,
            fingerprint=print_,
            status_code=answer.status_code,
            response=answer.body,
        )
    )
