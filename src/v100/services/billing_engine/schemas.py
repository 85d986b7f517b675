"""Request and response models of the billing engine's API. Amounts are integers of minor units;
unit prices and quantities are decimals sent as strings or numbers (never binary floats in
storage: they are parsed straight into ``Decimal``)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from v100.kit.http import Listing, refusing_null
from v100.kit.text import Line
from v100.services.billing_engine import ratecards
from v100.services.billing_engine.currencies import is_currency

Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
NonNegative = Annotated[Decimal, Field(ge=0, max_digits=38, decimal_places=12)]
Positive = Annotated[Decimal, Field(gt=0, max_digits=38, decimal_places=12)]
MAX_BATCH = 1000


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- rate cards ---------------------------------------------------------------------------


class TierIn(_In):
    up_to: Positive | None = None
    unit_price: NonNegative = Decimal(0)
    flat_fee: NonNegative = Decimal(0)


class FlatCard(_In):
    type: Literal["flat"]
    amount: NonNegative


class PerUnitCard(_In):
    type: Literal["per_unit"]
    unit_price: NonNegative


class _TieredCard(_In):
    tiers: list[TierIn] = Field(min_length=1, max_length=50)

    @model_validator(mode="after")
    def _tiers_ascend(self) -> _TieredCard:
        ratecards.check_tiers(self._tiers())
        return self

    def _tiers(self) -> list[ratecards.Tier]:
        return [ratecards.Tier(t.up_to, t.unit_price, t.flat_fee) for t in self.tiers]


class GraduatedCard(_TieredCard):
    type: Literal["graduated"]


class VolumeCard(_TieredCard):
    type: Literal["volume"]


class PackageCard(_In):
    type: Literal["package"]
    package_size: Positive
    package_price: NonNegative


RateCardIn = Annotated[
    FlatCard | PerUnitCard | GraduatedCard | VolumeCard | PackageCard, Field(discriminator="type")
]


def to_rate_card(card: RateCardIn) -> ratecards.RateCard:
    match card:
        case FlatCard():
            return ratecards.Flat(card.amount)
        case PerUnitCard():
            return ratecards.PerUnit(card.unit_price)
        case GraduatedCard():
            return ratecards.Graduated(card._tiers())
        case VolumeCard():
            return ratecards.Volume(card._tiers())
        case PackageCard():
            return ratecards.Package(card.package_size, card.package_price)
    raise TypeError(card)


# --- plans --------------------------------------------------------------------------------


class PlanCharge(_In):
    """Usage of ``meter`` above the plan's included units, priced by ``rate_card``."""

    meter: Code
    rate_card: RateCardIn


class PlanCreate(_In):
    code: Code
    name: Line = Field(min_length=1, max_length=200)
    interval: Literal["monthly", "annual"]
    base_price: int = Field(ge=0, le=10**15, description="Minor units per interval.")
    currency: str = Field(min_length=3, max_length=3, description="ISO 4217, e.g. USD.")
    included: dict[Code, NonNegative] = Field(default_factory=dict, max_length=50)
    charges: list[PlanCharge] = Field(default_factory=list, max_length=50)
    trial_days: int = Field(default=0, ge=0, le=365)
    tier: Literal["free", "pro", "business", "enterprise"]
    # Published plans are listed to tenants and open to subscribe; a draft is the operator's.
    status: Literal["draft", "published"] = "published"

    @field_validator("base_price", mode="before")
    @classmethod
    def _integer_amount(cls, value: Any) -> Any:
        # 19.99 is refused rather than truncated: amounts are whole minor units.
        if isinstance(value, float | str) and not float(value).is_integer():
            raise ValueError("amounts are whole minor units (e.g. 1999 for 19.99)")
        return value

    @field_validator("currency")
    @classmethod
    def _iso_4217(cls, value: str) -> str:
        if not is_currency(value):
            raise ValueError(f"{value!r} is not an active ISO 4217 currency code")
        return value

    @model_validator(mode="after")
    def _one_charge_per_meter(self) -> PlanCreate:
        meters = [charge.meter for charge in self.charges]
        if len(meters) != len(set(meters)):
            raise ValueError("at most one charge per meter")
        return self


class PlanUpdate(_In):
    """The operator's change to a plan: its name, or its status (publish, or archive: no new
    subscriptions or changes to it; subscriptions on it carry on). Prices are not changed in
    place: make a new plan and move subscriptions to it."""

    name: Line | None = Field(default=None, min_length=1, max_length=200)
    status: Literal["draft", "published", "archived"] | None = None

    _kept = refusing_null("name", "status")


class PlanOut(_Out):
    id: str
    code: str
    name: str
    status: str
    interval: str
    base_price: int
    currency: str
    included: dict[str, Decimal]
    charges: list[dict[str, Any]]
    trial_days: int
    tier: str
    created_at: datetime


PlanPage = Listing[PlanOut]


# --- meters and usage ---------------------------------------------------------------------


class MeterCreate(_In):
    code: Code
    name: Line = Field(default="", max_length=200)
    aggregation: Literal["sum", "count", "unique_count", "max", "latest"]
    property: Code | None = None
    group_by: Code | None = None

    @model_validator(mode="after")
    def _property_when_needed(self) -> MeterCreate:
        if self.aggregation != "count" and self.property is None:
            raise ValueError(f"aggregation {self.aggregation!r} needs a property")
        return self


class MeterOut(_Out):
    id: str
    code: str
    name: str
    aggregation: str
    property: str | None
    group_by: str | None
    created_at: datetime


