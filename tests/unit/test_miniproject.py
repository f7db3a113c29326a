"""The seed's PFOF mini-project offline (orchestration/miniproject*.py), checked against figures
worked by hand from the seed's parameters: lit 0.5 bps / $0 / 99% / 80 ms, mm-1 1.0 bps /
$0.005 / 98% / 5 ms, mm-2 1.2 bps / $0.004 / 97% / 3 ms, mm-3 0.8 bps / $0.003 / 96% / 2 ms."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from orchestration.miniproject import (
    AS_WRITTEN,
    SHORTCUTS_OFF,
    SeedOrder,
    SeedStrategy,
    balanced_break_even_price,
    execute,
    execute_days,
    order_cost,
    order_pfof,
    route,
    run_seed,
    venue_named,
)
from orchestration.miniproject_live import live_strategy_table, pfof_per_extra_cost, side_by_side
from orchestration.miniproject_tables import (
    conflict_table,
    executions_frame,
    shortcut_table,
    strategy_table,
    venue_table,
)

BEST, REVENUE, BALANCED = SeedStrategy
HALF, CAPPED, REROUTED, ALL_THREE = SHORTCUTS_OFF


def test_order_cost_is_whole_spread_times_price_and_size() -> None:
    # 0.5 bps of $100 = $0.005 a share; x 1,000 shares = $5.00; mm-2: 1.2 bps -> $12.00
    assert order_cost(venue_named("lit"), 100.0, 1000) == pytest.approx(5.00)
    assert order_cost(venue_named("mm-2"), 100.0, 1000) == pytest.approx(12.00)
    assert order_pfof(venue_named("mm-1"), 1000) == pytest.approx(5.00)
    assert order_pfof(venue_named("lit"), 1000) == 0.0


def test_route_at_100_dollars_best_execution_and_balanced_pick_lit_revenue_picks_mm1() -> None:
    # balanced per share at $100: lit 0.7 x 0.005 = 0.0035; mm-1 0.7 x 0.010 - 0.3 x 0.005 =
    # 0.0055; mm-2 0.0084 - 0.0012 = 0.0072; mm-3 0.0056 - 0.0009 = 0.0047: lit is lowest
    assert route(SeedOrder(100.0, 500, BEST, 0.0)).name == "lit"
    assert route(SeedOrder(100.0, 500, REVENUE, 0.0)).name == "mm-1"
    assert route(SeedOrder(100.0, 500, BALANCED, 0.0)).name == "lit"


def test_route_balanced_below_break_even_picks_mm1() -> None:
    # at $40 per share: lit 0.7 x 0.5e-4 x 40 = 0.0014; mm-1 0.7 x 1e-4 x 40 - 0.0015 = 0.0013;
    # mm-3 0.7 x 0.8e-4 x 40 - 0.0009 = 0.00134; mm-2 0.7 x 1.2e-4 x 40 - 0.0012 = 0.00216
    assert route(SeedOrder(40.0, 100, BALANCED, 0.0)).name == "mm-1"


def test_balanced_break_even_price_matches_closed_form() -> None:
    # mm-1 beats lit when 0.7 x 0.5e-4 x P < 0.3 x 0.005: P < 0.0015 / 0.35e-4 = 300/7 ($42.86);
    # mm-3: 0.7 x 0.3e-4 x P < 0.3 x 0.003 gives the same 300/7; mm-2 only below $24.49.
    assert balanced_break_even_price() == pytest.approx(300 / 7)
    # half the spread charged halves every cost difference: 600/7 ($85.71)
    assert balanced_break_even_price(HALF) == pytest.approx(600 / 7)
    # capped at the lit quote a market maker costs no more than lit: it always wins on PFOF
    assert balanced_break_even_price(CAPPED) == math.inf


def test_execute_unfilled_order_costs_and_earns_nothing() -> None:
    declined = SeedOrder(100.0, 1000, REVENUE, fill_draw=0.985)  # mm-1 fills below 0.98

    result = execute(declined)

    assert (result.venue, result.filled, result.fill_size) == ("mm-1", False, 0)
    assert (result.spread_cost, result.pfof_revenue) == (0.0, 0.0)
    assert math.isnan(result.speed_ms)
    assert result.effective_spread_bps == 1.0  # the seed records the routed venue's spread


def test_execute_declines_rerouted_fill_at_lit_after_both_delays() -> None:
    declined = SeedOrder(100.0, 1000, REVENUE, fill_draw=0.985)

    result = execute(declined, REROUTED)

    assert (result.venue, result.filled_at, result.fill_size) == ("mm-1", "lit", 1000)
    assert result.spread_cost == pytest.approx(5.00)  # lit: 0.5 bps x $100 x 1,000
    assert result.pfof_revenue == 0.0
    assert result.speed_ms == 85.0  # mm-1's 5 ms, then lit's 80 ms


def test_order_protection_caps_a_market_maker_at_the_lit_spread() -> None:
    # mm-2's 1.2 bps capped at lit's 0.5 bps: $5.00 on 1,000 shares at $100, not $12.00
    assert order_cost(venue_named("mm-2"), 100.0, 1000, CAPPED) == pytest.approx(5.00)
    assert order_cost(venue_named("mm-2"), 100.0, 1000, ALL_THREE) == pytest.approx(2.50)
    # all cost the same: best execution keeps the first (lit), balanced takes the top payer
    assert route(SeedOrder(100.0, 100, BEST, 0.0), CAPPED).name == "lit"
    assert route(SeedOrder(100.0, 100, BALANCED, 0.0), CAPPED).name == "mm-1"


def test_run_seed_draws_in_the_seeds_order_from_one_generator() -> None:
    # the seed's simulate_trading_day per order: normal step, size, strategy, then the fill draw
    rng = np.random.RandomState(7)
    expected = []
    for strategy in SeedStrategy:
        base = 100.0
        for _ in range(3):
            price = base + rng.normal(0, 0.1)
            size = rng.choice([100, 500, 1000, 5000])
            rng.choice([str(strategy)])
            expected.append((price, size, strategy, rng.random()))
            base = price

    days = run_seed(7, n_orders=3)

    drawn = [(o.price, o.size, o.strategy, o.fill_draw) for d in days.values() for o in d]
    assert drawn == expected


def hand_days() -> dict[SeedStrategy, list[SeedOrder]]:
    return {
        BEST: [SeedOrder(100.0, 1000, BEST, 0.1), SeedOrder(100.0, 1000, BEST, 0.995)],
        REVENUE: [
            SeedOrder(100.0, 100, REVENUE, 0.1),
            SeedOrder(100.0, 1000, REVENUE, 0.5),
            SeedOrder(200.0, 500, REVENUE, 0.99),  # mm-1 fills below 0.98: declined
            SeedOrder(50.0, 5000, REVENUE, 0.0),
        ],
    }


def test_strategy_table_sums_and_means_over_filled_orders() -> None:
    table = strategy_table(executions_frame(execute_days(hand_days()))).set_index("strategy")

    revenue = table.loc["maximize_revenue"]
    # filled: 1.0 bps x $100 x 100 = $1; x 1,000 = $10; 1.0 bps x $50 x 5,000 = $25
    assert (revenue["orders"], revenue["filled_orders"], revenue["fill_rate"]) == (4, 3, 0.75)
    assert revenue["spread_cost_usd"] == pytest.approx(36.0)
    assert revenue["spread_cost_usd_per_order"] == pytest.approx(12.0)
    # PFOF $0.005 x (100 + 1,000 + 5,000) = $30.50
    assert revenue["pfof_usd"] == pytest.approx(30.5)
    assert revenue["pfof_usd_per_order"] == pytest.approx(30.5 / 3)
    # filled notional $10,000 + $100,000 + $250,000 = $360,000
    assert revenue["cost_bps"] == pytest.approx(36 / 360_000 * 1e4)
    assert revenue["pfof_bps"] == pytest.approx(30.5 / 360_000 * 1e4)
    assert (revenue["venues"], revenue["execution_speed_ms"]) == ("mm-1 100%", 5.0)
    best = table.loc["best_execution"]
    assert (best["filled_orders"], best["spread_cost_usd"]) == (1, pytest.approx(5.0))


def test_venue_table_counts_routed_and_filled_orders() -> None:
    table = venue_table(executions_frame(execute_days(hand_days())))

    rows = table.set_index(["strategy", "venue"])
    assert rows.loc[("maximize_revenue", "mm-1"), "routed_orders"] == 4
    assert rows.loc[("maximize_revenue", "mm-1"), "filled_orders"] == 3
    assert rows.loc[("best_execution", "lit"), "execution_speed_ms"] == 80.0
    assert len(table) == 2


def test_conflict_table_is_the_seeds_comparison() -> None:
    strategies = strategy_table(executions_frame(execute_days(hand_days())))

    row = conflict_table(strategies).iloc[0]

    # cost $36 vs $5: $31 more, 620% worse; PFOF $30.50 more: $30.5 / $31 per dollar
    assert row["strategy"] == "maximize_revenue"
    assert row["extra_cost_usd"] == pytest.approx(31.0)
    assert row["extra_cost_pct"] == pytest.approx(620.0)
    assert row["pfof_per_extra_cost"] == pytest.approx(30.5 / 31)


def test_shortcut_table_half_spread_doubles_pfof_per_extra_cost() -> None:
    days = {
        BEST: [SeedOrder(100.0, 1000, BEST, 0.0)],
        REVENUE: [SeedOrder(100.0, 1000, REVENUE, 0.0)],
        BALANCED: [SeedOrder(100.0, 1000, BALANCED, 0.0)],
    }

    table = shortcut_table(days).set_index(["assumptions", "strategy"])

    # PFOF 0.005 / $100 = 0.5 bps of notional; extra cost 1.0 - 0.5 bps (whole), 0.25 (half)
    assert table.loc[(AS_WRITTEN.label, "maximize_revenue"), "pfof_per_extra_cost"] == (
        pytest.approx(0.5 / 0.5)
    )
    assert table.loc[(HALF.label, "maximize_revenue"), "pfof_per_extra_cost"] == (
        pytest.approx(0.5 / 0.25)
    )
    assert table.loc[(CAPPED.label, "maximize_revenue"), "pfof_per_extra_cost"] == math.inf
    assert table.loc[(AS_WRITTEN.label, "balanced"), "venues"] == "lit 100%"
    assert table.loc[(CAPPED.label, "balanced"), "venues"] == "mm-1 100%"


def test_seed_days_at_100_dollars_route_as_hand_worked() -> None:
    days = run_seed(615)
    executions = executions_frame(execute_days(days))
    assert executions["order_price"].min() > 300 / 7  # every price above balanced's break-even

    table = strategy_table(executions).set_index("strategy")

    assert list(table["venues"]) == ["lit 100%", "mm-1 100%", "lit 100%"]
    assert list(table["orders"]) == [1000, 1000, 1000]
    # one venue per day: cost in bps of the filled notional is that venue's spread
    assert list(table["cost_bps"]) == pytest.approx([0.5, 1.0, 0.5])


def make_live() -> tuple[pd.DataFrame, pd.DataFrame]:
    # NBBO $399.99 x $400.01 (micro-dollars); both buys
    bid, ask = 399_990_000, 400_010_000
    orders = pd.DataFrame(
        {
            "order_id": ["a", "b"],
            "regime": ["best-ex", "pfof"],
            "side": ["buy", "buy"],
            "qty": [100, 200],
            "status": ["filled", "filled"],
            "filled_qty": [100, 200],
            "recv_ns": [0, 0],
            "nbbo_bid": [bid, bid],
            "nbbo_ask": [ask, ask],
        }
    )
    fills = pd.DataFrame(
        {
            "order_id": ["a", "b"],
            "regime": ["best-ex", "pfof"],
            "side": ["buy", "buy"],
            "qty": [100, 200],
            "price": [400_010_000, 400_005_000],
            "exec_ns": [80_000_000, 5_000_000],
            "destination": ["lit", "mm-1"],
            "fee": [0, 0],
            "pfof": [0, 1_000_000],  # $0.005 x 200 shares
        }
    )
    return orders, fills


def test_live_strategy_table_costs_against_the_mid() -> None:
    table = live_strategy_table(*make_live()).set_index("regime")

    # best-ex paid $0.01 over the $400.00 mid: 2 x 0.01 / 400 x 1e4 = 0.5 bps effective
    assert table.loc["best-ex", "effective_spread_bps"] == pytest.approx(0.5)
    assert table.loc["best-ex", "cost_bps"] == pytest.approx(0.25)
    assert table.loc["best-ex", "strategy"] == "best_execution"
    # pfof paid $0.005 over the mid: 0.25 bps effective; PFOF $1 / 200 shares
    assert table.loc["pfof", "cost_bps"] == pytest.approx(0.125)
    assert table.loc["pfof", "pfof_usd_per_share"] == pytest.approx(0.005)
    assert table.loc["pfof", "pfof_bps"] == pytest.approx(1 / (400.005 * 200) * 1e4)
    assert table.loc["pfof", "cost_usd_per_order"] == pytest.approx(0.005 * 200)
    assert table.loc["pfof", "time_to_execution_ms_mean"] == pytest.approx(5.0)
    assert table.loc["pfof", "venues"] == "mm-1 100%"


def test_side_by_side_pairs_each_seed_strategy_with_its_live_arm() -> None:
    seed = strategy_table(executions_frame(execute_days(hand_days())))
    live = live_strategy_table(*make_live())

    table = side_by_side(seed, live)

    assert list(table["source"]) == ["seed", "live best-ex", "seed", "live pfof"]
    # the seed charges mm-1's whole 1.0 bps; live cost vs the mid is 0.125 bps
    assert list(table["cost_bps"]) == pytest.approx([0.5, 0.25, 1.0, 0.125])
    # live: PFOF 0.125 bps of notional for a cost 0.125 bps *below* best-ex's
    assert pfof_per_extra_cost(live) == pytest.approx((1 / (400.005 * 200) * 1e4) / (0.125 - 0.25))


def test_run_seed_at_the_live_price_weighs_pfof_a_quarter_as_much() -> None:
    days = run_seed(615, n_orders=200, start_price=400.0)

    table = strategy_table(executions_frame(execute_days(days))).set_index("strategy")

    # $0.005 a share of a ~$400 stock is 0.005 / 400 x 1e4 = 0.125 bps (0.5 bps at $100)
    assert table.loc["maximize_revenue", "pfof_bps"] == pytest.approx(0.125, rel=0.02)
    assert list(table["venues"]) == ["lit 100%", "mm-1 100%", "lit 100%"]
