"""Rule 605 as amended in 2024, on a tape worked by hand (every expected figure below is
arithmetic on the numbers in this docstring, not output of the code under test).

NBBO of XYZ on the tape (ms: bid (size) x ask (size), mid):
    0: 20.00 (300) x 20.04 (200), mid 20.02, quoted 0.04
    2,000: 19.98 x 20.02, mid 20.00
    20,000: 20.01 x 20.05, mid 20.03
    70,000: 20.00 x 20.04, mid 20.02 (the last update: the run's end)
Every order is received at 10 ms with the NBBO 20.00 x 20.04 (a round lot is 100 shares at $20):
    b1 buy market 500: 200 @ 20.03 at 12 ms (improved 0.01), 200 @ 20.05 at 15 ms (0.01 outside
       the quote), 100 canceled. Notional 500 x 20.02 = $10,010: round lot, $10k-$20k.
    s1 sell market 400: 400 @ 20.00 at 11 ms (at the quote). $8,008: round lot, $5k-$10k.
    o1 buy market 40: 40 @ 20.02 at 13 ms (improved 0.02). $800.80: odd lot, $250-$1k.
    f1 buy market 0.5: 0.5 @ 20.03 at 14 ms (improved 0.01). $10.01: fractional, <$250.
    m1 buy limit 20.04 IOC 100: 60 @ 20.03 at 11 ms, 40 canceled: marketable IOC, $1k-$5k.
    d1 buy limit 20.03 day 100 (at or above the mid 20.02, below the ask): midpoint-or-better;
       100 @ 20.03 at 500 ms (490 ms after receipt).
    n1 sell limit 20.05 day 100: above the ask, not executable until the ask reaches 20.05 at
       20,000 ms; 100 @ 20.05 at 20,300 ms (300 ms after it became executable).
    n2 buy limit 19.90 day 100: the bid never falls to 19.90: never executable, not covered.
    x1 buy market 100 received with no NBBO: not covered.
Realized spread 2 x D x (price - mid h later): b1's fills at 12 / 15 ms see mid 20.02 at 50 ms and
1 s, 20.00 at 15 s, 20.03 at 1 min; 5 min ends after the run.
"""

from __future__ import annotations

import pandas as pd
import pytest

from orchestration.rule605 import not_covered_table, rule605_orders, rule605_table
from orchestration.rule605_orders import round_lot
from orchestration.rule605_summary import rule605_summary_table

MS = 1_000_000
USD = 1_000_000
T0 = 1_796_000_000_000_000_000  # 2026-11-30 (UTC); + 10 ms for receipt


def usd(dollars: float) -> int:
    return round(dollars * USD)


def make_nbbo() -> pd.DataFrame:
    rows = [
        (0, 20.00, 300, 20.04, 200),
        (2_000, 19.98, 100, 20.02, 100),
        (20_000, 20.01, 100, 20.05, 100),
        (70_000, 20.00, 100, 20.04, 100),
    ]
    return pd.DataFrame(
        {
            "symbol": "XYZ",
            "ts_ns": [T0 + ms * MS for ms, *_ in rows],
            "bid_px": pd.array([usd(r[1]) for r in rows], dtype="Int64"),
            "bid_qty": [r[2] for r in rows],
            "ask_px": pd.array([usd(r[3]) for r in rows], dtype="Int64"),
            "ask_qty": [r[4] for r in rows],
        }
    )


