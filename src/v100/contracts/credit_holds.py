"""How work that costs credits pays for them through billing (DESIGN section 4, ADR 0015): hold
before the work, capture the actual amount after it, release on failure. Every request is
derived from the work alone (its idempotency keys ``<kind>:<id>:hold|capture|release``, its
body, the hold's expiry counted from the work's creation), so a retried job sends the very same
requests and is charged once.

    TRANSCODE = HoldTerms(kind="media-job", reason="media.transcode", work="the transcode",
                          lifetime=hold_lifetime(3 * 3600, attempts=3), failure=JobFailed)
    hold_id = await TRANSCODE.reserve(billing, work_id=row.id, tenant_id=row.tenant_id,
                                      created_at=row.created_at, amount=12,
                                      last_attempt=job.is_last_attempt)
    ...                                                            # the work
    charged = await TRANSCODE.capture(billing, work_id=row.id, tenant_id=row.tenant_id,
                                      hold_id=hold_id, amount=9)

Work whose cost is known only after it (an LLM's tokens, counted by the vendor's tokenizer,
not the cl100k the hold was estimated with) settles with ``settle``: the hold captured up to
what it holds, the rest deducted beside it (key ``<kind>:<id>:excess``).

A refusal ends the work failed through the service's own error (``failure(code, detail)``):
``insufficient-credits``, ``billing-refused``, or ``billing-unavailable`` on the last attempt
(before it, an unreachable billing is raised as it is, so the job is retried: no unpaid work).
Where the hold's id is kept (the service's row) is the service's business.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

from v100.contracts.billing import BillingClient, BillingError, InsufficientCredits, spending_for
from v100.kit.errors import UpstreamUnavailable
from v100.kit.observability import get_logger

__all__ = ["MAX_HOLD_LIFETIME", "HoldTerms", "credits_per_started_minute", "hold_lifetime"]

_log = get_logger("v100.contracts.credit_holds")
# billing cuts a hold short at its max_hold_seconds (a week by default): stay under it.
MAX_HOLD_LIFETIME = timedelta(days=6)
_UNREACHABLE = (BillingError, UpstreamUnavailable, httpx.HTTPError)


def credits_per_started_minute(seconds: float, per_minute: int) -> int:
    """Credits for ``seconds`` of output: every started minute costs ``per_minute``."""
    return max(1, math.ceil(seconds / 60)) * per_minute


def hold_lifetime(timeout_seconds: float, *, attempts: int) -> timedelta:
    """A hold that outlives every attempt of a job (and an hour more), capped at
    ``MAX_HOLD_LIFETIME``."""
    return min(timedelta(seconds=timeout_seconds * attempts + 3600), MAX_HOLD_LIFETIME)


@dataclass(frozen=True, slots=True)
class HoldTerms:
    """How one kind of work holds credits."""

    # The keys' prefix and the hold's reason at billing: "media-job" and "media.transcode".
    kind: str
    reason: str
    # The work as a refusal names it: "the transcode" needs 12 credits; 3 are available.
    work: str
    # From the work's creation: long enough for every attempt of its job.
    lifetime: timedelta
    # The service's error that ends the work failed: ``failure(code, detail)``.
    failure: Callable[[str, str], Exception]

    def key(self, work_id: str, step: str) -> str:
        return f"{self.kind}:{work_id}:{step}"

    async def reserve(
        self,
        billing: BillingClient | None,
        *,
        work_id: str,
        tenant_id: str,
        created_at: datetime,
        amount: int,
        last_attempt: bool,
    ) -> str | None:
        """Hold ``amount`` before the work; the hold's id (None when nothing is charged)."""
        if billing is None or amount == 0:
            return None
        # From the work's creation, not from now: a retry must send the very same request, or
        # billing refuses the reused Idempotency-Key.
        expires_at = (created_at + self.lifetime).replace(microsecond=0)
        try:
            hold = await billing.reserve(
                spending_for(tenant_id),
                amount,
                reason=self.reason,
                reference=work_id,
                idempotency_key=self.key(work_id, "hold"),
                expires_at=expires_at,
            )
        except InsufficientCredits as exc:
            raise self.failure(
                "insufficient-credits",
                f"{self.work} needs {amount} credits; {exc.available} are available",
            ) from exc
        except _UNREACHABLE as exc:
            if isinstance(exc, BillingError) and exc.status < 500:
                raise self.failure("billing-refused", str(exc)) from exc
            if last_attempt:
                raise self.failure(
                    "billing-unavailable", "billing could not be reached to hold the credits"
                ) from exc
            raise
        return hold.id

    async def capture(
        self,
        billing: BillingClient | None,
        *,
        work_id: str,
        tenant_id: str,
        hold_id: str | None,
        amount: int,
    ) -> int | None:
        """Capture ``amount`` of the hold (at most what it holds); the amount charged."""
        if billing is None or hold_id is None:
            return None
        hold = await billing.capture(
            spending_for(tenant_id), hold_id, amount, idempotency_key=self.key(work_id, "capture")
        )
        return hold.captured_amount

    async def settle(
        self,
        billing: BillingClient | None,
        *,
        work_id: str,
        tenant_id: str,
        hold_id: str | None,
        held: int,
        amount: int,
    ) -> int | None:
        """Charge the work's real cost, ``amount``: up to ``held`` captured from the hold, the
        rest deducted (``<kind>:<id>:excess``, so a retry deducts it once). The work is done
        by then: a deduction billing refuses (too few credits) or cannot take is logged and
        left out, and the amount returned is what was charged."""
        captured = await self.capture(
            billing, work_id=work_id, tenant_id=tenant_id, hold_id=hold_id,
            amount=min(amount, held),
        )  # fmt: skip
        if billing is None or captured is None or amount <= held:
            return captured
        try:
            await billing.deduct(
                spending_for(tenant_id), amount - held, reason=self.reason, reference=work_id,
                idempotency_key=self.key(work_id, "excess"),
            )  # fmt: skip
        except _UNREACHABLE as exc:
            _log.warning(
                "excess not deducted", kind=self.kind, id=work_id, excess=amount - held,
                error=repr(exc),
            )  # fmt: skip
            return captured
        return captured + amount - held

    async def release(
        self, billing: BillingClient | None, *, work_id: str, tenant_id: str, hold_id: str
    ) -> None:
        """Give the hold back: failed work costs nothing."""
        if billing is None:
            return
        try:
            await billing.release(
                spending_for(tenant_id), hold_id, idempotency_key=self.key(work_id, "release")
            )
        except _UNREACHABLE as exc:
            # The hold lapses at its expiry anyway (billing releases expired holds).
            _log.warning(
                "hold not released", kind=self.kind, id=work_id, hold_id=hold_id, error=repr(exc)
            )
