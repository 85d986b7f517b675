"""Idempotent calls: the first answer to a mutating request is stored under its
``Idempotency-Key`` in the same transaction as the work, and a retry gets it back; the same key
with another operation or body is a conflict. The mechanism is ``v100.kit.idempotency``, shared
with billing_engine; billing's table (``IdempotencyRecord``) is the kit's table.

Lookups run after the tenant's ledger lock is taken, so a concurrent duplicate waits for the
first to commit and then finds its answer; the unique (tenant, key) constraint is the backstop.
Failed calls (4xx problems) store nothing: they changed nothing, so a retry runs again.
"""

from __future__ import annotations

from v100.kit.idempotency import (
    IdempotencyKeyReused,
    StoredAnswer,
    fingerprint,
    recall,
    remember,
)

__all__ = ["IdempotencyKeyReused", "StoredAnswer", "fingerprint", "recall", "remember"]
