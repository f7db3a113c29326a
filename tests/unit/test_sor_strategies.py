"""Spec tests for the SOR strategies: names, schedules, dark-first allocation, wave plans."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config.scenario import SorConfig
from protocol.common import Side
from protocol.money import to_micros
from services.sor.core import VenueLevel, all_in_price, allocate_optimal
from services.sor.strategies import (
    FillRates,
    Pool,
    SliceStep,
    Strategy,
    StrategyKind,
    WaveInput,
    allocate_min_impact,
    parse_strategy,
    plan_wave,
    pov_target,
    protection_limit,
    schedule,
    strategy_for,
    twap_target,
)
from tests.unit.test_sor_core import MINI_PROJECT_BOOK, level

VENUES = ["lit_a", "lit_b", "dark_a", "dark_b", "mm"]
LIT = [lvl for lvl in MINI_PROJECT_BOOK if lvl.kind != "dark"]
DARK = [lvl for lvl in MINI_PROJECT_BOOK if lvl.kind == "dark"]


def wave(need: int, lit=LIT, dark=DARK, probe=(), limit=None, share=0.3, first=True) -> WaveInput:  # type: ignore[no-untyped-def]
    return WaveInput(Side.BUY, need, lit, dark, list(probe), limit, share, first)


# --- names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (None, Strategy("greedy", StrategyKind.GREEDY)),
        ("optimal", Strategy("optimal", StrategyKind.OPTIMAL)),
        ("twap", Strategy("twap", StrategyKind.TWAP)),
        ("twap:3000", Strategy("twap:3000", StrategyKind.TWAP, horizon_ms=3000)),
        ("twap:3000:6", Strategy("twap:3000:6", StrategyKind.TWAP, horizon_ms=3000, slices=6)),
        ("pov:20", Strategy("pov:20", StrategyKind.POV, rate=0.2)),
        ("direct:lit_a", Strategy("direct:lit_a", StrategyKind.DIRECT, venue="lit_a")),
    ],
)
def test_parse_strategy_known_names_parse(name: str | None, expected: Strategy) -> None:
    assert parse_strategy(name, VENUES) == expected


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("spray", "unknown strategy 'spray'"),
        ("direct:nowhere", "no venue or dark pool named 'nowhere'"),
        ("twap:soon", "parameters must be integers"),
        ("pov:100", "pov:<percent 1-99>"),
        ("twap:0", "twap:<horizon_ms>"),
    ],
)
def test_parse_strategy_bad_name_raises_naming_it(name: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_strategy(name, VENUES)


# --- schedules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("elapsed_ms", "target"),
    [(0, 20_000), (399, 20_000), (400, 40_000), (1_999, 100_000), (5_000, 100_000)],
)
def test_twap_target_opens_one_slice_per_interval(elapsed_ms: int, target: int) -> None:
    assert twap_target(100_000, elapsed_ms * 1_000_000, 2_000_000_000, 5) == target


def test_pov_target_is_rate_of_total_volume_own_included() -> None:
    # 10% of everything: others traded 9,000, so we may have 1,000 of 10,000.
    assert pov_target(100_000, 9_000, 0.1) == 1_000
    assert pov_target(500, 9_000, 0.1) == 500


# --- fill rates --------------------------------------------------------------------------


def test_fill_rates_start_at_prior_and_learn_from_children() -> None:
    rates = FillRates(0.5)

    assert rates.rate("dark_a") == 0.5
    rates.update("dark_a", 1_000, 0)
    rates.update("dark_a", 1_000, 0)
    rates.update("dark_b", 1_000, 1_000)

    assert rates.rate("dark_a") == pytest.approx(0.25)
    assert rates.rate("dark_b") == pytest.approx(2 / 3)
    assert rates.as_dict() == {"dark_a": 0.25, "dark_b": 0.6667}


# --- min-impact ----------------------------------------------------------------------------


def test_allocate_min_impact_mini_project_book_dark_ahead_of_lit() -> None:
    allocation = allocate_min_impact(Side.BUY, 100_000, LIT, DARK, None)

    # Lit-only plan: lit_b 25k@100.00, 20k@100.01, lit_a 40k@100.02, 15k@100.03. Each dark share
    # displaces the dearest lit share if no dearer: dark_b 15k@99.99 and 10k@100.00, dark_a
    # 20k@100.01 and 10k of its 15k@100.02 (then the dearest lit left is 100.01).
    assert [(c.venue, c.qty, c.limit_price) for c in allocation.children] == [
        ("dark_b", 25_000, to_micros("100.00")),
        ("dark_a", 30_000, to_micros("100.02")),
    ]
    assert allocation.unallocated_qty == 45_000


def test_allocate_min_impact_dark_dearer_than_lit_takes_nothing() -> None:
    lit = [level("lit", "10.00", 1_000)]
    dark = [level("pool", "10.01", 1_000, "dark")]

    assert allocate_min_impact(Side.BUY, 500, lit, dark, None).allocated_qty == 0


def test_allocate_min_impact_fees_count_in_the_comparison() -> None:
    lit = [level("lit", "10.00", 1_000, fee_per_share=-2_000)]  # a rebate: 9.998 all-in
    dark = [level("pool", "9.999", 1_000, "dark", fee_per_share=1_000)]  # 10.000 all-in

    assert allocate_min_impact(Side.BUY, 500, lit, dark, None).allocated_qty == 0


def test_allocate_min_impact_lit_short_takes_dark_within_limit() -> None:
    lit = [level("lit", "10.00", 100)]
    dark = [level("pool", "10.05", 1_000, "dark"), level("pool", "10.10", 1_000, "dark")]

    allocation = allocate_min_impact(Side.BUY, 600, lit, dark, to_micros("10.05"))

    assert [(c.venue, c.qty) for c in allocation.children] == [("pool", 500)]


def test_allocate_min_impact_sell_side_mirrors_buy() -> None:
    lit = [level("lit", "10.00", 1_000), level("lit", "9.99", 1_000)]
    dark = [level("pool", "10.00", 500, "dark")]

    allocation = allocate_min_impact(Side.SELL, 1_500, lit, dark, None)

    assert [(c.venue, c.qty, c.limit_price) for c in allocation.children] == [
        ("pool", 500, to_micros("10.00"))
    ]


prices = st.integers(-10, 10).map(lambda ticks: 50_000_000 + ticks * 1_000)


@st.composite
def venue_book(draw: st.DrawFn, name: str, kind: str) -> list[VenueLevel]:
    fee = draw(st.integers(-3, 3)) * 1_000
    return [
        VenueLevel(name, draw(prices), draw(st.integers(0, 3_000)), 0, kind, fee)
        for _ in range(draw(st.integers(1, 4)))
    ]


@settings(max_examples=300, deadline=None)
@given(
    side=st.sampled_from(Side),
    qty=st.integers(1, 10_000),
    lit=st.lists(st.sampled_from(["l1", "l2", "l3"]), min_size=1, max_size=3, unique=True),
    dark=st.lists(st.sampled_from(["d1", "d2"]), min_size=1, max_size=2, unique=True),
    data=st.data(),
)
def test_allocate_min_impact_never_worse_than_the_lit_it_skips(
    side: Side, qty: int, lit: list[str], dark: list[str], data: st.DataObject
) -> None:
    lit_levels = [lvl for name in lit for lvl in data.draw(venue_book(name, "lit"))]
    dark_levels = [lvl for name in dark for lvl in data.draw(venue_book(name, "dark"))]

    allocation = allocate_min_impact(side, qty, lit_levels, dark_levels, None)
    lit_plan = allocate_optimal(side, qty, lit_levels)

    assert allocation.allocated_qty <= qty
    if lit_plan.allocated_qty == qty and allocation.allocated_qty:
        # Every dark share is no dearer all-in than the dearest lit share of the lit-only plan.
        dearest_lit = max(
            all_in_price(side, lvl) * side.sign
            for lvl in lit_levels
            if any(
                c.venue == lvl.venue and lvl.price * side.sign <= c.limit_price * side.sign
                for c in lit_plan.children
            )
        )
        for child in allocation.children:
            taken = [
                lvl
                for lvl in dark_levels
                if lvl.venue == child.venue
                and lvl.qty
                and lvl.price * side.sign <= child.limit_price * side.sign
            ]
            assert all(all_in_price(side, lvl) * side.sign <= dearest_lit for lvl in taken)


# --- wave plans ----------------------------------------------------------------------------


def test_plan_wave_greedy_first_wave_probes_pegged_pools_then_sweeps() -> None:
    plans = plan_wave(
        Strategy("greedy", StrategyKind.GREEDY),
        wave(10_000, dark=(), probe=[Pool("p1"), Pool("p2", 2_000)]),
        FillRates(0.5),
    )

    # 30% of 10,000 split across two pools: 1,500 each; p2's minimum of 2,000 skips it.
    assert [(p.venue, p.qty, p.order_type) for p in plans[:1]] == [("p1", 1_500, "midpoint")]
    assert sum(p.qty for p in plans) == 10_000
    assert all(p.order_type == "limit" for p in plans[1:])


def test_plan_wave_greedy_later_wave_does_not_probe() -> None:
    plans = plan_wave(
        Strategy("greedy", StrategyKind.GREEDY),
        wave(1_000, probe=[Pool("p1")], first=False),
        FillRates(0.5),
    )

    assert all(p.order_type == "limit" for p in plans)


def test_plan_wave_min_impact_sends_dark_only_first() -> None:
    plans = plan_wave(
        Strategy("min-impact", StrategyKind.MIN_IMPACT), wave(100_000), FillRates(0.5)
    )

    assert {p.venue for p in plans} == {"dark_a", "dark_b"}
    assert all(p.kind == "dark" for p in plans)


def test_plan_wave_min_impact_probe_capped_at_best_lit_price() -> None:
    plans = plan_wave(
        Strategy("min-impact", StrategyKind.MIN_IMPACT),
        wave(1_000, dark=(), probe=[Pool("p1")]),
        FillRates(0.5),
    )

    assert [(p.venue, p.qty, p.limit_price, p.order_type) for p in plans] == [
        ("p1", 1_000, to_micros("100.00"), "midpoint")
    ]


def test_plan_wave_min_impact_nothing_dark_goes_lit() -> None:
    plans = plan_wave(
        Strategy("min-impact", StrategyKind.MIN_IMPACT), wave(30_000, dark=()), FillRates(0.5)
    )

    assert [(p.venue, p.qty) for p in plans] == [("lit_b", 30_000)]


def test_plan_wave_fill_aware_discounts_indications_by_fill_rate() -> None:
    rates = FillRates(0.5)
    rates.update("dark_b", 1_000, 0)  # dark_b: 1/3 after one empty child

    plans = plan_wave(
        Strategy("fill-aware", StrategyKind.FILL_AWARE), wave(15_000, dark=DARK[2:3]), rates
    )

    # dark_b's 15,000 @ 99.99 counts as 5,000 expected; the rest goes to lit_b at 100.00.
    assert [(p.venue, p.qty) for p in plans] == [("dark_b", 5_000), ("lit_b", 10_000)]


def test_plan_wave_fill_aware_probe_size_follows_learned_rate() -> None:
    rates = FillRates(0.5)
    for _ in range(4):
        rates.update("good", 100, 100)
        rates.update("bad", 100, 0)

    plans = plan_wave(
        Strategy("fill-aware", StrategyKind.FILL_AWARE),
        wave(10_000, dark=(), probe=[Pool("good"), Pool("bad")]),
        rates,
    )
    probes = {p.venue: p.qty for p in plans if p.order_type == "midpoint"}

    assert probes["good"] > 1_500 > probes["bad"]


def test_plan_wave_direct_uses_only_its_venue() -> None:
    plans = plan_wave(
        Strategy("direct:lit_a", StrategyKind.DIRECT, venue="lit_a"), wave(100_000), FillRates(0.5)
    )

    assert [(p.venue, p.qty, p.limit_price) for p in plans] == [
        ("lit_a", 90_000, to_micros("100.04"))
    ]


def test_plan_wave_direct_pegged_pool_is_one_midpoint_child() -> None:
    plans = plan_wave(
        Strategy("direct:p1", StrategyKind.DIRECT, venue="p1"),
        wave(5_000, dark=(), probe=[Pool("p1")]),
        FillRates(0.5),
    )

    assert [(p.venue, p.qty, p.order_type) for p in plans] == [("p1", 5_000, "midpoint")]


def test_plan_wave_twap_slice_allocates_optimally() -> None:
    plans = plan_wave(Strategy("twap", StrategyKind.TWAP), wave(20_000), FillRates(0.5))

    assert [(p.venue, p.qty) for p in plans] == [("dark_b", 20_000)]
    assert plans[0].reason.startswith("twap/optimal")


# --- schedule and protection -----------------------------------------------------------------


def test_schedule_twap_next_look_at_the_next_slice_then_horizon_over() -> None:
    cfg = SorConfig(twap_horizon_ms=1_000, twap_slices=4)
    twap = Strategy("twap", StrategyKind.TWAP)

    assert schedule(twap, cfg, 1_000, 0, 0) == SliceStep(250, 250_000_000)
    assert schedule(twap, cfg, 1_000, 600_000_000, 0) == SliceStep(750, 150_000_000)
    assert schedule(twap, cfg, 1_000, 1_000_000_000, 0) == SliceStep(1_000, None)


def test_schedule_pov_follows_others_volume_until_its_horizon() -> None:
    cfg = SorConfig(pov_rate=0.2, pov_horizon_ms=1_000, pov_interval_ms=100)

    assert schedule(Strategy("pov", StrategyKind.POV), cfg, 1_000, 50_000_000, 400) == SliceStep(
        100, 50_000_000
    )
    assert schedule(
        Strategy("pov:50", StrategyKind.POV, rate=0.5), cfg, 1_000, 2_000_000_000, 400
    ) == SliceStep(400, None)


@pytest.mark.parametrize(
    ("side", "limit", "ref", "expected"),
    [
        (Side.BUY, 10_000_000, 9_000_000, 10_000_000),  # its own limit wins
        (Side.BUY, None, 10_000_000, 10_300_000),  # 300 bps through the ask
        (Side.SELL, None, 10_005_000, 9_710_000),  # through the bid, rounded up to the tick
        (Side.BUY, None, None, None),  # nothing to protect a market order with
    ],
)
def test_protection_limit_collar_through_the_far_touch(
    side: Side, limit: int | None, ref: int | None, expected: int | None
) -> None:
    assert protection_limit(side, limit, ref, 300) == expected


@pytest.mark.parametrize(
    ("side", "tick", "expected"),
    [
        # 300 bps of $20.005 = $0.60015: buy 20.60515 down to the grid, sell 19.40485 up to it
        (Side.BUY, 5_000, 20_605_000),
        (Side.BUY, None, 20_600_000),
        (Side.SELL, 5_000, 19_405_000),
        (Side.SELL, None, 19_410_000),
    ],
)
def test_protection_limit_collar_on_the_symbols_half_penny_grid(
    side: Side, tick: int | None, expected: int
) -> None:
    assert protection_limit(side, None, 20_005_000, 300, tick) == expected


@pytest.mark.parametrize(
    ("name", "urgency", "expected"),
    [
        (None, "high", "optimal"),
        (None, "normal", "greedy"),
        (None, "low", "twap"),
        (None, None, None),
        ("min-impact", "high", "min-impact"),
    ],
)
def test_strategy_for_urgency_picks_default_unless_named(name, urgency, expected) -> None:
    assert strategy_for(name, urgency) == expected
