"""Credit operations on one tenant's ledger: grants (the free tier on first use), holds
(reserve, capture, release, expiry), instant deductions, balances, and the low-balance events
published after commit. No HTTP here: errors are ``kit.errors`` problems.

Overdraft rule: none. A hold or a deduction larger than the available balance is refused
(409 insufficient-credits), and a capture may not exceed its hold (409 capture-exceeds-hold);
to charge more, capture the hold and deduct the difference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from v100.kit.bus import Bus
from v100.kit.db import new_id, session_hooks, utcnow
from v100.kit.errors import NotFound, ValidationFailed
from v100.services.billing.errors import CaptureExceedsHold, HoldClosed, InsufficientCredits
from v100.services.billing.events import announce_crossings
from v100.services.billing.ledger import Leg, PostedEntry, TenantLedger
from v100.services.billing.models import AuditRecord, CreditGrant, CreditHold
from v100.services.billing.repository import (
    GrantRepository,
    HoldRepository,
    LedgerRepository,
)
from v100.services.billing.settings import BillingSettings

__all__ = [
    "Balance",
    "CreditService",
    "Deduction",
]


@dataclass(frozen=True, slots=True)
class Deduction:
    """One charge of ``deduct_many``."""

    amount: int
    reason: str
    reference: str | None = None
    actor: str | None = None


@dataclass(frozen=True, slots=True)
class Balance:
    available: int
    held: int
    by_category: dict[str, int]
    grants: Sequence[CreditGrant]


class CreditService:
    """Credit operations within one unit of work (the caller's session)."""

    def __init__(
        self, session: AsyncSession, settings: BillingSettings, bus: Bus | None = None
    ) -> None:
        self.session = session
        self.settings = settings
        self.bus = bus
        self.accounts = LedgerRepository(session)
        self.grants = GrantRepository(session)
        self.holds = HoldRepository(session)
        self._ledgers: dict[str, TenantLedger] = {}

    # -- the lock and what happens on every open ------------------------------------------

    async def open(self, tenant_id: str, *, actor: str | None = None) -> TenantLedger:
        """Lock the tenant's ledger for this transaction (provisioning it and its free-tier
        grant on first use), expire what is due, and arrange the balance events."""
        ledger = self._ledgers.get(tenant_id)
        if ledger is not None:
            return ledger
        # The lock comes first: on an existing tenant (all but its first call) it is the only
        # statement before the work. Provisioning is an INSERT that a racing first call waits on.
        accounts = await self.accounts.lock(tenant_id)
        created = False
        if not accounts:
            created = await self.accounts.provision(tenant_id)
            accounts = await self.accounts.lock(tenant_id)
        ledger = TenantLedger(self.session, tenant_id, accounts)
        self._ledgers[tenant_id] = ledger
        if created and self.settings.free_tier_credits:
            await self._grant(
                ledger,
                self.settings.free_tier_credits,
                category="promotional",
                priority=10,
                expires_at=None,
                source="free_tier",
                reference="free-tier",
                actor="system",
            )
        await self._expire_due(ledger, utcnow())
        await ledger.write()
        # The free-tier grant is where the balance starts, not a crossing.
        ledger.opening_available = ledger.available
        session_hooks(self.session).after_commit(
            lambda: announce_crossings(self.bus, self.settings, ledger)
        )
        return ledger

    # -- grants ------------------------------------------------------------------------------

    async def grant(
        self,
        tenant_id: str,
        amount: int,
        *,
        category: str,
        priority: int = 50,
        expires_at: datetime | None = None,
        source: str,
        reference: str | None = None,
        actor: str | None = None,
    ) -> CreditGrant:
        ledger = await self.open(tenant_id)
        grant = await self._grant(
            ledger,
            amount,
            category=category,
            priority=priority,
            expires_at=expires_at,
            source=source,
            reference=reference,
            actor=actor,
        )
        await ledger.write()
        return grant

    async def _grant(
        self,
        ledger: TenantLedger,
        amount: int,
        *,
        category: str,
        priority: int,
        expires_at: datetime | None,
        source: str,
        reference: str | None,
        actor: str | None,
    ) -> CreditGrant:
        grant = CreditGrant(
            id=new_id(),
            tenant_id=ledger.tenant_id,
            category=category,
            priority=priority,
            amount=amount,
            remaining=0,
            source=source,
            reference=reference,
            expires_at=expires_at,
        )
        self.session.add(grant)
        ledger.post(
            "grant",
            amount,
            [Leg("issued", -amount), Leg("available", amount, grant)],
            reason=source,
            reference=reference,
            actor=actor,
            grant_id=grant.id,
        )
        self._audit(ledger, "grant.created", actor, reference, grant.id, amount, category=category)
        return grant

    # -- holds ---------------------------------------------------------------------------------

    async def reserve(
        self,
        tenant_id: str,
        amount: int,
        *,
        reason: str,
        reference: str | None = None,
        expires_at: datetime | None = None,
        actor: str | None = None,
    ) -> CreditHold:
        ledger = await self.open(tenant_id)
        now = utcnow()
        if expires_at is None:
            expires_at = now + timedelta(seconds=self.settings.default_hold_seconds)
        elif expires_at <= now:
            raise ValidationFailed("A hold must expire in the future.")
        expires_at = min(expires_at, now + timedelta(seconds=self.settings.max_hold_seconds))
        hold = CreditHold(
            id=new_id(),
            tenant_id=tenant_id,
            amount=amount,
            status="held",
            reason=reason,
            reference=reference,
            actor=actor,
            expires_at=expires_at,
            entry_id="",
        )
        legs = await self._take(ledger, amount, "held", now)
        entry = ledger.post(
            "hold", amount, legs, reason=reason, reference=reference, actor=actor, hold_id=hold.id
        )
        hold.entry_id = entry.id
        self.session.add(hold)
        self._audit(ledger, "hold.created", actor, reference, hold.id, amount, reason=reason)
        await ledger.write()
        return hold

    async def capture(
        self, tenant_id: str, hold_id: str, amount: int, *, actor: str | None = None
    ) -> CreditHold:
        ledger = await self.open(tenant_id)
        hold = await self._open_hold(tenant_id, hold_id)
        if amount > hold.amount:
            raise CaptureExceedsHold(
                f"Capture of {amount} credits exceeds hold {hold.id} of {hold.amount}.",
                extra={"held": hold.amount},
            )
        legs: list[Leg] = []
        left = amount
        for grant, held in await self._hold_parts(ledger, hold):
            used = min(held, left)
            left -= used
            legs += [Leg("held", -held, grant), Leg("spent", used, grant)]
            legs.append(Leg("available", held - used, grant))
        ledger.post(
            "capture",
            amount,
            legs,
            reason=hold.reason,
            reference=hold.reference,
            actor=actor,
            hold_id=hold.id,
        )
        hold.status, hold.captured_amount, hold.closed_at = "captured", amount, utcnow()
        self._audit(ledger, "hold.captured", actor, hold.reference, hold.id, amount)
        await ledger.write()
        return hold

    async def release(
        self, tenant_id: str, hold_id: str, *, actor: str | None = None
    ) -> CreditHold:
        ledger = await self.open(tenant_id)
        hold = await self._open_hold(tenant_id, hold_id)
        await self._return_hold(ledger, hold, "released", actor)
        await ledger.write()
        return hold

    async def get_hold(self, tenant_id: str, hold_id: str) -> CreditHold:
        await self.open(tenant_id)
        hold = await self.holds.get(tenant_id, hold_id)
        if hold is None:
            raise NotFound(f"No hold {hold_id}.")
        return hold

    async def _open_hold(self, tenant_id: str, hold_id: str) -> CreditHold:
        hold = await self.holds.get(tenant_id, hold_id)
        if hold is None:
            raise NotFound(f"No hold {hold_id}.")
        if hold.status != "held":
            raise HoldClosed(
                f"Hold {hold.id} is {hold.status}.", extra={"hold_status": hold.status}
            )
        return hold

    async def _hold_parts(
        self, ledger: TenantLedger, hold: CreditHold
    ) -> list[tuple[CreditGrant, int]]:
        """The grants a hold took its credits from, in the order it took them."""
        await ledger.write()
        postings = await self.accounts.entry_postings(hold.entry_id, ledger.accounts["held"].id)
        parts: list[tuple[CreditGrant, int]] = []
        for posting in postings:
            grant = await self.grants.get(ledger.tenant_id, str(posting.grant_id))
            assert grant is not None
            parts.append((grant, posting.amount))
        return parts

    async def _return_hold(
        self, ledger: TenantLedger, hold: CreditHold, status: str, actor: str | None
    ) -> None:
        legs: list[Leg] = []
        for grant, held in await self._hold_parts(ledger, hold):
            legs += [Leg("held", -held, grant), Leg("available", held, grant)]
        kind = "release" if status == "released" else "hold_expiry"
        ledger.post(
            kind, hold.amount, legs, reason=hold.reason, reference=hold.reference,
            actor=actor, hold_id=hold.id,
        )  # fmt: skip
        hold.status, hold.closed_at = status, utcnow()
        self._audit(ledger, f"hold.{status}", actor, hold.reference, hold.id, hold.amount)

    # -- deductions ------------------------------------------------------------------------

    async def deduct(
        self,
        tenant_id: str,
        amount: int,
        *,
        reason: str,
        reference: str | None = None,
        actor: str | None = None,
    ) -> PostedEntry:
        ledger = await self.open(tenant_id)
        entry = await self._deduct(ledger, amount, reason, reference, actor, utcnow())
        await ledger.write()
        return entry

    async def deduct_many(
        self, tenant_id: str, calls: Sequence[Deduction]
    ) -> list[PostedEntry | InsufficientCredits]:
        """Several deductions in this transaction, in order, each on its own: a refused one
        (insufficient credits) changes nothing and does not stop the others. All entries are
        written together at the end (one INSERT per table)."""
        ledger = await self.open(tenant_id)
        now = utcnow()
        results: list[PostedEntry | InsufficientCredits] = []
        for call in calls:
            try:
                entry = await self._deduct(
                    ledger, call.amount, call.reason, call.reference, call.actor, now
                )
            except InsufficientCredits as refused:
                results.append(refused)
            else:
                results.append(entry)
        await ledger.write()
        return results

    async def _deduct(
        self,
        ledger: TenantLedger,
        amount: int,
        reason: str,
        reference: str | None,
        actor: str | None,
        now: datetime,
    ) -> PostedEntry:
        legs = await self._take(ledger, amount, "spent", now)
        entry = ledger.post(
            "deduction", amount, legs, reason=reason, reference=reference, actor=actor
        )
        self._audit(ledger, "deduction", actor, reference, entry.id, amount, reason=reason)
        return entry

    async def _take(self, ledger: TenantLedger, amount: int, to: str, now: datetime) -> list[Leg]:
        """Legs moving ``amount`` out of the available account into ``to``, grant by grant in
        the order they are consumed; InsufficientCredits when they do not cover it."""
        if amount > ledger.available:
            raise InsufficientCredits(
                f"{amount} credits asked, {ledger.available} available.",
                extra={"available": ledger.available, "requested": amount},
            )
        legs: list[Leg] = []
        left = amount
        if ledger.spendable is None:
            ledger.spendable = list(await self.grants.spendable(ledger.tenant_id, now))
        for grant in ledger.spendable:
            if left == 0:
                break
            if grant.remaining <= 0:
                continue
            part = min(grant.remaining, left)
            left -= part
            legs += [Leg("available", -part, grant), Leg(to, part, grant)]
        if left:
            # The cached balance says yes but the grants do not cover it: never overdraw.
            raise InsufficientCredits(
                f"{amount} credits asked, {amount - left} spendable.",
                extra={"available": amount - left, "requested": amount},
            )
        return legs

    # -- expiry ------------------------------------------------------------------------------

    async def _expire_due(self, ledger: TenantLedger, now: datetime) -> None:
        # One question on every open (usually "no"), the two lookups only when something is due.
        if not await self.accounts.anything_due(ledger.tenant_id, now):
            return
        # Holds first: what they return to an expired grant then expires with it.
        for hold in await self.holds.due(ledger.tenant_id, now):
            await self._return_hold(ledger, hold, "expired", "system")
        for grant in await self.grants.due(ledger.tenant_id, now):
            amount = grant.remaining
            ledger.post(
                "expiry",
                amount,
                [Leg("available", -amount, grant), Leg("expired", amount, grant)],
                reason="grant expired",
                reference=grant.reference,
                actor="system",
                grant_id=grant.id,
            )
            grant.expired_at = now
            self._audit(ledger, "grant.expired", "system", grant.reference, grant.id, amount)

    async def expire_all_due(self) -> int:
        """Expire due holds and grants of every tenant (the expiry job); how many tenants."""
        now = utcnow()
        tenants = set(await self.holds.tenants_due(now)) | set(await self.grants.tenants_due(now))
        for tenant_id in sorted(tenants):
            await self.open(tenant_id)
        return len(tenants)

    # -- reads -------------------------------------------------------------------------------

    async def balance(self, tenant_id: str) -> Balance:
        ledger = await self.open(tenant_id)
        grants = await self.grants.active(tenant_id)
        by_category = {"paid": 0, "promotional": 0}
        for grant in grants:
            by_category[grant.category] = by_category.get(grant.category, 0) + grant.remaining
        return Balance(ledger.available, ledger.held, by_category, grants)

    # -- audit and events --------------------------------------------------------------------

    def _audit(
        self,
        ledger: TenantLedger,
        action: str,
        actor: str | None,
        reference: str | None,
        subject_id: str | None,
        amount: int | None,
        **details: object,
    ) -> None:
        ledger.audit(action, actor, reference, subject_id, amount, details)

    def audit(
        self,
        tenant_id: str,
        action: str,
        actor: str | None,
        reference: str | None,
        subject_id: str | None,
        amount: int | None,
        **details: object,
    ) -> None:
        """Add a line to the tenant's audit log (in the current transaction)."""
        self.session.add(
            AuditRecord(
                id=new_id(),
                tenant_id=tenant_id,
                action=action,
                actor=actor,
                reference=reference,
                subject_id=subject_id,
                amount=amount,
                details=details,
                created_at=utcnow(),
            )
        )
