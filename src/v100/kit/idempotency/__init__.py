"""Idempotent POSTs: the first answer to a mutating call is stored under its ``Idempotency-Key``
(per tenant) in the same transaction as the work, and a retry with the same key and body gets
it back; the same key with another operation or body is 409 ``idempotency-key-reused``.

A service wires it like this:

    # models.py — the table lives in the service's own metadata and database
    add_idempotency_table(Base.metadata)

    # migrations/versions/2026-..._idempotency.py
    from v100.kit.idempotency.migration import (
        create_idempotency_table, drop_idempotency_table)
    def upgrade() -> None: create_idempotency_table()
    def downgrade() -> None: drop_idempotency_table()

    # api.py — the request's unit of work does the work and stores the answer, or replays it
    @router.post("", status_code=201, response_model=PlanOut)
    async def create_plan(body: PlanCreate, key: OptionalIdempotencyKey, ...) -> Response:
        async def work() -> tuple[int, BaseModel]:
            return 201, PlanOut.model_validate(await service.create_plan(...))
        return await idempotent(session, principal.tenant_id, key, "create_plan", body, work)

``idempotent`` claims the key before the work, so a concurrent duplicate waits for the first
request's transaction and then replays its answer (PostgreSQL), or is told the key is in use.
Failed calls (problems) store nothing: they changed nothing, so a retry runs again. A service
that serializes its callers itself (billing's ledger lock) may use ``recall``/``remember``.
"""

from v100.kit.idempotency._http import (
    IdempotencyKey,
    OptionalIdempotencyKey,
    idempotent,
    replay_response,
)
from v100.kit.idempotency._store import (
    IDEMPOTENCY_TABLE,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    StoredAnswer,
    add_idempotency_table,
    fingerprint,
    recall,
    remember,
    run_once,
)

__all__ = [
    "IDEMPOTENCY_TABLE",
    "IdempotencyKey",
    "IdempotencyKeyInUse",
    "IdempotencyKeyReused",
    "OptionalIdempotencyKey",
    "StoredAnswer",
    "add_idempotency_table",
    "fingerprint",
    "idempotent",
    "recall",
    "remember",
    "replay_response",
    "run_once",
]