def make_orders() -> pd.DataFrame:
    # id, side, qty, type, limit, tif, status, nbbo
    rows = [
        ("b1", "buy", 500, "market", None, "day", "canceled", True),
        ("s1", "sell", 400, "market", None, "day", "filled", True),
        ("o1", "buy", 40, "market", None, "day", "filled", True),
        ("f1", "buy", 0.5, "market", None, "day", "filled", True),
        ("m1", "buy", 100, "limit", 20.04, "ioc", "canceled", True),
        ("d1", "buy", 100, "limit", 20.03, "day", "filled", True),
        ("n1", "sell", 100, "limit", 20.05, "day", "filled", True),
        ("n2", "buy", 100, "limit", 19.90, "day", "canceled", True),
        ("x1", "buy", 100, "market", None, "day", "filled", False),
    ]
    return pd.DataFrame(
        {
            "order_id": [r[0] for r in rows],
            "regime": "pfof",
            "symbol": "XYZ",
            "side": [r[1] for r in rows],
            "qty": [float(r[2]) for r in rows],
            "order_type": [r[3] for r in rows],
            "limit_price": pd.array([None if r[4] is None else usd(r[4]) for r in rows], "Int64"),
            "tif": [r[5] for r in rows],
            "recv_ns": T0 + 10 * MS,
            "nbbo_bid": pd.array([usd(20.00) if r[7] else None for r in rows], dtype="Int64"),
            "nbbo_ask": pd.array([usd(20.04) if r[7] else None for r in rows], dtype="Int64"),
            "status": [r[6] for r in rows],
            "terminal_ns": pd.array([T0 + 60_000 * MS] * len(rows), dtype="Int64"),
        }
    )


def make_fills() -> pd.DataFrame:
    rows = [
        ("b1", "buy", 200, 20.03, 12),
        ("b1", "buy", 200, 20.05, 15),
        ("s1", "sell", 400, 20.00, 11),
        ("o1", "buy", 40, 20.02, 13),
        ("f1", "buy", 0.5, 20.03, 14),
        ("m1", "buy", 60, 20.03, 11),
        ("d1", "buy", 100, 20.03, 500),
        ("n1", "sell", 100, 20.05, 20_300),
        ("x1", "buy", 100, 20.04, 12),
    ]
    return pd.DataFrame(
        {
            "order_id": [r[0] for r in rows],
            "regime": "pfof",
            "symbol": "XYZ",
            "side": [r[1] for r in rows],
            "qty": [float(r[2]) for r in rows],
            "price": [usd(r[3]) for r in rows],
            "exec_ns": [T0 + r[4] * MS for r in rows],
        }
    )


@pytest.fixture
def per_order() -> pd.DataFrame:
    return rule605_orders(make_orders(), make_fills(), make_nbbo())


@pytest.fixture
def detail(per_order: pd.DataFrame) -> pd.DataFrame:
    return rule605_table(per_order).set_index(["order_type", "lot_class", "size_bucket"])


def test_round_lot_follows_the_2024_price_tiers():
    assert [round_lot(usd(p)) for p in (20, 250, 250.01, 1_000, 1_000.01, 10_000.01)] == [
        100,
        100,
        40,
        40,
        10,
        1,
    ]


def test_rule605_orders_not_executable_or_without_nbbo_are_not_covered(per_order):
    covered = per_order[per_order["order_type"].notna()]
    assert set(covered["order_id"]) == {"b1", "s1", "o1", "f1", "m1", "d1", "n1"}
    assert not_covered_table(per_order).values.tolist() == [
        ["pfof", "non-marketable limit never executable", 1],
        ["pfof", "no NBBO at receipt", 1],
    ]


def test_rule605_categories_by_type_lot_and_notional(detail):
    assert set(detail.index) == {
        ("market", "round lot", "$10k-$20k"),
        ("market", "round lot", "$5k-$10k"),
        ("market", "odd lot", "$250-$1k"),
        ("market", "fractional", "<$250"),
        ("marketable IOC", "round lot", "$1k-$5k"),
        ("midpoint-or-better limit", "round lot", "$1k-$5k"),
        ("executable non-marketable limit", "round lot", "$1k-$5k"),
    }


