"""Rule 605 additions on the hand-computed tape of test_metrics.py: order types, realized spreads
from the ``nbbo`` table, commissions, economics and the bootstrap's z statistic and pairing.

NBBO of XYZ over the run (ms): 0: 10.00 x 10.02 (mid 10.01); 1,500: 10.01 x 10.03 (mid 10.02);
3,000: 9.99 x 10.01 (mid 10.00); 8,000: 10.00 x 10.02 (mid 10.01, the last update = run end).

Realized spread 2*D*(px - mid h later), pfof regime, NBBO-at-receipt fills (o5 has none):
  50 ms: o1 +0.010, o2 +0.020 / +0.040, o3 +0.060, o7 +0.040      -> 0.034 over 500 shares
  1 s:   o1 -0.010, o2 -0.020 / 0.000, o3 +0.060, o7 after run end -> 0.0075 over 400 (80%)
  5 s:   o1 +0.030, o2 -0.020 / 0.000, o3 and o7 after run end      -> 0.01/3 over 300 (60%)
  30 s:  unavailable
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from orchestration.economics import economics_table
from orchestration.markouts import future_two_mids
from orchestration.metrics import order_table, order_type_table, regime_difference, regime_summary
from orchestration.rule606 import rule606_tables
from tests.unit.test_metrics import (
    MS,
    alternating_regime,
    make_fills,
    make_orders,
    sample_fills,
    sample_orders,
)


def sample_nbbo() -> pd.DataFrame:
    rows = [
        ("XYZ", 0, 10_000_000, 10_020_000),
        ("XYZ", 1_500, 10_010_000, 10_030_000),
        ("XYZ", 3_000, 9_990_000, 10_010_000),
        ("XYZ", 8_000, 10_000_000, 10_020_000),
    ]
    frame = pd.DataFrame(rows, columns=["symbol", "ts_ns", "bid_px", "ask_px"])
    frame["ts_ns"] *= MS
    return frame.astype({"bid_px": "Int64", "ask_px": "Int64"})


@pytest.fixture
def tape() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    return sample_orders(), sample_fills(), sample_nbbo()


def test_order_table_classifies_market_marketable_and_nonmarketable(tape):
    orders, fills, _ = tape

    classes = order_table(orders, fills).set_index("order_id")["order_class"]

    assert classes["o1"] == "market"
    assert classes["o2"] == "marketable limit"  # sell limit at the bid
    assert classes["o4"] == "non-marketable limit"  # buy limit 9.90 under a 10.02 ask
    assert classes["o5"] == "market"


def test_order_type_table_splits_fill_rate_by_type(tape):
    orders, fills, _ = tape

    table = order_type_table(orders, fills).set_index(["regime", "order_class"])

    assert table.loc[("pfof", "marketable limit"), "fill_rate"] == pytest.approx(200 / 300)
    assert table.loc[("pfof", "non-marketable limit"), "fill_rate"] == 0.0
    assert table.loc[("pfof", "market"), "orders"] == 5


def test_realized_spread_at_each_horizon_matches_hand_values(tape):
    pfof = regime_summary(*tape)["pfof"]

    assert pfof["realized_spread_usd_per_share_50ms"] == pytest.approx(0.034)
    assert pfof["realized_spread_usd_per_share_1s"] == pytest.approx(0.0075)
    assert pfof["realized_spread_coverage_1s"] == pytest.approx(0.8)
    assert pfof["realized_spread_usd_per_share_5s"] == pytest.approx(0.01 / 3)
    assert pfof["realized_spread_coverage_5s"] == pytest.approx(0.6)
    assert pfof["realized_spread_bps_50ms"] == pytest.approx(34_000 / 10_010_000 * 1e4)


def test_realized_spread_beyond_run_end_is_unavailable(tape):
    pfof = regime_summary(*tape)["pfof"]

    assert pfof["realized_spread_usd_per_share_30s"] is None
    assert pfof["realized_spread_coverage_30s"] == 0.0


def test_realized_spread_without_nbbo_table_is_unavailable(tape):
    orders, fills, _ = tape

    pfof = regime_summary(orders, fills)["pfof"]

    assert pfof["realized_spread_usd_per_share_50ms"] is None


def test_future_two_mids_uses_last_quote_at_or_before_due_time(tape):
    _, fills, nbbo = tape

    marks = future_two_mids(fills, nbbo, {"exact": 1_500 * MS - 1_002 * MS, "zero": 0})

    assert marks["exact"][0] == 10_010_000 + 10_030_000  # o1: due exactly at the 1,500 ms update
    assert marks["zero"][0] == 10_000_000 + 10_020_000


def test_commissions_count_in_all_in_cost_and_broker_revenue(tape):
    orders, fills, nbbo = tape
    fills = fills.assign(commission=np.where(fills["order_id"] == "o1", 650_000, 0))

    pfof = regime_summary(orders, fills, nbbo)["pfof"]

    assert pfof["commissions_usd"] == pytest.approx(0.65)
    assert pfof["total_retail_cost_usd"] == pytest.approx(4.5 + 0.65)
    assert pfof["all_in_cost_usd_per_share"] == pytest.approx((4.5 + 0.65) / 500)
    assert pfof["broker_revenue_usd"] == pytest.approx(0.35 + 0.65 - 0.0028)


def test_economics_wholesaler_markout_and_latency_cost_match_hand_values(tape):
    table = economics_table(*tape).set_index("regime")

    pfof = table.loc["pfof"]
    # markout at 1 s over marked fills: (-0.5 - 1.0 + 0 + 3.0 + 0) / 500 shares, x 600 shares
    assert pfof["wholesaler_markout_1s_usd"] == pytest.approx(1.8)
    assert pfof["wholesaler_net_1s_usd"] == pytest.approx(1.8 - 0.35)
    # the mid moved for the investor: o2 -1.0 -1.0, o3 -1.0, o7 -1.0 dollars
    assert pfof["latency_cost_usd"] == pytest.approx(-4.0)
    assert pfof["investor_gain_usd_per_100_shares"] == pytest.approx(-4.5 / 600 * 100)


def test_rule606_routes_share_of_orders_by_type_and_destination(tape):
    orders, fills, _ = tape
    routes = pd.DataFrame(
        {
            "order_id": ["o1", "o2", "o2", "o3", "o4", "o2~1"],
            "destination": ["citadel", "citadel", "sor", "nyse", "citadel", "lit-a"],
        }
    )

    _, venues = rule606_tables(orders, fills, routes)
    table = venues.set_index(["regime", "order_type", "destination"])

    # Rule 606(a)(1)(iii): the share of *all* the regime's non-directed market orders
    pfof_market = ((orders["regime"] == "pfof") & (orders["order_type"] == "market")).sum()
    market = table.loc[("pfof", "market", "citadel")]
    assert market["routed_orders"] == 1
    assert market["order_share"] == pytest.approx(1 / pfof_market)
    assert table.loc[("pfof", "marketable limit", "sor"), "order_share"] == 1.0
    assert ("pfof", "marketable limit", "lit-a") not in table.index  # the SOR's child route


def test_regime_difference_reports_z_and_p_value():
    a_orders, a_fills = alternating_regime("a", (0, 10_000), 200)
    b_orders, b_fills = alternating_regime("b", (10_000, 20_000), 200)

    result = regime_difference(
        make_fills(a_fills + b_fills),
        make_orders(a_orders + b_orders),
        "a",
        "b",
        n_boot=400,
        seed=1,
    )

    assert result.z == pytest.approx(result.difference / result.std_error)
    assert result.z > 10 and result.p_value < 1e-6


def test_regime_difference_identical_regimes_has_large_p_value():
    a_orders, a_fills = alternating_regime("a", (0, 10_000), 50)
    b_orders, b_fills = alternating_regime("b", (0, 10_000), 50)

    result = regime_difference(
        make_fills(a_fills + b_fills),
        make_orders(a_orders + b_orders),
        "a",
        "b",
        n_boot=400,
        seed=1,
    )

    assert result.p_value > 0.5 and not result.significant


def _paired_stream(n: int = 60) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The same n orders under two regimes (sequential design); b improves each by $0.001."""
    order_rows, fill_rows = [], []
    for regime, extra in (("a", 0), ("b", 1_000)):
        rows, fills_ = alternating_regime(regime, (0 + extra, 20_000 + extra), n)
        order_rows += rows
        fill_rows += fills_
    orders = make_orders(order_rows)
    orders["pair_key"] = orders["order_id"].str.split("-").str[1]
    return orders, make_fills(fill_rows)


