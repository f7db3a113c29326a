"""The numbers each Reg NMS rule set fixes, checked against the releases' own figures."""

from __future__ import annotations

import pytest

from config.rules import RegNms, access_fee_cap, round_lot, tick_constrained

DOLLAR = 1_000_000


@pytest.mark.parametrize(
    ("rules", "price", "cap"),
    [
        (RegNms.ADOPTED_2005, 50 * DOLLAR, 3_000),  # $0.003
        (RegNms.AMENDED_2024, 50 * DOLLAR, 1_000),  # $0.001
        (RegNms.AMENDED_2024, DOLLAR, 1_000),  # "$1.00 or more"
        (RegNms.AMENDED_2024, DOLLAR // 2, 500),  # 0.1% of $0.50 = $0.0005
        (RegNms.ADOPTED_2005, DOLLAR // 2, 1_500),  # 0.3% of $0.50
    ],
)
def test_access_fee_cap_by_rule_set_and_price(rules: RegNms, price: int, cap: int) -> None:
    assert access_fee_cap(rules, price) == cap


@pytest.mark.parametrize(
    ("price", "shares"),
    [
        (250 * DOLLAR, 100),
        (250 * DOLLAR + 10_000, 40),  # $250.01
        (1_000 * DOLLAR, 40),
        (1_000 * DOLLAR + 10_000, 10),
        (10_000 * DOLLAR, 10),
        (10_000 * DOLLAR + 10_000, 1),
    ],
)
def test_round_lot_2024_tiers(price: int, shares: int) -> None:
    assert round_lot(RegNms.AMENDED_2024, price) == shares


def test_round_lot_2005_admits_every_size() -> None:
    assert round_lot(RegNms.ADOPTED_2005, 50 * DOLLAR) == 1


def test_tick_constrained_at_one_and_a_half_cents_or_less() -> None:
    assert tick_constrained(15_000) and not tick_constrained(15_001)
