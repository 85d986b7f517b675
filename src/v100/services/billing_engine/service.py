"""Plans, meters and usage: creating the catalogue, ingesting usage events exactly once (each
event accepted, a duplicate or rejected with its reason; never lost silently) and summarising a
meter over a window. No HTTP objects here: failures are kit errors."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from v100.kit.auth import OPERATOR_TENANT_ID
from v100.kit.db import InvalidCursorError, Page, new_id, utcnow
from v100.kit.errors import BadRequest, Conflict, NotFound, ValidationFailed
from v100.services.billing_engine.models import Meter, Plan
from v100.services.billing_engine.repository import (
    Aggregate,
    InvoiceRepository,
    MeterRepository,
    PlanRepository,
    UsageEventRepository,
)
from v100.services.billing_engine.schemas import (
    EventResult,
    MeterCreate,
    PlanCreate,
    PlanUpdate,
    UsageEventIn,
)

# The largest magnitude models.QUANTITY holds (38 digits, 12 after the point).
_MAX_VALUE = Decimal(10) ** 26


class CatalogueService:
    """The operator's catalogue (ADR 0027): plans and meters are owned by
    ``OPERATOR_TENANT_ID``; tenants read the published plans."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.plans = PlanRepository(session)
        self.meters = MeterRepository(session)

    async def create_plan(self, body: PlanCreate) -> Plan:
        charge_meters = {charge.meter for charge in body.charges}
        known = await self.meters.by_codes(OPERATOR_TENANT_ID, charge_meters | set(body.included))
        missing = sorted((charge_meters | set(body.included)) - set(known))
        if missing:
            raise ValidationFailed(f"Unknown meters: {', '.join(missing)}.")
        plan = Plan(
            tenant_id=OPERATOR_TENANT_ID,
            code=body.code,
            name=body.name,
            status=body.status,
            interval=body.interval,
            base_price=body.base_price,
            currency=body.currency,
            trial_days=body.trial_days,
            tier=body.tier,
            included={code: str(units) for code, units in body.included.items()},
            charges=[charge.model_dump(mode="json") for charge in body.charges],
        )
        try:
            async with self.session.begin_nested():
                await self.plans.add(plan)
        except IntegrityError:
            raise Conflict(f"A plan with code {body.code!r} exists.") from None
        return plan

    async def update_plan(self, plan_id: str, body: PlanUpdate) -> Plan:
        plan = await self.get_plan(plan_id, published_only=False)
        if body.name is not None:
            plan.name = body.name
        if body.status is not None:
            plan.status = body.status
        await self.session.flush()
        return plan

    async def list_plans(
        self, limit: int, cursor: str | None, *, published_only: bool
    ) -> Page[Plan]:
        where = [Plan.status == "published"] if published_only else []
        try:
            return await self.plans.list(
                OPERATOR_TENANT_ID, limit=limit, cursor=cursor, where=where
            )
        except InvalidCursorError as exc:
            raise BadRequest(str(exc)) from None

    async def get_plan(self, plan_id: str, *, published_only: bool) -> Plan:
        plan = await self.plans.get(OPERATOR_TENANT_ID, plan_id)
        if plan is None or (published_only and plan.status != "published"):
            raise NotFound("No such plan.")
        return plan

    async def create_meter(self, body: MeterCreate) -> Meter:
        meter = Meter(tenant_id=OPERATOR_TENANT_ID, **body.model_dump())
        try:
            async with self.session.begin_nested():
                await self.meters.add(meter)
        except IntegrityError:
            raise Conflict(f"A meter with code {body.code!r} exists.") from None
        return meter


def _number(raw: Any) -> Decimal:
    # bool is an int in Python, but true is not a quantity.
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ValueError("is not a number")
    if isinstance(raw, float) and not math.isfinite(raw):
        raise ValueError("is not a finite number")
    try:
        # str() first: 0.1 becomes Decimal("0.1"), not the binary float's expansion.
        value = Decimal(str(raw))
    except InvalidOperation:
        raise ValueError("is not a number") from None
    if not value.is_finite() or abs(value) >= _MAX_VALUE:
        raise ValueError("is out of range")
    return value