class UsageEventIn(BaseModel):
    # Checked per event by the service, so one bad event does not fail its batch.
    model_config = ConfigDict(extra="ignore")

    id: Line = Field(min_length=1, max_length=255, description="Idempotency key, unique forever.")
    meter: str = Field(min_length=1, max_length=64)
    timestamp: datetime | None = None
    properties: dict[str, Any] = Field(default_factory=dict)


class UsageBatch(_In):
    events: list[UsageEventIn] = Field(min_length=1, max_length=MAX_BATCH)


class EventResult(BaseModel):
    id: str
    status: Literal["accepted", "duplicate", "rejected"]
    error: str | None = None


class UsageBatchResult(BaseModel):
    accepted: int
    duplicates: int
    rejected: int
    results: list[EventResult]


class SummaryGroup(BaseModel):
    group: str | None
    value: Decimal
    event_count: int


class UsageSummary(BaseModel):
    meter: str
    aggregation: str
    from_: datetime = Field(serialization_alias="from")
    to: datetime
    group_by: str | None
    groups: list[SummaryGroup]


# --- subscriptions and invoices -----------------------------------------------------------


class SubscriptionCreate(_In):
    plan: Code
    # Like Stripe's backdate_start_date: the first period starts here (default: now). A priced
    # plan's periods start when it is paid for or granted instead.
    start: datetime | None = None

    @field_validator("start")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("start needs a time zone")
        return value


class SubscriptionGrant(_In):
    """The operator puts a tenant on a plan without payment: the tenant's subscription moves to
    it (an incomplete one starts), or one is created."""

    tenant_id: str = Field(min_length=1, max_length=36, pattern=r"^[0-9a-fA-F-]+$")
    plan: Code
    # When a new or incomplete subscription starts (default: now).
    start: datetime | None = None

    @field_validator("start")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("start needs a time zone")
        return value


class PlanChange(_In):
    plan: Code
    # Like Stripe's proration_date: the instant the change is prorated at (default: now).
    proration_date: datetime | None = None

    @field_validator("proration_date")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("proration_date needs a time zone")
        return value


class SubscriptionOut(BaseModel):
    id: str
    plan: str
    # The tier it gives now: the plan's once it stands, "free" while incomplete.
    tier: str
    # incomplete (a priced plan waiting for payment or a grant), trialing, active, canceled.
    status: str
    # What lets it stand: none (no base price), card (on file through Stripe), granted.
    payment: str
    period_start: datetime
    period_end: datetime
    trial_end: datetime | None
    cancel_at_period_end: bool
    canceled_at: datetime | None


class ProrationOut(BaseModel):
    credit: int
    charge: int
    fraction: Decimal


class PlanChanged(BaseModel):
    subscription: SubscriptionOut
    proration: ProrationOut | None


class CheckoutOut(BaseModel):
    """Where the tenant puts a card on file (Stripe Checkout, setup mode); the subscription
    stands once Stripe reports the session completed."""

    url: str
    stripe_session_id: str


class TierOut(BaseModel):
    tier: str
    subscription_id: str | None


class InvoiceLineOut(_Out):
    position: int
    kind: str
    description: str
    meter_code: str | None
    quantity: Decimal | None
    billable_quantity: Decimal | None
    event_count: int | None
    amount: int


class InvoiceOut(_Out):
    id: str
    subscription_id: str
    plan_code: str
    period_start: datetime
    period_end: datetime
    currency: str
    total: int
    # open, then paid | void | uncollectible (moved by Stripe's events when Stripe sync is on).
    status: str
    created_at: datetime
    # Stripe sync: the invoice's id there (None while not pushed, or with Stripe off).
    stripe_invoice_id: str | None = None
    stripe_synced_at: datetime | None = None
    paid_at: datetime | None = None
    payment_failed_at: datetime | None = None
    payment_error: str | None = None
    lines: list[InvoiceLineOut] = Field(default_factory=list)


InvoicePage = Listing[InvoiceOut]


# --- revenue shares -----------------------------------------------------------------------


class RevenueShareCreate(_In):
    # Whose invoices are shared.
    tenant_id: str = Field(min_length=1, max_length=36, pattern=r"^[0-9a-fA-F-]+$")
    partner: Line = Field(min_length=1, max_length=200)
    basis: Literal["percent", "per_event"]
    percent: Annotated[Decimal, Field(gt=0, le=100, max_digits=9, decimal_places=6)] | None = None
    # Minor units per event, e.g. "0.5" is half a cent.
    amount_per_event: Positive | None = None
    meter: Code | None = None

    @model_validator(mode="after")
    def _basis_fields(self) -> RevenueShareCreate:
        if self.basis == "percent" and (self.percent is None or self.amount_per_event is not None):
            raise ValueError("a percent share takes percent (and no amount_per_event)")
        if self.basis == "per_event" and (
            self.amount_per_event is None or self.percent is not None or self.meter is None
        ):
            raise ValueError("a per_event share takes amount_per_event and meter (no percent)")
        return self


class RevenueShareOut(_Out):
    id: str
    tenant_id: str
    partner: str
    basis: str
    percent: Decimal | None
    amount_per_event: Decimal | None
    meter_code: str | None
    created_at: datetime


class StatementEntryOut(_Out):
    invoice_id: str
    currency: str
    basis_amount: int
    event_count: int | None
    amount: int
    created_at: datetime


class PayoutStatement(BaseModel):
    revenue_share: RevenueShareOut
    entries: list[StatementEntryOut]
    # Per currency: a tenant's plans may bill in several.
    totals: dict[str, int]
