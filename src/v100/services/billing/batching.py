"""Group commit for deductions: concurrent ``deduct`` calls on one tenant are queued and run
together in one transaction under one ledger lock, each with its own journal entry, audit line
and stored idempotent answer. One tenant's charges serialize on its account lock anyway; paying
the lock, the expiry check and the commit once per batch instead of once per call is what lets
one hot account take thousands of charges a second.

Each call still gets its own answer: a refused one (insufficient credits) changes nothing and
does not fail the others; two calls in one batch with the same key share the first's answer (or
the second is a conflict when its body differs); a key answered by an earlier batch is replayed.
If the transaction itself fails, every call of the batch gets that error and nothing is stored.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from v100.kit.bus import Bus
from v100.kit.db import unit_of_work
from v100.kit.idempotency import IdempotencyKeyReused, StoredAnswer, recall_many, remember_many
from v100.services.billing.schemas import DeductionOut
from v100.services.billing.service import CreditService, Deduction
from v100.services.billing.settings import BillingSettings

__all__ = ["DeductionBatcher", "DeductionCall"]


@dataclass
class DeductionCall:
    tenant_id: str
    key: str
    fingerprint: str
    amount: int
    reason: str
    reference: str | None
    actor: str
    done: asyncio.Future[tuple[StoredAnswer, bool]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class DeductionBatcher:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: BillingSettings,
        bus: Bus | None,
        *,
        max_batch: int = 200,
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._bus = bus
        self._max_batch = max_batch
        self._pending: dict[str, list[DeductionCall]] = {}
        self._drains: dict[str, asyncio.Task[None]] = {}

    async def deduct(self, call: DeductionCall) -> tuple[StoredAnswer, bool]:
        """The call's answer and whether it is a replay; raises the call's problem."""
        self._pending.setdefault(call.tenant_id, []).append(call)
        if call.tenant_id not in self._drains:
            self._drains[call.tenant_id] = asyncio.create_task(self._drain(call.tenant_id))
        # Shielded: a caller that goes away does not cancel the batch its charge is part of.
        return await asyncio.shield(call.done)

    async def _drain(self, tenant_id: str) -> None:
        try:
            while queue := self._pending.get(tenant_id):
                batch, self._pending[tenant_id] = (
                    queue[: self._max_batch],
                    queue[self._max_batch :],
                )
                await self._run(tenant_id, batch)
        finally:
            self._pending.pop(tenant_id, None)
            self._drains.pop(tenant_id, None)

    async def _run(self, tenant_id: str, batch: list[DeductionCall]) -> None:
        results: list[tuple[StoredAnswer, bool] | BaseException] = []
        try:
            async with unit_of_work(self._sessions) as session:
                credits = CreditService(session, self._settings, self._bus)
                # The lock first: the stored answers are read under it (see _charge).
                await credits.open(tenant_id)
                results = await self._charge(session, credits, tenant_id, batch)
        except Exception as exc:  # the transaction failed: nobody was charged
            results = [exc] * len(batch)
        for call, result in zip(batch, results, strict=True):
            if call.done.done():
                continue
            if isinstance(result, BaseException):
                call.done.set_exception(result)
            else:
                call.done.set_result(result)

    async def _charge(
        self,
        session: AsyncSession,
        credits: CreditService,
        tenant_id: str,
        batch: list[DeductionCall],
    ) -> list[tuple[StoredAnswer, bool] | BaseException]:
        # Answers stored by earlier batches (read under the ledger lock, so a duplicate that
        # another replica committed is seen here); the unique (tenant, key) is the backstop.
        stored = await recall_many(session, tenant_id, {call.key for call in batch})
        # First pass: replays and conflicts answer at once; one charge per fresh key.
        results: list[tuple[StoredAnswer, bool] | BaseException | None] = []
        first: dict[str, DeductionCall] = {}
        for call in batch:
            earlier = stored.get(call.key)
            leader = first.get(call.key)
            print_ = earlier[0] if earlier else leader.fingerprint if leader else None
            if print_ is not None and print_ != call.fingerprint:
                results.append(
                    IdempotencyKeyReused(f"Idempotency-Key {call.key!r} was used otherwise.")
                )
            elif earlier is not None:
                results.append((earlier[1], True))
            else:
                if leader is None:
                    first[call.key] = call
                results.append(None)  # charged (or a same-batch duplicate of one) below
        charges = list(first.values())
        outcomes = await credits.deduct_many(
            tenant_id,
            [Deduction(c.amount, c.reason, c.reference, c.actor) for c in charges],
        )
        answers: dict[str, tuple[StoredAnswer, bool] | BaseException] = {}
        records: list[tuple[str, str, StoredAnswer]] = []
        for call, outcome in zip(charges, outcomes, strict=True):
            if isinstance(outcome, BaseException):  # refused: nothing written, nothing stored
                answers[call.key] = outcome
                continue
            answer = StoredAnswer(201, DeductionOut.model_validate(outcome).model_dump(mode="json"))
            answers[call.key] = (answer, False)
            records.append((call.key, call.fingerprint, answer))
        await remember_many(session, tenant_id, records)
        finished: list[tuple[StoredAnswer, bool] | BaseException] = []
        for call, result in zip(batch, results, strict=True):
            if result is not None:
                finished.append(result)
                continue
            answer_ = answers[call.key]
            if first[call.key] is not call and not isinstance(answer_, BaseException):
                answer_ = (answer_[0], True)  # the same key earlier in this batch: a replay
            finished.append(answer_)
        return finished
