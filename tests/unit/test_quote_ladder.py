"""Spec tests for the market makers' quote ladder: grid, levels, inventory skew, width."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.common import Side
from protocol.money import tick_size
from services.agents import quote_ladder, toxicity_widening
from services.dealer.core import MarkoutEstimate

P100 = 100_000_000


def bids(ladder: list[tuple[Side, int]]) -> list[int]:
    return [price for side, price in ladder if side is Side.BUY]


def asks(ladder: list[tuple[Side, int]]) -> list[int]:
    return [price for side, price in ladder if side is Side.SELL]


def test_quote_ladder_flat_inventory_quotes_symmetric_levels() -> None:
    ladder = quote_ladder(P100, 0, half_spread_bps=2.0, step_bps=1.0, levels=3, skew_bps_per_1k=0.0)

    # $100 * (1 -/+ 2, 3, 4 bps), already on the cent grid
    assert ladder == [
        (Side.BUY, 99_980_000),
        (Side.SELL, 100_020_000),
        (Side.BUY, 99_970_000),
        (Side.SELL, 100_030_000),
        (Side.BUY, 99_960_000),
        (Side.SELL, 100_040_000),
    ]


def test_quote_ladder_off_grid_prices_round_away_from_fair() -> None:
    # $52.40 * (1 -/+ 2 bps) = 52_389_520 / 52_410_480 -> bid down, ask up to whole cents
    ladder = quote_ladder(52_400_000, 0, 2.0, 1.0, 1, 0.0)

    assert ladder == [(Side.BUY, 52_380_000), (Side.SELL, 52_420_000)]


def test_quote_ladder_sub_dollar_value_uses_subpenny_tick() -> None:
    # $0.50 * (1 -/+ 20 bps) and (1 -/+ 30 bps), on the $0.0001 grid
    ladder = quote_ladder(500_000, 0, 20.0, 10.0, 2, 0.0)

    assert ladder == [
        (Side.BUY, 499_000),
        (Side.SELL, 501_000),
        (Side.BUY, 498_500),
        (Side.SELL, 501_500),
    ]


def test_quote_ladder_long_inventory_moves_both_sides_down() -> None:
    # +1_000 shares at 10 bps per 1k: fair $99.90
    # 99_880_020 -> 99_880_000, 99_919_980 -> 99_920_000
    ladder = quote_ladder(P100, 1_000, 2.0, 1.0, 2, 10.0)

    assert ladder == [
        (Side.BUY, 99_880_000),
        (Side.SELL, 99_920_000),
        (Side.BUY, 99_870_000),
        (Side.SELL, 99_930_000),
    ]


def test_quote_ladder_short_inventory_moves_both_sides_up() -> None:
    # -1_000 shares: fair $100.10; 100_079_980 -> 100_070_000, 100_120_020 -> 100_130_000
    ladder = quote_ladder(P100, -1_000, 2.0, 1.0, 2, 10.0)

    assert ladder == [
        (Side.BUY, 100_070_000),
        (Side.SELL, 100_130_000),
        (Side.BUY, 100_060_000),
        (Side.SELL, 100_140_000),
    ]


def test_quote_ladder_more_levels_quotes_wider() -> None:
    outer = [quote_ladder(P100, 0, 2.0, 1.0, levels, 0.0) for levels in (1, 2, 3)]

    assert [min(bids(ladder)) for ladder in outer] == [99_980_000, 99_970_000, 99_960_000]
    assert [max(asks(ladder)) for ladder in outer] == [100_020_000, 100_030_000, 100_040_000]


def test_quote_ladder_non_positive_bid_omitted_ask_kept() -> None:
    # a 100% half-spread on $0.01 leaves no positive bid
    assert quote_ladder(10_000, 0, 10_000.0, 1.0, 1, 0.0) == [(Side.SELL, 20_000)]


# --- properties ----------------------------------------------------------------------------

values = st.one_of(
    st.integers(100, 9_999).map(lambda steps: steps * 100),  # below $1: $0.0001 grid
    st.integers(100, 100_000).map(lambda cents: cents * 10_000),  # $1..$1,000: cent grid
    st.integers(1_000_000, 500_000_000),  # anywhere, off grid
)
inventories = st.integers(-5_000, 5_000)
half_spreads = st.floats(0.5, 50.0)
steps = st.floats(0.0, 10.0)
level_counts = st.integers(1, 5)
skews = st.floats(0.0, 20.0)


@settings(max_examples=300, deadline=None)
@given(values, inventories, half_spreads, steps, level_counts, skews)
def test_quote_ladder_any_inputs_levels_per_side_on_grid_bids_below_asks(
    value: int, inventory: int, half_spread: float, step: float, levels: int, skew: float
) -> None:
    ladder = quote_ladder(value, inventory, half_spread, step, levels, skew)

    tick = tick_size(value)
    assert len(bids(ladder)) == levels
    assert len(asks(ladder)) == levels
    assert [side for side, _ in ladder] == [Side.BUY, Side.SELL] * levels
    assert all(price % tick == 0 for _, price in ladder)
    assert max(bids(ladder)) < min(asks(ladder))
    assert bids(ladder) == sorted(bids(ladder), reverse=True)
    assert asks(ladder) == sorted(asks(ladder))


@settings(max_examples=300, deadline=None)
@given(values, st.integers(1, 5_000), half_spreads, steps, level_counts, skews)
def test_quote_ladder_long_inventory_no_price_higher_than_flat(
    value: int, inventory: int, half_spread: float, step: float, levels: int, skew: float
) -> None:
    flat = quote_ladder(value, 0, half_spread, step, levels, skew)
    long = quote_ladder(value, inventory, half_spread, step, levels, skew)
    short = quote_ladder(value, -inventory, half_spread, step, levels, skew)

    assert all(lp <= fp for (_, lp), (_, fp) in zip(long, flat, strict=True))
    assert all(sp >= fp for (_, sp), (_, fp) in zip(short, flat, strict=True))


@settings(max_examples=300, deadline=None)
@given(values, inventories, half_spreads, steps, st.integers(1, 4), skews)
def test_quote_ladder_one_more_level_extends_ladder_outward(
    value: int, inventory: int, half_spread: float, step: float, levels: int, skew: float
) -> None:
    shorter = quote_ladder(value, inventory, half_spread, step, levels, skew)
    longer = quote_ladder(value, inventory, half_spread, step, levels + 1, skew)

    assert longer[: len(shorter)] == shorter
    assert min(bids(longer)) <= min(bids(shorter))
    assert max(asks(longer)) >= max(asks(shorter))


def test_toxicity_widening_is_the_measured_adverse_selection_in_bps_capped() -> None:
    # $0.01 of adverse selection per share on a $50 mid is 2 bps; weight 1.5 -> 3 bps
    assert toxicity_widening(10_000, 50_000_000, 1.5, 10.0) == pytest.approx(3.0)
    assert toxicity_widening(10_000, 50_000_000, 1.5, 2.5) == 2.5  # the cap
    assert toxicity_widening(0.0, 50_000_000, 1.0, 10.0) == 0.0  # benign flow: no widening
    assert toxicity_widening(10_000, 0.0, 1.0, 10.0) == 0.0


def test_a_maker_widens_on_toxic_markouts_and_narrows_as_they_fade() -> None:
    """The estimate the maker keeps (the dealers' MarkoutEstimate): fills the mid then moves
    against by 2 cents widen it; a long run of benign fills (no move) narrows it back."""
    estimate = MarkoutEstimate()
    for _ in range(60):
        estimate.update(20_000.0)
        estimate.update(16_000.0)
    wide = toxicity_widening(estimate.charge, 40_000_000, 1.0, 10.0)
    assert 3.5 < wide <= 4.5  # ~18,000 micro$ on $40: 4.5 bps less its small noise margin
    for k in range(400):
        estimate.update(3_000.0 if k % 2 else -3_000.0)
    assert toxicity_widening(estimate.charge, 40_000_000, 1.0, 10.0) < 0.2