def test_rule605_buy_partially_filled_splits_improvement_from_disimprovement(detail):
    b1 = detail.loc[("market", "round lot", "$10k-$20k")]

    assert (b1["covered_shares"], b1["executed_shares"], b1["canceled_shares"]) == (500, 400, 100)
    assert b1["improved_shares"] == 200 and b1["improvement_usd_per_share"] == pytest.approx(0.01)
    assert b1["improved_time_ms"] == pytest.approx(2.0)
    assert b1["outside_quote_shares"] == 200
    assert b1["outside_quote_usd_per_share"] == pytest.approx(0.01)
    assert b1["outside_quote_time_ms"] == pytest.approx(5.0)
    # share-weighted: (200 x 2 ms + 200 x 5 ms) / 400
    assert b1["avg_time_to_execution_ms"] == pytest.approx(3.5)
    assert b1["shares_executed_1ms-10ms"] == 400
    # effective 2 x (20.03 - 20.02) = 0.02 and 2 x (20.05 - 20.02) = 0.06; quoted 0.04
    assert b1["avg_effective_spread_usd"] == pytest.approx(0.04)
    assert b1["eq_ratio"] == pytest.approx(1.0)
    assert b1["avg_effective_spread_bps"] == pytest.approx(0.04 / 20.02 * 1e4)


def test_rule605_buy_realized_spread_at_each_horizon(detail):
    b1 = detail.loc[("market", "round lot", "$10k-$20k")]

    assert b1["realized_spread_usd_50ms"] == pytest.approx(0.04)
    assert b1["realized_spread_usd_1s"] == pytest.approx(0.04)
    assert b1["realized_spread_usd_15s"] == pytest.approx((200 * 0.06 + 200 * 0.10) / 400)
    assert b1["realized_spread_usd_1min"] == pytest.approx((200 * 0.00 + 200 * 0.04) / 400)
    assert pd.isna(b1["realized_spread_usd_5min"])
    assert b1["realized_spread_note_5min"].startswith("unavailable")
    assert b1["realized_spread_note_1min"] == ""


def test_rule605_sell_at_the_quote_with_size_improvement(detail):
    s1 = detail.loc[("market", "round lot", "$5k-$10k")]

    assert s1["at_quote_shares"] == 400 and s1["at_quote_time_ms"] == pytest.approx(1.0)
    assert s1["improved_shares"] == 0 and s1["outside_quote_shares"] == 0
    # sell: -2 x (20.00 - 20.02) = 0.04, the whole quoted spread
    assert s1["avg_effective_spread_usd"] == pytest.approx(0.04)
    # 300 shown at the bid at receipt; 400 executed at the bid
    assert s1["size_benchmark_shares"] == 300 and s1["size_improved_shares"] == 100
    # realized 2 x (mid h later - 20.00): 0.04 at 1 s, 0 at 15 s, 0.06 at 1 min
    assert s1["realized_spread_usd_1s"] == pytest.approx(0.04)
    assert s1["realized_spread_usd_15s"] == pytest.approx(0.0)
    assert s1["realized_spread_usd_1min"] == pytest.approx(0.06)


def test_rule605_odd_lot_and_fractional_orders(detail):
    odd = detail.loc[("market", "odd lot", "$250-$1k")]
    fractional = detail.loc[("market", "fractional", "<$250")]

    assert odd["improvement_usd_per_share"] == pytest.approx(0.02)
    assert odd["avg_effective_spread_usd"] == pytest.approx(0.0)
    assert fractional["executed_shares"] == pytest.approx(0.5)
    assert fractional["notional_usd"] == pytest.approx(0.5 * 20.02)
    assert fractional["avg_time_to_execution_ms"] == pytest.approx(4.0)


def test_rule605_marketable_ioc_partial_fill_counts_canceled_shares(detail):
    m1 = detail.loc[("marketable IOC", "round lot", "$1k-$5k")]

    assert (m1["executed_shares"], m1["canceled_shares"]) == (60, 40)
    assert m1["improvement_usd_per_share"] == pytest.approx(0.01)
    assert m1["filled_orders"] == 0


