"""billing's request and response bodies. Credits are strict positive integers: ``1.5``,
``"10"``, ``0`` and negatives are 422."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt

from v100.kit.http import Listing
from v100.kit.text import Line

__all__ = [
    "AuditOut",
    "AuditPage",
    "BalanceOut",
    "CaptureRequest",
    "CheckoutCreate",
    "CheckoutOut",
    "DeductionOut",
    "DeductionRequest",
    "GrantOut",
    "GrantRequest",
    "HoldOut",
    "HoldRequest",
    "TransactionOut",
    "TransactionPage",
]

# Bounded so a sum of many never overflows a 64-bit column.
Credits = Annotated[StrictInt, Field(gt=0, le=1_000_000_000_000)]
Text = Annotated[Line, Field(min_length=1, max_length=200)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HoldRequest(_Body):
    amount: Credits
    reason: Text
    reference: Text | None = None
    expires_at: AwareDatetime | None = None
    # Clamped to the service's max_hold_seconds; bounded here so no date overflows.
    expires_in_seconds: Annotated[int, Field(gt=0, le=366 * 86_400)] | None = None


class GrantRequest(_Body):
    """The operator's grant of credits to a tenant (ADR 0027): promotional unless paid for
    outside the platform; spent before later-expiring grants of the same priority."""

    tenant_id: str = Field(min_length=1, max_length=36, pattern=r"^[0-9a-fA-F-]+$")
    amount: Credits
    category: Literal["paid", "promotional"] = "promotional"
    priority: int = Field(default=50, ge=0, le=100)
    expires_at: AwareDatetime | None = None
    reference: Text | None = None


class CaptureRequest(_Body):
    amount: Credits


class DeductionRequest(_Body):
    amount: Credits
    reason: Text
    reference: Text | None = None


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class HoldOut(_Out):
    id: str
    amount: int
    captured_amount: int | None
    status: Literal["held", "captured", "released", "expired"]
    reason: str
    reference: str | None
    expires_at: datetime
    closed_at: datetime | None
    created_at: datetime


class DeductionOut(_Out):
    id: str
    amount: int
    reason: str | None
    reference: str | None
    available_after: int
    created_at: datetime


class GrantOut(_Out):
    id: str
    category: str
    priority: int
    amount: int
    remaining: int
    source: str
    expires_at: datetime | None


class BalanceOut(BaseModel):
    available: int
    held: int
    by_category: dict[str, int]
    grants: list[GrantOut]


class TransactionOut(_Out):
    id: str
    kind: str
    amount: int
    available_delta: int
    available_after: int
    reason: str | None
    reference: str | None
    actor: str | None
    hold_id: str | None
    grant_id: str | None
    created_at: datetime


TransactionPage = Listing[TransactionOut]


class AuditOut(_Out):
    id: str
    action: str
    actor: str | None
    reference: str | None
    subject_id: str | None
    amount: int | None
    details: dict[str, Any]
    created_at: datetime


AuditPage = Listing[AuditOut]


class CheckoutCreate(_Body):
    pack: Annotated[str, Field(min_length=1, max_length=50)]


class CheckoutOut(BaseModel):
    id: str
    stripe_session_id: str
    url: str | None
    pack: str
    credits: int
    amount_total: int
    currency: str
    status: str
