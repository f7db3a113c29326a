"""Amended Rule 605's columns relative to the best available displayed price (odd lots
included), on a tape worked by hand: every expected figure is arithmetic on this docstring.

XYZ at $20 (a round lot is 100 shares). Both orders are received at 10 ms with the round-lot
NBBO 20.00 x 20.04 and, inside it, odd-lot quotations of 50 shares: a bid at 20.01 and an offer
at 20.02. The best available displayed price is therefore 20.02 for a buy, 20.01 for a sell.

    b1 buy market 300 ($6,006 notional: round lot, $5k-$10k):
        100 @ 20.01 at 11 ms: NBBO-improved 0.03; improved 0.01 vs the best displayed offer
        100 @ 20.02 at 12 ms: NBBO-improved 0.02; at the best displayed offer
        100 @ 20.03 at 13 ms: NBBO-improved 0.01; 0.01 outside the best displayed offer
    s1 sell market 200 ($4,004: round lot, $1k-$5k):
        100 @ 20.01 at 14 ms: NBBO-improved 0.01; at the best displayed bid
        100 @ 20.00 at 15 ms: at the NBBO bid; 0.01 outside the best displayed bid

Against the NBBO b1 is 300 shares improved by 0.02 on average, s1 100 improved and 100 at the
quote; against the best displayed price b1 is 100 improved (0.01, 1 ms), 100 at (2 ms), 100
outside (0.01, 3 ms); s1 none improved, 100 at (4 ms), 100 outside (0.01, 5 ms).
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from orchestration.rule605 import rule605_orders, rule605_table

MS = 1_000_000
T0 = 1_796_000_000_000_000_000  # 2026-11-30 (UTC)


def usd(dollars: float) -> int:
    return round(dollars * 1_000_000)


def make_orders(with_best: bool = True) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "order_id": ["b1", "s1"],
            "regime": "pfof",
            "symbol": "XYZ",
            "side": ["buy", "sell"],
            "qty": [300.0, 200.0],
            "order_type": "market",
            "limit_price": pd.array([None, None], dtype="Int64"),
            "tif": "day",
            "recv_ns": T0 + 10 * MS,
            "nbbo_bid": pd.array([usd(20.00)] * 2, dtype="Int64"),
            "nbbo_ask": pd.array([usd(20.04)] * 2, dtype="Int64"),
            "status": "filled",
            "terminal_ns": pd.array([T0 + 20 * MS] * 2, dtype="Int64"),
        }
    )
    if with_best:
        frame["best_bid"] = pd.array([usd(20.01)] * 2, dtype="Int64")
        frame["best_ask"] = pd.array([usd(20.02)] * 2, dtype="Int64")
    return frame


def make_fills() -> pd.DataFrame:
    rows = [
        ("b1", "buy", 20.01, 11),
        ("b1", "buy", 20.02, 12),
        ("b1", "buy", 20.03, 13),
        ("s1", "sell", 20.01, 14),
        ("s1", "sell", 20.00, 15),
    ]
    return pd.DataFrame(
        {
            "order_id": [r[0] for r in rows],
            "regime": "pfof",
            "symbol": "XYZ",
            "side": [r[1] for r in rows],
            "qty": 100.0,
            "price": [usd(r[2]) for r in rows],
            "exec_ns": [T0 + r[3] * MS for r in rows],
        }
    )


@pytest.fixture
def rows() -> dict[str, pd.Series]:
    table = rule605_table(rule605_orders(make_orders(), make_fills(), None))
    return {
        "buy": table.set_index("size_bucket").loc["$5k-$10k"],
        "sell": table.set_index("size_bucket").loc["$1k-$5k"],
    }


def test_rule605_best_displayed_buy_nbbo_improved_fills_split_by_the_odd_lot_offer(rows):
    buy = rows["buy"]

    # against the round-lot NBBO every share is improved, by (0.03 + 0.02 + 0.01) / 3
    assert (buy["improved_shares"], buy["at_quote_shares"], buy["outside_quote_shares"]) == (
        300,
        0,
        0,
    )
    assert buy["improvement_usd_per_share"] == pytest.approx(0.02)
    # against the best displayed offer 20.02: one lot better, one at, one outside
    assert buy["best_priced_shares"] == 300
    assert (buy["improved_vs_best_shares"], buy["at_best_shares"]) == (100, 100)
    assert buy["outside_best_shares"] == 100
    assert buy["improvement_vs_best_usd_per_share"] == pytest.approx(0.01)
    assert buy["outside_best_usd_per_share"] == pytest.approx(0.01)
    assert (buy["improved_vs_best_time_ms"], buy["at_best_time_ms"]) == pytest.approx((1, 2))
    assert buy["outside_best_time_ms"] == pytest.approx(3)


def test_rule605_best_displayed_sell_improved_fill_is_only_at_the_odd_lot_bid(rows):
    sell = rows["sell"]

    assert (sell["improved_shares"], sell["at_quote_shares"]) == (100, 100)
    assert (sell["improved_vs_best_shares"], sell["at_best_shares"]) == (0, 100)
    assert sell["outside_best_shares"] == 100
    assert math.isnan(sell["improvement_vs_best_usd_per_share"])
    assert sell["outside_best_usd_per_share"] == pytest.approx(0.01)
    assert (sell["at_best_time_ms"], sell["outside_best_time_ms"]) == pytest.approx((4, 5))


def test_rule605_best_displayed_unknown_on_an_older_tape_is_null_not_zero():
    table = rule605_table(rule605_orders(make_orders(with_best=False), make_fills(), None))

    assert table["best_priced_shares"].tolist() == [0, 0]
    for column in ("improved_vs_best_shares", "at_best_shares", "outside_best_shares"):
        assert table[column].isna().all(), column
    # the NBBO columns do not depend on it
    assert sorted(table["improved_shares"]) == [100, 300]