def test_rule605_non_marketable_limit_timed_from_when_it_became_executable(detail):
    n1 = detail.loc[("executable non-marketable limit", "round lot", "$1k-$5k")]
    d1 = detail.loc[("midpoint-or-better limit", "round lot", "$1k-$5k")]

    assert n1["avg_time_to_execution_ms"] == pytest.approx(300.0)
    assert n1["shares_executed_10ms-1s"] == 100
    assert d1["avg_time_to_execution_ms"] == pytest.approx(490.0)
    # no price statistics for resting limit orders
    assert pd.isna(n1["avg_effective_spread_usd"]) and pd.isna(d1["eq_ratio"])
    assert n1["realized_spread_note_1s"].startswith("n/a")


def test_rule605_summary_aggregates_market_orders_under_200k(per_order):
    summary = rule605_summary_table(per_order, frozenset({"XYZ"}))
    row = summary.set_index(["order_type", "size_bucket"]).loc[("market", "<$200k (all)")]

    executed = 400 + 400 + 40 + 0.5  # b1, s1, o1, f1
    mid_x_shares = 20.02 * executed
    assert row["stock_class"] == "S&P 500"
    assert row["covered_orders"] == 4
    assert row["avg_order_shares"] == pytest.approx((500 + 400 + 40 + 0.5) / 4)
    assert row["at_quote_or_better_share"] == pytest.approx((200 + 400 + 40 + 0.5) / executed)
    assert row["price_improved_share"] == pytest.approx((200 + 40 + 0.5) / executed)
    improvement = 200 * 0.01 - 200 * 0.01 + 40 * 0.02 + 0.5 * 0.01
    assert row["weighted_avg_price_improvement_bps"] == pytest.approx(
        improvement / mid_x_shares * 1e4
    )
    effective = 200 * 0.02 + 200 * 0.06 + 400 * 0.04 + 40 * 0.0 + 0.5 * 0.02
    assert row["avg_effective_spread_bps"] == pytest.approx(effective / mid_x_shares * 1e4)
    assert row["eq_ratio"] == pytest.approx(effective / (0.04 * executed))
    tte = 200 * 2 + 200 * 5 + 400 * 1 + 40 * 3 + 0.5 * 4
    assert row["avg_time_to_execution_ms"] == pytest.approx(tte / executed)
    # 15 s after: mid 20.00 for every fill
    realized = 200 * 0.06 + 200 * 0.10 + 0 + 40 * 0.04 + 0.5 * 0.06
    assert row["realized_spread_bps_15s"] == pytest.approx(realized / mid_x_shares * 1e4)


def test_rule605_summary_leaves_out_limit_orders_other_than_marketable(per_order):
    summary = rule605_summary_table(per_order, frozenset())

    assert set(summary["order_type"]) == {"market"}  # m1 is IOC: not in the summary's types
    assert set(summary["stock_class"]) == {"other NMS stocks"}


def test_rule605_pooled_runs_join_each_run_to_its_own_nbbo():
    # two replications of the same tape (`run` column, ids prefixed as the pooled tables are),
    # the second an hour later: run r1 still ends at 70 s, so its 5 min horizon stays unavailable
    # (joined across runs, r2's quotes would mark it)
    runs = []
    for label, shift in (("r1", 0), ("r2", 3_600_000 * MS)):
        orders, fills, nbbo = make_orders(), make_fills(), make_nbbo()
        for frame, column in ((orders, "recv_ns"), (fills, "exec_ns"), (nbbo, "ts_ns")):
            frame[column] += shift
            frame.insert(0, "run", label)
        orders["terminal_ns"] += shift
        for frame in (orders, fills):
            frame["order_id"] = label + ":" + frame["order_id"]
        runs.append((orders, fills, nbbo))
    pooled = [pd.concat([r[i] for r in runs], ignore_index=True) for i in range(3)]

    detail = rule605_table(rule605_orders(*pooled))

    n1 = detail[detail["order_type"] == "executable non-marketable limit"]
    assert n1["covered_orders"].sum() == 2
    b1 = detail.set_index("size_bucket").loc["$10k-$20k"]
    assert b1["covered_orders"] == 2
    assert b1["realized_spread_usd_1min"] == pytest.approx(0.02)
    assert pd.isna(b1["realized_spread_usd_5min"])
