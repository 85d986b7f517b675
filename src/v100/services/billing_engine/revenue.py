"""Revenue shares: splits of the tenant's invoiced revenue with partners, computed for each invoice
in the invoice's own transaction (so exactly once, like the invoice), and the partner's payout
statement. Percent shares round once per invoice, half up, to minor units."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from v100.kit.auth import OPERATOR_TENANT_ID
from v100.kit.db import TenantRepository
from v100.kit.errors import NotFound, ValidationFailed
from v100.services.billing_engine.models import (
    Invoice,
    InvoiceLine,
    RevenueShare,
    RevenueShareEntry,
)
from v100.services.billing_engine.ratecards import round_minor
from v100.services.billing_engine.repository import MeterRepository, UsageEventRepository
from v100.services.billing_engine.schemas import RevenueShareCreate

__all__ = ["RevenueShareService", "share_invoice"]


class RevenueShareRepository(TenantRepository[RevenueShare]):
    model = RevenueShare

    async def all_for(self, tenant_id: str) -> list[RevenueShare]:
        statement = self.select_for(tenant_id).order_by(RevenueShare.id)
        return list((await self.session.execute(statement)).scalars())


class RevenueShareEntryRepository(TenantRepository[RevenueShareEntry]):
    model = RevenueShareEntry

    async def for_share(self, tenant_id: str, share_id: str) -> list[RevenueShareEntry]:
        statement = (
            select(RevenueShareEntry)
            .where(
                RevenueShareEntry.tenant_id == tenant_id,
                RevenueShareEntry.revenue_share_id == share_id,
            )
            .order_by(RevenueShareEntry.id)
        )
        return list((await self.session.execute(statement)).scalars())


async def share_invoice(
    session: AsyncSession,
    invoice: Invoice,
    lines: Sequence[InvoiceLine],
) -> list[RevenueShareEntry]:
    """One entry per revenue share of the tenant for this invoice."""
    tenant_id = invoice.tenant_id
    shares = await RevenueShareRepository(session).all_for(tenant_id)
    entries: list[RevenueShareEntry] = []
    for share in shares:
        event_count: int | None = None
        if share.basis == "percent":
            basis = sum(
                line.amount
                for line in lines
                if share.meter_code is None or line.meter_code == share.meter_code
            )
            amount = round_minor(Decimal(basis) * (share.percent or Decimal(0)) / 100)
        else:
            meter = await MeterRepository(session).by_code(
                OPERATOR_TENANT_ID, share.meter_code or ""
            )
            if meter is None:
                continue
            (aggregate,) = await UsageEventRepository(session).aggregate(
                tenant_id, meter, invoice.period_start, invoice.period_end, grouped=False
            )
            event_count = aggregate.event_count
            basis = 0
            amount = round_minor(event_count * (share.amount_per_event or Decimal(0)))
        entry = RevenueShareEntry(
            tenant_id=tenant_id,
            revenue_share_id=share.id,
            invoice_id=invoice.id,
            currency=invoice.currency,
            basis_amount=basis,
            event_count=event_count,
            amount=amount,
        )
        session.add(entry)
        entries.append(entry)
    return entries


class RevenueShareService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.shares = RevenueShareRepository(session)
        self.entries = RevenueShareEntryRepository(session)

    async def create(self, body: RevenueShareCreate) -> RevenueShare:
        """The operator's agreement with a partner over one tenant's invoices."""
        if body.tenant_id == OPERATOR_TENANT_ID:
            raise ValidationFailed("tenant_id names the operator, not a tenant.")
        if (
            body.meter is not None
            and await MeterRepository(self.session).by_code(OPERATOR_TENANT_ID, body.meter) is None
        ):
            raise ValidationFailed(f"No meter {body.meter!r}.")
        share = RevenueShare(
            tenant_id=body.tenant_id,
            partner=body.partner,
            basis=body.basis,
            percent=body.percent,
            amount_per_event=body.amount_per_event,
            meter_code=body.meter,
        )
        return await self.shares.add(share)

    async def statement(self, share_id: str) -> tuple[RevenueShare, list[RevenueShareEntry]]:
        share = await self.session.get(RevenueShare, share_id)
        if share is None:
            raise NotFound("No such revenue share.")
        return share, await self.entries.for_share(share.tenant_id, share_id)
