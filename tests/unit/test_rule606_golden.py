"""Rule 606(a)(1) on a tape worked by hand. Regime "pfof"; NBBO at receipt 10.00 x 10.02.

November 2026:
    a1 ACME buy market 100        -> wh-a, 100 filled, PFOF $0.30
    a2 ACME sell limit 10.00 200  -> wh-a (marketable), 200 filled, PFOF $0.60
    a3 ZED buy limit 9.90 100     -> wh-b (declined), then lit-a: 100 filled, rebate $0.20
    a4 ZED buy limit 9.95 100, no NBBO at receipt ("other") -> sor: 100 filled, fee $0.30
December 2026:
    a5 ACME buy market 300        -> wh-b, 300 filled, PFOF $0.90
ACME is in the S&P 500, ZED is not.
"""

from __future__ import annotations

import pandas as pd
import pytest

from config.scenario import load_scenario
from orchestration.rule606 import (
    Arrangements,
    arrangements_from_scenario,
    material_aspects,
    rule606_tables,
)

NOV = pd.Timestamp("2026-11-10", tz="UTC").value
DEC = pd.Timestamp("2026-12-03", tz="UTC").value
BID, ASK = 10_000_000, 10_020_000
SP500 = frozenset({"ACME"})


def make_orders() -> pd.DataFrame:
    rows = [  # id, symbol, side, qty, type, limit, recv, has NBBO
        ("a1", "ACME", "buy", 100, "market", None, NOV, True),
        ("a2", "ACME", "sell", 200, "limit", 10_000_000, NOV, True),
        ("a3", "ZED", "buy", 100, "limit", 9_900_000, NOV, True),
        ("a4", "ZED", "buy", 100, "limit", 9_950_000, NOV, False),
        ("a5", "ACME", "buy", 300, "market", None, DEC, True),
    ]
    return pd.DataFrame(
        {
            "order_id": [r[0] for r in rows],
            "regime": "pfof",
            "symbol": [r[1] for r in rows],
            "side": [r[2] for r in rows],
            "qty": [r[3] for r in rows],
            "order_type": [r[4] for r in rows],
            "limit_price": pd.array([r[5] for r in rows], dtype="Int64"),
            "recv_ns": [r[6] for r in rows],
            "nbbo_bid": pd.array([BID if r[7] else None for r in rows], dtype="Int64"),
            "nbbo_ask": pd.array([ASK if r[7] else None for r in rows], dtype="Int64"),
            "status": "filled",
            "filled_qty": [r[3] for r in rows],
        }
    )


def make_fills() -> pd.DataFrame:
    rows = [  # id, side, qty, price, destination, route, fee, pfof (micro-dollars)
        ("a1", "buy", 100, 10_010_000, "wh-a", "wh-a", 0, 300_000),
        ("a2", "sell", 200, 10_010_000, "wh-a", "wh-a", 0, 600_000),
        ("a3", "buy", 100, 9_900_000, "lit-a", "lit-a", -200_000, 0),
        ("a4", "buy", 100, 9_950_000, "lit-b", "sor", 300_000, 0),
        ("a5", "buy", 300, 10_010_000, "wh-b", "wh-b", 0, 900_000),
    ]
    orders = make_orders().set_index("order_id")
    return pd.DataFrame(
        {
            "order_id": [r[0] for r in rows],
            "regime": "pfof",
            "symbol": [orders.loc[r[0], "symbol"] for r in rows],
            "side": [r[1] for r in rows],
            "qty": [r[2] for r in rows],
            "price": [r[3] for r in rows],
            "exec_ns": [orders.loc[r[0], "recv_ns"] + 1_000_000 for r in rows],
            "destination": [r[4] for r in rows],
            "route": [r[5] for r in rows],
            "fee": [r[6] for r in rows],
            "pfof": [r[7] for r in rows],
        }
    )


def make_routes() -> pd.DataFrame:
    pairs = [("a1", "wh-a"), ("a2", "wh-a"), ("a3", "wh-b"), ("a3", "lit-a"), ("a4", "sor")]
    pairs += [("a5", "wh-b"), ("a4~1", "lit-b")]  # the SOR's child route is not the broker's
    return pd.DataFrame(pairs, columns=["order_id", "destination"])


@pytest.fixture
def tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    return rule606_tables(make_orders(), make_fills(), make_routes(), Arrangements(sp500=SP500))


def test_rule606_orders_by_month_class_and_type(tables):
    header = tables[0].set_index(["month", "stock_class"])

    november_sp500 = header.loc[("2026-11", "S&P 500")]
    assert november_sp500["orders"] == 2
    assert november_sp500["market_share"] == 0.5 and november_sp500["marketable_limit_share"] == 0.5
    november_other = header.loc[("2026-11", "other NMS stocks")]
    assert november_other["non_marketable_limit_share"] == 0.5
    assert november_other["other_share"] == 0.5
    assert header.loc[("2026-12", "S&P 500"), "market_share"] == 1.0
    assert (header["non_directed_share"] == 1.0).all()
    assert set(header["quarter"]) == {"2026Q4"}


def test_rule606_venue_net_payment_per_100_shares_and_per_order(tables):
    venues = tables[1].set_index(["month", "stock_class", "destination", "order_type"])

    wh_a = venues.loc[("2026-11", "S&P 500", "wh-a", "all")]
    assert wh_a["routed_orders"] == 2 and wh_a["order_share"] == 1.0
    assert wh_a["net_payment_usd"] == pytest.approx(0.90)
    assert wh_a["net_payment_cents_per_100_shares"] == pytest.approx(90 / 300 * 100)
    assert wh_a["net_payment_usd_per_order"] == pytest.approx(0.45)
    market = venues.loc[("2026-11", "S&P 500", "wh-a", "market")]
    assert market["net_payment_cents_per_100_shares"] == pytest.approx(30.0)


def test_rule606_rebates_count_as_received_and_fees_as_paid(tables):
    venues = tables[1].set_index(["month", "stock_class", "destination", "order_type"])

    lit = venues.loc[("2026-11", "other NMS stocks", "lit-a", "non-marketable limit")]
    assert lit["net_payment_usd"] == pytest.approx(0.20)
    sor = venues.loc[("2026-11", "other NMS stocks", "sor", "other")]
    assert sor["fees_usd"] == pytest.approx(0.30)
    assert sor["net_payment_cents_per_100_shares"] == pytest.approx(-30.0)
    declined = venues.loc[("2026-11", "other NMS stocks", "wh-b", "non-marketable limit")]
    assert declined["routed_orders"] == 1 and declined["filled_shares"] == 0
    assert "lit-b" not in set(tables[1]["destination"])


def test_rule606_material_aspects_name_the_scenario_terms():
    scenario = load_scenario()
    arrangements = arrangements_from_scenario(scenario)
    _, venues = rule606_tables(make_orders(), make_fills(), make_routes(), arrangements)

    aspects = material_aspects(venues, arrangements)["pfof"]

    wh_a = next(w for w in scenario.wholesalers if w.name == "wh-a")
    assert f"${wh_a.pfof_per_share}/share" in aspects["wh-a"]
    assert "net payment to the broker $0.90" in aspects["wh-a"]
    assert "taker fee" in aspects["lit-a"]
