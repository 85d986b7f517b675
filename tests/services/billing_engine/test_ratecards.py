"""Rate cards: worked examples from the vendors' documentation, and properties that must hold for
any tiers and quantity (graduated totals never decrease; volume is one tier's price times all
units; package counts started packages)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from v100.services.billing_engine.ratecards import (
    Flat,
    Graduated,
    Package,
    PerUnit,
    Tier,
    Volume,
    exact_price,
    price,
    round_minor,
)

pytestmark = pytest.mark.time_sensitive

# Amounts are in minor units (cents): $0.10 is D(10).
FLEX = [Tier(D(1000), D(10)), Tier(D(10000), D(5)), Tier(None, D(1))]


def test_graduated_worked_example() -> None:
    # 15,000 units over 1,000 at $0.10, 9,000 at $0.05, the rest at $0.01:
    # $100 + $450 + $50 = $600 (zuplo's and Lago's graduated examples follow this shape).
    assert price(Graduated(FLEX), D(15000)) == 60000


def test_lago_graduated_example() -> None:
    # Lago: $1 per unit for the first 100, $0.50 for the next 100, $0.10 after.
    card = Graduated([Tier(D(100), D(100)), Tier(D(200), D(50)), Tier(None, D(10))])
    assert price(card, D(250)) == 100 * 100 + 100 * 50 + 50 * 10


def test_volume_worked_example() -> None:
    # Volume: all 15,000 units at the reached tier's $0.01 = $150.
    assert price(Volume(FLEX), D(15000)) == 15000
    # At exactly a bound the unit belongs to that tier (up_to is inclusive, as in Stripe).
    assert price(Volume(FLEX), D(1000)) == 10000
    assert price(Volume(FLEX), D(1001)) == 1001 * 5


def test_flat_fees_of_tiers() -> None:
    # Stripe's graduated tiers with flat_amount: each tier reached adds its flat fee once.
    card = Graduated([Tier(D(5), D(0), D(1000)), Tier(None, D(100), D(500))])
    assert price(card, D(0)) == 0
    assert price(card, D(3)) == 1000
    assert price(card, D(7)) == 1000 + 500 + 2 * 100
    assert price(Volume([Tier(D(5), D(0), D(1000)), Tier(None, D(100), D(500))]), D(7)) == 1200


def test_package_rounds_packages_up() -> None:
    # Stripe's package pricing: $5 per 100 units, rounding up; 101 units cost two packages.
    card = Package(D(100), D(500))
    assert price(card, D(0)) == 0
    assert price(card, D(100)) == 500
    assert price(card, D(101)) == 1000
    assert price(card, D("0.5")) == 500


def test_flat_and_per_unit() -> None:
    assert price(Flat(D(2500)), D(0)) == 2500
    assert price(Flat(D(2500)), D(99)) == 2500
    assert price(PerUnit(D("0.5")), D(3)) == 2  # 1.5 cents rounds half up to 2
    assert price(PerUnit(D("0.0004")), D(1000)) == 0  # 0.4 cents rounds to 0


def test_rounding_is_once_and_half_up() -> None:
    assert round_minor(D("2.5")) == 3
    assert round_minor(D("-2.5")) == -3
    # Three tiers of 0.4 cents each would round to 0 each; rounded once they make 1.
    card = Graduated([Tier(D(1), D("0.4")), Tier(D(2), D("0.4")), Tier(None, D("0.4"))])
    assert exact_price(card, D(3)) == D("1.2")
    assert price(card, D(3)) == 1


def test_negative_quantity_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        price(PerUnit(D(1)), D(-1))


amounts = st.decimals(min_value=0, max_value=10_000, places=4, allow_nan=False)
quantities = st.decimals(min_value=0, max_value=1_000_000, places=3, allow_nan=False)


@st.composite
def tiers(draw: st.DrawFn) -> list[Tier]:
    bounds = sorted(set(draw(st.lists(st.integers(1, 100_000), min_size=0, max_size=5))))
    ups: list[D | None] = [D(b) for b in bounds]
    ups.append(None)
    return [Tier(up, draw(amounts), draw(amounts)) for up in ups]


@given(tiers(), quantities, quantities)
def test_graduated_is_monotonic(card_tiers: list[Tier], a: D, b: D) -> None:
    low, high = sorted((a, b))
    card = Graduated(card_tiers)
    assert exact_price(card, low) <= exact_price(card, high)


@given(tiers(), quantities)
def test_volume_is_the_reached_tier_times_quantity(card_tiers: list[Tier], q: D) -> None:
    if q == 0:
        assert exact_price(Volume(card_tiers), q) == 0
        return
    reached = next(t for t in card_tiers if t.up_to is None or q <= t.up_to)
    assert exact_price(Volume(card_tiers), q) == q * reached.unit_price + reached.flat_fee


@given(tiers(), quantities)
def test_graduated_equals_per_unit_with_one_tier_price(card_tiers: list[Tier], q: D) -> None:
    # With every tier at one unit price and no flat fees, graduated and volume are per-unit.
    same = [Tier(t.up_to, D(7)) for t in card_tiers]
    assert exact_price(Graduated(same), q) == exact_price(Volume(same), q) == q * 7


@given(st.decimals(min_value=1, max_value=1000, places=0), amounts, quantities)
def test_package_counts_started_packages(size: D, unit: D, q: D) -> None:
    total = exact_price(Package(size, unit), q)
    packages = total / unit if unit else None
    if packages is not None:
        assert packages == int(packages)
        assert (packages - 1) * size < q <= packages * size or q == 0
