"""Integer micro-dollars: exact conversion in, formatting out, the Rule 612 tick grid."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.common import MAX_PRICE, Side
from protocol.money import (
    CENT,
    MICROS_PER_DOLLAR,
    format_price,
    outside_quote,
    price_improvement,
    quote_improvement,
    round_to_micros,
    round_to_tick,
    signed_improvement,
    tick_size,
    to_dollars,
    to_micros,
    trades_through,
)


@pytest.mark.parametrize(
    ("dollars", "expected"),
    [
        ("100.0085", 100_008_500),
        (Decimal("100.0085"), 100_008_500),
        (100.0085, 100_008_500),
        (0.1, 100_000),
        (52.4, 52_400_000),
        ("0.000001", 1),
        ("-0.0005", -500),
        ("1e-6", 1),
        ("1.500000000", 1_500_000),
        (" 23.10 ", 23_100_000),
        (7, 7_000_000),
        (0, 0),
        ("0E-1000", 0),
    ],
    ids=[
        "string",
        "decimal",
        "float",
        "float-0.1",
        "float-52.4",
        "one-micro",
        "negative",
        "exponent",
        "trailing-zeros",
        "whitespace",
        "int",
        "zero",
        "zero-tiny-exponent",
    ],
)
def test_to_micros_exact_inputs_returns_exact_micros(
    dollars: str | int | float | Decimal, expected: int
) -> None:
    # Arrange (inputs above)

    # Act
    micros = to_micros(dollars)

    # Assert
    assert micros == expected
    assert type(micros) is int


def test_to_micros_29_digit_integer_returns_exact_micros() -> None:
    # Arrange: more digits than the default decimal context's 28
    dollars = 12_345_678_901_234_567_890_123_456_789

    # Act
    micros = to_micros(dollars)

    # Assert
    assert micros == dollars * MICROS_PER_DOLLAR


@pytest.mark.parametrize(
    "dollars",
    [
        float("nan"),
        float("inf"),
        float("-inf"),
        "NaN",
        "sNaN",
        "Infinity",
        "-inf",
        Decimal("NaN"),
    ],
    ids=["nan", "inf", "-inf", "str-nan", "str-snan", "str-infinity", "str-neg-inf", "decimal-nan"],
)
def test_to_micros_non_finite_raises_value_error(dollars: str | float | Decimal) -> None:
    # Arrange (inputs above)

    # Act / Assert
    with pytest.raises(ValueError, match="not finite"):
        to_micros(dollars)


@pytest.mark.parametrize(
    "dollars",
    [
        "100.0000001",
        "0.0000005",
        Decimal("1.0000005"),
        1e-7,
        100.00000001,
        "1234567890123456789012.0000001",
        "1E-1000000000",
    ],
    ids=[
        "str",
        "half-micro",
        "decimal",
        "float-tiny",
        "float",
        "beyond-28-digits",
        "underflow",
    ],
)
def test_to_micros_sub_micro_precision_raises_value_error(
    dollars: str | float | Decimal,
) -> None:
    # Arrange (inputs above)

    # Act / Assert
    with pytest.raises(ValueError, match=r"finer than \$0\.000001"):
        to_micros(dollars)


@pytest.mark.parametrize(
    "dollars",
    ["", "abc", "$1.00", "1,000.00", "1.2.3", "0x10", "1e"],
    ids=["empty", "word", "dollar-sign", "thousands-separator", "two-points", "hex", "exponent"],
)
def test_to_micros_garbage_raises_value_error(dollars: str) -> None:
    # Arrange (inputs above)

    # Act / Assert
    with pytest.raises(ValueError, match="not a number"):
        to_micros(dollars)


def test_to_micros_overflowing_exponent_raises_value_error() -> None:
    # Arrange
    dollars = "1e999999999"

    # Act / Assert
    with pytest.raises(ValueError, match="too large"):
        to_micros(dollars)


@pytest.mark.parametrize(
    ("dollars", "expected"),
    [(100.0085, 100_008_500), (1 / 3, 333_333), (2 / 3, 666_667), (0.0000005, 0), (0.0000015, 2)],
    ids=["exact", "third", "two-thirds", "half-even-down", "half-even-up"],
)
def test_round_to_micros_inexact_float_rounds_half_even(dollars: float, expected: int) -> None:
    # Arrange (inputs above)

    # Act
    micros = round_to_micros(dollars)

    # Assert
    assert micros == expected


def test_to_dollars_micros_returns_float_dollars() -> None:
    # Arrange
    micros = 100_008_500

    # Act
    dollars = to_dollars(micros)

    # Assert
    assert dollars == pytest.approx(100.0085)


@pytest.mark.parametrize(
    ("micros", "expected"),
    [
        (100_008_500, "$100.0085"),
        (100_000_000, "$100.00"),
        (100_500_000, "$100.50"),
        (1, "$0.000001"),
        (0, "$0.00"),
        (-500, "-$0.0005"),
        (-52_400_000, "-$52.40"),
        (1_234_567_890_000, "$1,234,567.89"),
    ],
    ids=[
        "sub-cent",
        "whole",
        "half",
        "one-micro",
        "zero",
        "negative-sub-cent",
        "negative",
        "thousands",
    ],
)
def test_format_price_default_trims_to_at_least_cents(micros: int, expected: str) -> None:
    # Arrange (inputs above)

    # Act
    text = format_price(micros)

    # Assert
    assert text == expected


@pytest.mark.parametrize(
    ("micros", "places", "expected"),
    [
        (100_008_500, 2, "$100.00"),
        (100_008_500, 4, "$100.0085"),
        (100_008_500, 6, "$100.008500"),
        (100_008_500, 0, "$100"),
        (-1_500_000, 1, "-$1.5"),
    ],
    ids=["cents", "four", "six", "none", "negative"],
)
def test_format_price_places_truncates_or_pads(micros: int, places: int, expected: str) -> None:
    # Arrange (inputs above)

    # Act
    text = format_price(micros, places=places)

    # Assert
    assert text == expected


@pytest.mark.parametrize(
    ("micros", "side_up", "expected"),
    [
        (100_003_000, True, 100_010_000),
        (100_003_000, False, 100_000_000),
        (100_010_000, True, 100_010_000),
        (100_010_000, False, 100_010_000),
        (100_009_999, False, 100_000_000),
        (100_000_001, True, 100_010_000),
        (-3_000, True, 0),
        (-3_000, False, -CENT),
    ],
    ids=[
        "up",
        "down",
        "on-grid-up",
        "on-grid-down",
        "just-below-tick-down",
        "just-above-tick-up",
        "negative-up",
        "negative-down",
    ],
)
def test_round_to_tick_cent_grid_rounds_toward_side(
    micros: int, side_up: bool, expected: int
) -> None:
    # Arrange (inputs above)

    # Act
    rounded = round_to_tick(micros, CENT, side_up=side_up)

    # Assert
    assert rounded == expected
    assert rounded % CENT == 0


def test_round_to_tick_sub_dollar_grid_uses_hundredth_cent() -> None:
    # Arrange
    price = 512_345  # $0.512345
    tick = tick_size(price)

    # Act
    up = round_to_tick(price, tick, side_up=True)
    down = round_to_tick(price, tick, side_up=False)

    # Assert
    assert (down, up) == (512_300, 512_400)


@pytest.mark.parametrize(
    ("price", "expected"),
    [
        (MICROS_PER_DOLLAR - 1, 100),
        (MICROS_PER_DOLLAR, CENT),
        (MICROS_PER_DOLLAR + 1, CENT),
        (1, 100),
        (52_400_000, CENT),
    ],
    ids=["just-below-1", "at-1", "just-above-1", "one-micro", "52.40"],
)
def test_tick_size_around_one_dollar_switches_at_one_dollar(price: int, expected: int) -> None:
    # Arrange (inputs above)

    # Act
    tick = tick_size(price)

    # Assert
    assert tick == expected


# --- price improvement ----------------------------------------------------------------------

prices = st.integers(1, MAX_PRICE)
distances = st.integers(-(10**9), 10**9)


@given(prices, distances)
def test_price_improvement_buy_and_sell_mirror_about_the_reference(ref: int, d: int) -> None:
    # A buy d below the reference and a sell d above it are both d better for the customer.
    assert price_improvement(Side.BUY, ref - d, ref) == d
    assert price_improvement(Side.SELL, ref + d, ref) == d


@given(prices, prices)
def test_price_improvement_of_opposite_sides_at_one_price_cancel(price: int, ref: int) -> None:
    assert price_improvement(Side.BUY, price, ref) == -price_improvement(Side.SELL, price, ref)


def test_price_improvement_positive_is_better_for_the_customer() -> None:
    assert price_improvement(Side.BUY, 99 * CENT, 100 * CENT) == CENT  # paid less
    assert price_improvement(Side.SELL, 101 * CENT, 100 * CENT) == CENT  # received more
    assert price_improvement(Side.BUY, 101 * CENT, 100 * CENT) == -CENT


@given(prices, prices, prices)
def test_quote_improvement_is_against_the_far_side(bid: int, ask: int, price: int) -> None:
    assert quote_improvement(Side.BUY, price, bid, ask) == ask - price
    assert quote_improvement(Side.SELL, price, bid, ask) == price - bid


@given(st.lists(st.tuples(st.sampled_from(Side), prices, prices), min_size=1, max_size=20))
def test_signed_improvement_vectorised_equals_the_scalar_form(
    rows: list[tuple[Side, int, int]],
) -> None:
    sign = np.array([side.sign for side, _, _ in rows], dtype="int64")
    price = np.array([p for _, p, _ in rows], dtype="int64")
    ref = np.array([r for _, _, r in rows], dtype="int64")

    vectorised = signed_improvement(sign, price, ref)

    assert vectorised.tolist() == [price_improvement(s, p, r) for s, p, r in rows]


def test_trades_through_buy_above_ask_only() -> None:
    assert trades_through(Side.BUY, 10_010_000, 10_000_000, 10_005_000)
    assert not trades_through(Side.BUY, 10_005_000, 10_000_000, 10_005_000)  # at the quote
    assert not trades_through(Side.BUY, 10_010_000, 10_000_000, None)  # nothing to protect


def test_trades_through_sell_below_bid_only() -> None:
    assert trades_through(Side.SELL, 9_990_000, 10_000_000, 10_005_000)
    assert not trades_through(Side.SELL, 10_000_000, 10_000_000, 10_005_000)
    assert not trades_through(Side.SELL, 9_990_000, None, 10_005_000)


def test_outside_quote_either_side_through() -> None:
    assert outside_quote(10_010_000, 10_000_000, 10_005_000)  # above the offer
    assert outside_quote(9_990_000, 10_000_000, 10_005_000)  # below the bid
    assert not outside_quote(10_002_500, 10_000_000, 10_005_000)
