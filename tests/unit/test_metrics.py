"""Execution-quality metrics on a small hand-computed tape.

Every order below has the NBBO $10.00 x $10.02 at receipt (mid $10.01, quoted spread $0.02)
unless noted. Regime "pfof":
  o1 buy 100, one fill 100 @ 10.015 (citadel)          PI +0.005, eff 0.010, TTE 2 ms, improved
  o2 sell 300, fills 100 @ 10.01 (citadel, mid) and     PI +0.010 / 0.000, eff 0.000 / 0.020,
     100 @ 10.00 (virtu, at the bid), then canceled     TTE 4 ms (last fill), avg 10.005 improved
  o3 buy 100, one fill 100 @ 10.03 (nyse)               PI -0.010, eff 0.040, TTE 10 ms, outside
  o4 buy 1,000 limit 9.90, open, unfilled
  o5 sell 100, no NBBO at receipt, fill 100 @ 10.00     counted in filled shares only, TTE 1 ms
  o6 buy 5,000, canceled, unfilled
  o7 buy 100, one fill 100 @ 10.02 (nyse, at the ask)   PI 0.000, eff 0.020, TTE 3 ms, at quote
Regime "auction":
  a1 buy 100 @ 10.01 (auction, mid), TTE 50 ms; a2 sell 100 rejected.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from orchestration.metrics import (
    RATIO_METRICS,
    order_type_table,
    regime_difference,
    regime_summary,
    size_bucket_table,
)
from orchestration.routing import routing_table

BID, ASK = 10_000_000, 10_020_000
MID = 10_010_000
MS = 1_000_000


def make_orders(rows: list[tuple]) -> pd.DataFrame:
    columns = ["order_id", "regime", "side", "qty", "order_type", "limit_price", "recv_ns",
               "nbbo_bid", "nbbo_ask", "status", "filled_qty", "terminal_ns", "reason"]  # fmt: skip
    frame = pd.DataFrame(rows, columns=columns)
    for name in ("limit_price", "nbbo_bid", "nbbo_ask", "terminal_ns"):
        frame[name] = frame[name].astype("Int64")
    return frame.astype({"qty": "int64", "recv_ns": "int64", "filled_qty": "int64"})


def make_fills(rows: list[tuple]) -> pd.DataFrame:
    columns = ["order_id", "regime", "symbol", "side", "qty", "price", "ts_ns", "exec_ns",
               "destination", "liquidity", "fee", "pfof"]  # fmt: skip
    frame = pd.DataFrame(rows, columns=columns)
    ints = ("qty", "price", "ts_ns", "exec_ns", "fee", "pfof")
    return frame.astype(dict.fromkeys(ints, "int64"))


def order(
    order_id: str,
    side: str,
    qty: int,
    recv_ms: int,
    status: str,
    filled_qty: int,
    *,
    regime: str = "pfof",
    nbbo: tuple[int | None, int | None] = (BID, ASK),
    limit_price: int | None = None,
) -> tuple:
    """One ``orders`` row; terminal 1 ms after receipt unless still open."""
    order_type = "market" if limit_price is None else "limit"
    terminal_ns = None if status == "open" else (recv_ms + 1) * MS
    return (order_id, regime, side, qty, order_type, limit_price, recv_ms * MS, *nbbo, status,
            filled_qty, terminal_ns, None)  # fmt: skip


def fill(
    order_id: str,
    side: str,
    qty: int,
    price: int,
    exec_ms: int,
    destination: str,
    *,
    regime: str = "pfof",
    fee: int = 0,
    pfof: int = 0,
) -> tuple:
    """One ``fills`` row; the broker learns of it 1 ms after execution."""
    return (order_id, regime, "XYZ", side, qty, price, (exec_ms + 1) * MS, exec_ms * MS,
            destination, "internalized", fee, pfof)  # fmt: skip


def sample_orders() -> pd.DataFrame:
    return make_orders([
        order("o1", "buy", 100, 1_000, "filled", 100),
        order("o2", "sell", 300, 2_000, "canceled", 200, limit_price=BID),
        order("o3", "buy", 100, 3_000, "filled", 100),
        order("o4", "buy", 1_000, 4_000, "open", 0, limit_price=9_900_000),
        order("o5", "sell", 100, 5_000, "filled", 100, nbbo=(None, None)),
        order("o6", "buy", 5_000, 6_000, "canceled", 0),
        order("o7", "buy", 100, 7_000, "filled", 100),
        order("a1", "buy", 100, 1_000, "filled", 100, regime="auction"),
        order("a2", "sell", 100, 1_000, "rejected", 0, regime="auction"),
    ])  # fmt: skip


def sample_fills() -> pd.DataFrame:
    return make_fills([
        fill("o1", "buy", 100, 10_015_000, 1_002, "citadel", pfof=200_000),
        fill("o2", "sell", 100, 10_010_000, 2_001, "citadel", pfof=100_000),
        fill("o2", "sell", 100, 10_000_000, 2_004, "virtu"),
        fill("o3", "buy", 100, 10_030_000, 3_010, "nyse", fee=3_000),
        fill("o5", "sell", 100, 10_000_000, 5_001, "virtu", pfof=50_000),
        fill("o7", "buy", 100, 10_020_000, 7_003, "nyse", fee=-200),
        fill("a1", "buy", 100, 10_010_000, 1_050, "auction", regime="auction", fee=300),
    ])  # fmt: skip


@pytest.fixture
def orders() -> pd.DataFrame:
    return sample_orders()


@pytest.fixture
def fills() -> pd.DataFrame:
    return sample_fills()


def test_regime_summary_counts_orders_and_shares_by_regime(orders, fills):
    summary = regime_summary(orders, fills)

    assert list(summary) == ["pfof", "auction"]
    pfof = summary["pfof"]
    assert (pfof["orders"], pfof["terminal_orders"], pfof["filled_orders"]) == (7, 6, 5)
    assert pfof["filled_shares"] == 600  # o5 has no NBBO but its shares still count
    assert pfof["ordered_shares"] == 100 + 300 + 100 + 1_000 + 100 + 5_000 + 100
    assert pfof["nbbo_filled_shares"] == 500
    assert pfof["fill_rate"] == pytest.approx(600 / 6_700)
    auction = summary["auction"]
    assert (auction["orders"], auction["terminal_orders"], auction["filled_orders"]) == (2, 2, 1)
    assert auction["fill_rate"] == pytest.approx(0.5)


def test_regime_summary_price_improvement_share_weighted_over_nbbo_fills(orders, fills):
    pfof = regime_summary(orders, fills)["pfof"]

    # (0.005*100 + 0.010*100 + 0*100 - 0.010*100 + 0*100) / 500 shares
    assert pfof["price_improvement_usd_per_share"] == pytest.approx(0.001)
    assert pfof["price_improvement_bps"] == pytest.approx(1_000 / MID * 1e4)


def test_regime_summary_spreads_and_eq_ratio_match_hand_values(orders, fills):
    pfof = regime_summary(orders, fills)["pfof"]

    # effective 2*D*(px - mid): 0.010, 0.000, 0.020, 0.040, 0.020 at 100 shares each
    assert pfof["effective_spread_usd_per_share"] == pytest.approx(0.018)
    assert pfof["effective_spread_bps"] == pytest.approx(18_000 / MID * 1e4)
    assert pfof["quoted_spread_usd_per_share"] == pytest.approx(0.02)
    assert pfof["quoted_spread_bps"] == pytest.approx(20_000 / MID * 1e4)
    assert pfof["eq_ratio"] == pytest.approx(0.9)
    # D*(px - mid)*qty: 0.5 + 0 + 1.0 + 2.0 + 1.0 dollars
    assert pfof["retail_cost_vs_mid_usd"] == pytest.approx(4.5)


def test_regime_summary_midpoint_fill_has_zero_spread_and_full_improvement(orders, fills):
    auction = regime_summary(orders, fills)["auction"]

    assert auction["price_improvement_usd_per_share"] == pytest.approx(0.01)
    assert auction["price_improvement_bps"] == pytest.approx(10_000 / MID * 1e4)
    assert auction["effective_spread_bps"] == 0.0
    assert auction["eq_ratio"] == 0.0
    assert auction["retail_cost_vs_mid_usd"] == 0.0


def test_regime_summary_classifies_orders_by_average_price(orders, fills):
    pfof = regime_summary(orders, fills)["pfof"]

    # o1 and o2 (avg 10.005 for a sell) improved, o7 at the ask, o3 outside; o5 has no NBBO
    assert pfof["share_orders_improved"] == pytest.approx(0.5)
    assert pfof["share_orders_at_quote"] == pytest.approx(0.25)
    assert pfof["share_orders_outside_quote"] == pytest.approx(0.25)


def test_regime_summary_time_to_execution_uses_last_fill_per_order(orders, fills):
    pfof = regime_summary(orders, fills)["pfof"]

    # o1 2, o2 4 (last exec), o3 10, o5 1, o7 3 ms; p99 interpolates between 4 and 10
    assert pfof["time_to_execution_ms_mean"] == pytest.approx(4.0)
    assert pfof["time_to_execution_ms_p50"] == pytest.approx(3.0)
    assert pfof["time_to_execution_ms_p99"] == pytest.approx(4 + 0.96 * 6)


def test_regime_summary_sums_pfof_and_fees_in_dollars(orders, fills):
    summary = regime_summary(orders, fills)

    assert summary["pfof"]["pfof_paid_usd"] == pytest.approx(0.35)
    assert summary["pfof"]["fees_usd"] == pytest.approx(0.0028)
    assert summary["auction"]["pfof_paid_usd"] == 0.0
    assert summary["auction"]["fees_usd"] == pytest.approx(0.0003)


def test_regime_summary_regime_without_fills_reports_none(orders, fills):
    summary = regime_summary(orders, fills[fills["regime"] != "auction"])

    auction = summary["auction"]
    assert auction["filled_shares"] == 0
    assert auction["fill_rate"] == 0.0
    for name in ("price_improvement_usd_per_share", "eq_ratio", "time_to_execution_ms_p50"):
        assert auction[name] is None


def test_regime_summary_empty_fills_without_columns_reports_no_fills(orders):
    summary = regime_summary(orders, pd.DataFrame())

    assert summary["pfof"]["filled_shares"] == 0
    assert summary["pfof"]["price_improvement_bps"] is None


def test_regime_summary_returns_plain_python_numbers(orders, fills):
    pfof = regime_summary(orders, fills)["pfof"]

    assert all(type(v) in (int, float) or v is None for v in pfof.values())
    assert type(pfof["orders"]) is int


def test_regime_summary_fill_for_unknown_order_raises(orders, fills):
    stray = fills.assign(order_id=fills["order_id"].replace("o1", "nope"))

    with pytest.raises(ValueError, match="unknown orders"):
        regime_summary(orders, stray)


def test_regime_summary_fill_regime_mismatch_raises(orders, fills):
    with pytest.raises(ValueError, match="regime"):
        regime_summary(orders, fills.assign(regime="auction"))


def test_regime_summary_unknown_side_raises(orders, fills):
    with pytest.raises(ValueError, match="side"):
        regime_summary(orders.assign(side="short"), fills)


def test_size_bucket_table_splits_by_notional_at_mid(orders, fills):
    table = size_bucket_table(orders, fills)
    pfof = table[table["regime"] == "pfof"].set_index("size_bucket")

    assert list(pfof.index) == ["<$2k", "$2k-$10k", "$10k-$50k", ">=$50k", "no NBBO"]
    assert pfof["orders"].tolist() == [3, 1, 1, 1, 1]  # o1 o3 o7 | o2 | o4 | o6 | o5
    assert pfof.loc["<$2k", "price_improvement_usd_per_share"] == pytest.approx(-0.005 / 3)
    assert pfof.loc["$2k-$10k", "fill_rate"] == pytest.approx(200 / 300)
    assert np.isnan(pfof.loc["$10k-$50k", "price_improvement_usd_per_share"])
    assert pfof.loc["no NBBO", "filled_shares"] == 100
    assert table["regime"].tolist()[-1] == "auction"


def test_size_bucket_table_exactly_2000_dollars_goes_to_upper_bucket():
    nbbo = (9_990_000, 10_010_000)  # mid exactly $10.00
    orders = make_orders(
        [
            order("b1", "buy", 199, 0, "open", 0, nbbo=nbbo),
            order("b2", "buy", 200, 0, "open", 0, nbbo=nbbo),
        ]
    )

    table = size_bucket_table(orders, make_fills([]))

    assert table["size_bucket"].tolist() == ["<$2k", "$2k-$10k"]


def test_routing_table_reports_order_share_and_net_pfof(orders, fills):
    table = routing_table(orders, fills).set_index(["regime", "destination"])

    citadel, virtu, nyse = (table.loc[("pfof", d)] for d in ("citadel", "virtu", "nyse"))
    assert (citadel["orders"], citadel["shares"]) == (2, 200)
    assert citadel["order_share"] == pytest.approx(0.4)  # o1, o2 of 5 orders with fills
    assert citadel["net_pfof_usd"] == pytest.approx(0.3)
    assert citadel["net_pfof_cents_per_100_shares"] == pytest.approx(15.0)
    assert virtu["net_pfof_cents_per_100_shares"] == pytest.approx(2.5)
    assert nyse["fees_usd"] == pytest.approx(0.0028)
    assert nyse["net_pfof_cents_per_100_shares"] == pytest.approx(-0.14)
    assert table.loc[("auction", "auction"), "order_share"] == pytest.approx(1.0)


def alternating_regime(regime: str, improvements: tuple[int, int], n: int) -> tuple[list, list]:
    """``n`` buy orders of 100 shares, PI alternating between the two values (micros/share)."""
    order_rows, fill_rows = [], []
    for i in range(n):
        order_id = f"{regime}-{i}"
        price = ASK - improvements[i % 2]
        order_rows.append(order(order_id, "buy", 100, 0, "filled", 100, regime=regime))
        fill_rows.append(fill(order_id, "buy", 100, price, 1, "w", regime=regime))
    return order_rows, fill_rows


def test_regime_difference_ci_covers_true_difference():
    a_orders, a_fills = alternating_regime("a", (0, 10_000), 200)
    b_orders, b_fills = alternating_regime("b", (10_000, 20_000), 200)
    orders, fills = make_orders(a_orders + b_orders), make_fills(a_fills + b_fills)

    result = regime_difference(fills, orders, "a", "b", n_boot=500, seed=7)

    assert result.difference == pytest.approx(0.01)
    assert result.ci_low < 0.01 < result.ci_high
    assert result.significant is True
    assert result.n_boot == 500


def test_regime_difference_identical_regimes_not_significant():
    a_orders, a_fills = alternating_regime("a", (0, 10_000), 50)
    b_orders, b_fills = alternating_regime("b", (0, 10_000), 50)
    orders, fills = make_orders(a_orders + b_orders), make_fills(a_fills + b_fills)

    result = regime_difference(fills, orders, "a", "b", metric="effective_spread_bps")

    assert result.difference == 0.0
    assert result.ci_low <= 0.0 <= result.ci_high
    assert result.significant is False


def test_regime_difference_same_seed_same_interval(orders, fills):
    first = regime_difference(fills, orders, "pfof", "auction", n_boot=200, seed=3)
    second = regime_difference(fills, orders, "pfof", "auction", n_boot=200, seed=3)

    assert first == second
    assert first.value_a == pytest.approx(0.001)
    assert first.value_b == pytest.approx(0.01)


def test_regime_difference_every_ratio_metric_matches_summary(orders, fills):
    summary = regime_summary(orders, fills)

    for metric in RATIO_METRICS:
        result = regime_difference(fills, orders, "pfof", "auction", metric=metric, n_boot=20)
        assert result.value_a == pytest.approx(summary["pfof"][metric])
        assert result.value_b == pytest.approx(summary["auction"][metric])


def test_regime_difference_unknown_metric_raises(orders, fills):
    with pytest.raises(ValueError, match="choose one of"):
        regime_difference(fills, orders, "pfof", "auction", metric="vibes")


def test_regime_difference_unknown_regime_raises(orders, fills):
    with pytest.raises(ValueError, match="no orders"):
        regime_difference(fills, orders, "pfof", "sor")


def test_regime_summary_locked_market_eq_ratio_none():
    nbbo = (BID, BID)  # locked: zero quoted spread, so E/Q is undefined
    orders = make_orders([order("l1", "buy", 100, 0, "filled", 100, nbbo=nbbo)])
    fills = make_fills([fill("l1", "buy", 100, BID, 1, "nyse")])

    summary = regime_summary(orders, fills)["pfof"]

    assert summary["quoted_spread_bps"] == 0.0
    assert summary["effective_spread_bps"] == 0.0
    assert summary["eq_ratio"] is None


def test_regime_summary_duplicate_order_id_raises(orders, fills):
    with pytest.raises(ValueError, match="duplicate"):
        regime_summary(pd.concat([orders, orders.head(1)]), fills)


def test_non_marketable_limit_fill_counts_for_fill_rate_not_price_metrics(orders, fills):
    # o8: a day buy limit at $9.95 (below the $10.00 bid: non-marketable) that rested and
    # filled at its own price 2 s later. Against the $10.02 ask at receipt that would be
    # $0.07 of "improvement"; Rule 605 keeps such orders out of the spread statistics.
    with_nmlo = make_orders([
        *sample_orders().itertuples(index=False),
        order("o8", "buy", 200, 8_000, "filled", 200, limit_price=9_950_000),
    ])  # fmt: skip
    with_fill = pd.concat(
        [fills, make_fills([fill("o8", "buy", 200, 9_950_000, 10_000, "nyse")])],
        ignore_index=True,
    )

    before = regime_summary(orders, fills)["pfof"]
    after = regime_summary(with_nmlo, with_fill)["pfof"]

    assert after["filled_shares"] == before["filled_shares"] + 200
    assert after["ordered_shares"] == before["ordered_shares"] + 200
    assert after["nbbo_filled_shares"] == before["nbbo_filled_shares"]
    for metric in ("price_improvement_usd_per_share", "effective_spread_bps", "eq_ratio"):
        assert after[metric] == pytest.approx(before[metric])
    assert after["share_orders_improved"] == pytest.approx(before["share_orders_improved"])
    # its 2,000 ms wait is in time to execution (6 orders with fills now, o8 the slowest)
    assert after["time_to_execution_ms_p50"] > before["time_to_execution_ms_p50"]
    by_type = order_type_table(with_nmlo, with_fill).set_index(["regime", "order_class"])
    nmlo = by_type.loc[("pfof", "non-marketable limit")]
    assert (nmlo["orders"], nmlo["filled_shares"], nmlo["nbbo_filled_shares"]) == (2, 200, 0)
    assert nmlo["time_to_execution_ms_mean"] == pytest.approx(2_000.0)
    assert np.isnan(nmlo["price_improvement_usd_per_share"])
