"""The HTTP side of idempotent POSTs: the ``Idempotency-Key`` header (required or optional) and
``idempotent``, which runs an endpoint's work once per key and answers with the stored JSON
(``Idempotent-Replayed: true`` on a replay)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Header
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import JSONResponse

from v100.kit.idempotency._store import StoredAnswer, fingerprint, run_once

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

Work = Callable[[], Awaitable[tuple[int, BaseModel]]]


def replay_response(answer: StoredAnswer, *, replayed: bool) -> JSONResponse:
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return JSONResponse(answer.body, status_code=answer.status_code, headers=headers)


async def idempotent(
    session: AsyncSession,
    tenant_id: str,
    key: str | None,
    operation: str,
    payload: BaseModel | dict[str, object] | None,
    work: Work,
) -> JSONResponse:
    """Run ``work`` once per (tenant, key) and answer with its stored JSON; without a key, just
    run it. ``operation`` names the endpoint (include path parameters that change its meaning)."""

    async def answer() -> StoredAnswer:
        status, result = await work()
        return StoredAnswer(status, result.model_dump(mode="json"))

    if key is None:
        return replay_response(await answer(), replayed=False)
    body = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else payload or {}
    stored, replayed = await run_once(session, tenant_id, key, fingerprint(operation, body), answer)
    return replay_response(stored, replayed=replayed)
