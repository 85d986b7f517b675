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

    # api.py — the request's unit of work does the work and stores the answer, or replays it:
    # the handler names the work (a coroutine, started only for a new key), how its result
    # becomes the answer, and the status
    @router.post("", status_code=201, response_model=PlanOut)
    async def create_plan(body: PlanCreate, key: OptionalIdempotencyKey, ...) -> Response:
        return await idempotent(
            session, principal.tenant_id, key, "create_plan", body,
            service.create_plan(body), PlanOut.model_validate, status=201,
        )

``idempotent`` claims the key before the work, so a concurrent duplicate waits for the first
request's transaction and then replays its answer (PostgreSQL), or is told the key is in use.
Failed calls (problems) store nothing: they changed nothing, so a retry runs again. A service
whose calls serialize on a lock of their own (billing's ledger lock) passes it as ``lock``: it
is taken first, and the answer is looked up and stored under it, with no claim.
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
    recall_many,
    remember,
    remember_many,
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
    "recall_many",
    "remember",
    "remember_many",
    "replay_response",
    "run_once",
]
