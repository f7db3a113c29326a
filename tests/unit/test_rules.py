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


def test_quote_increment_half_penny_only_for_a_constrained_stock_under_2024() -> None:
    from config.rules import quote_increment

    assert quote_increment(RegNms.AMENDED_2024, 20 * DOLLAR, True) == 5_000  # $0.005
    assert quote_increment(RegNms.AMENDED_2024, 20 * DOLLAR, False) == 10_000
    assert quote_increment(RegNms.ADOPTED_2005, 20 * DOLLAR, True) == 10_000
    assert quote_increment(RegNms.AMENDED_2024, DOLLAR // 2, True) == 100  # below $1: $0.0001


def test_book_with_a_half_penny_tick_accepts_half_pennies_and_refuses_finer() -> None:
    from protocol.common import OrderType, Side, TimeInForce
    from services.venue.book import OrderBook

    book = OrderBook("XYZ", tick=5_000)
    rested = book.submit("a", "mm", Side.SELL, 100, OrderType.LIMIT, 20_005_000, TimeInForce.DAY, 0)
    refused = book.submit(
        "b", "mm", Side.SELL, 100, OrderType.LIMIT, 20_001_000, TimeInForce.DAY, 0
    )
    assert rested.status == "rested"
    assert refused.status == "rejected" and refused.reject_reason is not None
    assert refused.reject_reason.startswith("limit_price:")
    assert (
        OrderBook("XYZ")
        .submit("c", "mm", Side.SELL, 100, OrderType.LIMIT, 20_005_000, TimeInForce.DAY, 0)
        .status
        == "rejected"
    )  # the cent grid without the 2024 tick


def test_broker_tick_error_follows_the_symbols_increment() -> None:
    from services.broker.core import tick_error

    assert tick_error(20_005_000, 5_000) is None
    assert tick_error(20_005_000) is not None