def test_regime_difference_paired_design_removes_order_mix_noise():
    orders, fills = _paired_stream()

    paired = regime_difference(fills, orders, "a", "b", n_boot=300, seed=2)
    unpaired = regime_difference(
        fills, orders.drop(columns="pair_key"), "a", "b", n_boot=300, seed=2
    )

    assert paired.paired and not unpaired.paired
    assert paired.ci_low == pytest.approx(0.001) and paired.ci_high == pytest.approx(0.001)
    assert paired.significant
    assert unpaired.ci_low < 0 < unpaired.ci_high


def test_regime_difference_stratifies_by_replication():
    orders, fills = _paired_stream()
    orders = orders.drop(columns="pair_key")
    orders["replication"] = np.where(orders.index % 2 == 0, 1, 2)

    result = regime_difference(fills, orders, "a", "b", n_boot=200, seed=3)

    assert result.difference == pytest.approx(0.001)
    assert result.n_boot == 200


def test_order_table_keeps_sells_partials_and_unfilled_in_fill_rate(tape):
    per_order = order_table(*tape).set_index("order_id")

    assert per_order.loc["o2", "filled_shares"] == 200  # a partially filled sell
    assert per_order.loc["o6", "filled_shares"] == 0 and np.isnan(
        per_order.loc["o6", "time_to_execution_ms"]
    )
