"""The HTTP side of idempotent POSTs: the ``Idempotency-Key`` header (required or optional) and
``idempotent``, which runs an endpoint's work once per key and answers with the stored JSON
(``Idempotent-Replayed: true`` on a replay)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Annotated, Any, TypeVar

from fastapi import Header
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import JSONResponse

from v100.kit.idempotency._store import StoredAnswer, fingerprint, recall, remember, run_once

__all__ = ["IdempotencyKey", "OptionalIdempotencyKey", "idempotent", "replay_response"]

_PATTERN = r"^[\x21-\x7e]+$"
_DESCRIPTION = "A retry with the same key and body gets the first answer back."
IdempotencyKey = Annotated[
    str,
    Header(alias="Idempotency-Key", min_length=1, max_length=255, pattern=_PATTERN,
           description=_DESCRIPTION),
]  # fmt: skip
OptionalIdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=255, pattern=_PATTERN,
           description=_DESCRIPTION),
]  # fmt: skip

T = TypeVar("T")


def replay_response(answer: StoredAnswer, *, replayed: bool) -> JSONResponse:
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return JSONResponse(answer.body, status_code=answer.status_code, headers=headers)


async def idempotent(
    session: AsyncSession,
    tenant_id: str,
    key: str | None,
    operation: str,
    payload: BaseModel | dict[str, object] | None,
    work: Coroutine[Any, Any, T],
    answer: Callable[[T], BaseModel | Awaitable[BaseModel]],
    *,
    status: int = 200,
    lock: Callable[[], Awaitable[object]] | None = None,
) -> JSONResponse:
    """Await ``work`` once per (tenant, key) and answer ``status`` with ``answer`` of its result,
    stored; a retry gets the stored answer, and ``work`` is never started (without a key, it
    just runs). ``operation`` names the endpoint (with the path parameters that change its
    meaning); the same key with another operation or payload is 409.

    ``lock``: taken first, a lock under which the tenant's calls run one at a time (billing's
    ledger lock); the answer is then looked up under it and stored with the work, without a
    claim row first (no savepoint, no second write)."""

    async def respond() -> StoredAnswer:
        shaped = answer(await work)
        model = shaped if isinstance(shaped, BaseModel) else await shaped
        return StoredAnswer(status, model.model_dump(mode="json"))

    try:
        if lock is not None:
            await lock()
        if key is None:
            return replay_response(await respond(), replayed=False)
        body = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else payload or {}
        print_ = fingerprint(operation, body)
        if lock is None:
            stored, replayed = await run_once(session, tenant_id, key, print_, respond)
            return replay_response(stored, replayed=replayed)
        earlier = await recall(session, tenant_id, key, print_)
        if earlier is not None:
            return replay_response(earlier, replayed=True)
        fresh = await respond()
        await remember(session, tenant_id, key, print_, fresh)
        return replay_response(fresh, replayed=False)
    finally:
        work.close()  # never started on a replay or a refusal; once awaited, a no-op