def _key(raw: Any) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, dict | list):
        raise ValueError("must be a string, number or boolean")
    return str(raw)[:255]


class UsageService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.meters = MeterRepository(session)
        self.events = UsageEventRepository(session)

    def _row(
        self,
        tenant_id: str,
        event: UsageEventIn,
        meter: Meter,
        received_at: datetime,
        billed_through: datetime | None,
    ) -> dict[str, Any]:
        """The row to insert; ValueError with the reason when the event cannot count."""
        if event.timestamp is not None and event.timestamp.tzinfo is None:
            raise ValueError("timestamp needs a time zone (e.g. 2026-11-26T12:00:00Z)")
        if billed_through is not None and (event.timestamp or received_at) < billed_through:
            # Accepting it would be usage that is never invoiced (lago#637, openmeter#4313):
            # say so now instead.
            raise ValueError(
                f"its period is already invoiced (through {billed_through.isoformat()})"
            )
        value: Decimal | None = None
        value_key: str | None = None
        if meter.property is not None:
            raw = event.properties.get(meter.property)
            if raw is None:
                raise ValueError(f"property {meter.property!r} is missing")
            if meter.aggregation == "unique_count":
                value_key = _key(raw)
            else:
                try:
                    value = _number(raw)
                except ValueError as exc:
                    raise ValueError(f"property {meter.property!r} {exc}") from None
        group_key = None
        if meter.group_by is not None:
            try:
                group_key = _key(event.properties.get(meter.group_by))
            except ValueError as exc:
                raise ValueError(f"property {meter.group_by!r} {exc}") from None
        return {
            "id": None,  # filled by the caller with a fresh id
            "tenant_id": tenant_id,
            "event_id": event.id,
            "meter_code": meter.code,
            "timestamp": event.timestamp or received_at,
            "value": value,
            "value_key": value_key,
            "group_key": group_key,
            "properties": event.properties,
            "received_at": received_at,
        }

    async def ingest(self, tenant_id: str, events: Sequence[UsageEventIn]) -> list[EventResult]:
        """Record each new event once; the answer says, per event, what became of it."""
        meters = await self.meters.by_codes(OPERATOR_TENANT_ID, {event.meter for event in events})
        billed_through = await InvoiceRepository(self.session).billed_through(tenant_id)
        now = utcnow()
        results: list[EventResult | None] = [None] * len(events)
        rows: list[dict[str, Any]] = []
        positions: dict[str, int] = {}
        for index, event in enumerate(events):
            if event.id in positions:
                results[index] = EventResult(id=event.id, status="duplicate")
                continue
            meter = meters.get(event.meter)
            if meter is None:
                error = f"unknown meter {event.meter!r}"
                results[index] = EventResult(id=event.id, status="rejected", error=error)
                continue
            try:
                row = self._row(tenant_id, event, meter, now, billed_through)
            except ValueError as exc:
                results[index] = EventResult(id=event.id, status="rejected", error=str(exc))
                continue
            row["id"] = new_id()
            positions[event.id] = index
            rows.append(row)
        inserted = await self.events.insert_new(rows)
        for event_id, index in positions.items():
            status = "accepted" if event_id in inserted else "duplicate"
            results[index] = EventResult(id=event_id, status=status)
        return [result for result in results if result is not None]

    async def summary(
        self,
        tenant_id: str,
        meter_code: str,
        start: datetime,
        end: datetime,
        group_by: str | None,
    ) -> tuple[Meter, list[Aggregate]]:
        meter = await self.meters.by_code(OPERATOR_TENANT_ID, meter_code)
        if meter is None:
            raise NotFound(f"No meter {meter_code!r}.")
        if start.tzinfo is None or end.tzinfo is None:
            raise ValidationFailed("from and to need a time zone.")
        if end <= start:
            raise ValidationFailed("to must be after from.")
        if group_by is not None and group_by != meter.group_by:
            # Groups are extracted at ingestion, so only the meter's own group_by is indexed.
            raise ValidationFailed(
                f"Meter {meter.code!r} groups by {meter.group_by!r}, not {group_by!r}."
            )
        aggregates = await self.events.aggregate(
            tenant_id, meter, start, end, grouped=group_by is not None
        )
        return meter, aggregates
