"""Rate cards: what a quantity of usage costs. Pure functions over exact decimals.

Rounding rule (one, everywhere): prices are computed exactly in ``Decimal`` (unit prices in minor
units, with up to 12 decimal places, like Stripe's ``unit_amount_decimal``) and the line total is
rounded once, at the end, to whole minor units with ROUND_HALF_UP. Intermediate tier amounts are
never rounded, so a graduated total does not drift by a cent per tier. Package pricing rounds the
number of packages UP (a started package is a whole package), as Stripe's ``transform_quantity``
with ``round: up`` does.

Tiers follow Stripe's shape: ``up_to`` is the inclusive upper bound of a tier (None = infinity),
each tier has a ``unit_price`` and an optional ``flat_fee``. Graduated: each unit is priced by
the tier it falls in (flat fees of every tier reached are added). Volume: every unit is priced
by the tier the total quantity reaches (and only that tier's flat fee).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

__all__ = [
    "Flat",
    "Graduated",
    "Package",
    "PerUnit",
    "RateCard",
    "Tier",
    "Volume",
    "price",
    "round_minor",
]

ZERO = Decimal(0)


def round_minor(amount: Decimal) -> int:
    """Whole minor units, half away from zero (the documented rounding rule)."""
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True, slots=True)
class Tier:
    up_to: Decimal | None  # inclusive; None is the last, open tier
    unit_price: Decimal = ZERO
    flat_fee: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class Flat:
    """One amount for the period whatever the quantity (zero quantity included)."""

    amount: Decimal


@dataclass(frozen=True, slots=True)
class PerUnit:
    unit_price: Decimal


@dataclass(frozen=True, slots=True)
class Graduated:
    tiers: Sequence[Tier]


@dataclass(frozen=True, slots=True)
class Volume:
    tiers: Sequence[Tier]


@dataclass(frozen=True, slots=True)
class Package:
    """``package_price`` per started package of ``package_size`` units."""

    package_size: Decimal
    package_price: Decimal


RateCard = Flat | PerUnit | Graduated | Volume | Package


def check_tiers(tiers: Sequence[Tier]) -> None:
    """Tiers ascend strictly and end with one open tier; raise ValueError otherwise."""
    if not tiers:
        raise ValueError("at least one tier is required")
    if tiers[-1].up_to is not None:
        raise ValueError("the last tier must be open (up_to null)")
    previous = ZERO
    for tier in tiers[:-1]:
        if tier.up_to is None:
            raise ValueError("only the last tier may be open")
        if tier.up_to <= previous:
            raise ValueError("tier bounds must be positive and strictly ascending")
        previous = tier.up_to


def _graduated(tiers: Sequence[Tier], quantity: Decimal) -> Decimal:
    total = ZERO
    lower = ZERO
    for tier in tiers:
        upper = quantity if tier.up_to is None else min(quantity, tier.up_to)
        units = upper - lower
        if units <= ZERO:
            break
        # A tier's flat fee applies once any unit falls in it.
        total += units * tier.unit_price + tier.flat_fee
        if tier.up_to is None or quantity <= tier.up_to:
            break
        lower = tier.up_to
    return total


def _reached(tiers: Sequence[Tier], quantity: Decimal) -> Tier:
    for tier in tiers:
        if tier.up_to is None or quantity <= tier.up_to:
            return tier
    return tiers[-1]


def exact_price(card: RateCard, quantity: Decimal) -> Decimal:
    """The exact (unrounded) amount in minor units for ``quantity`` units."""
    if quantity < ZERO:
        raise ValueError("quantity must not be negative")
    match card:
        case Flat(amount=amount):
            return amount
        case PerUnit(unit_price=unit_price):
            return quantity * unit_price
        case Graduated(tiers=tiers):
            return _graduated(tiers, quantity)
        case Volume(tiers=tiers):
            if quantity == ZERO:
                return ZERO
            tier = _reached(tiers, quantity)
            return quantity * tier.unit_price + tier.flat_fee
        case Package(package_size=size, package_price=package_price):
            packages = (quantity / size).to_integral_value(rounding=ROUND_CEILING)
            return packages * package_price
    raise TypeError(f"unknown rate card {card!r}")


def price(card: RateCard, quantity: Decimal) -> int:
    """What ``quantity`` units cost, in whole minor units (rounded once, half up)."""
    return round_minor(exact_price(card, quantity))
