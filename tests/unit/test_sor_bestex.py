"""Spec tests for the per-parent best-execution report (built from tape entries)."""

from __future__ import annotations

import math

import pytest

from orchestration.bestex import bestex_table, format_bestex, parent_rows, sor_routes_table
from orchestration.runconfig import Endpoint, RunConfig
from orchestration.scenario import load_scenario, scenario_from_dict
from protocol.common import Liquidity, Side
from protocol.marketdata import NBBO
from protocol.orders import OrderFilled, OrderRouted, ParentCompleted, RouteQuote

T0 = 1_000_000_000_000
SCENARIO = scenario_from_dict(
    {
        "name": "t",
        "symbols": [{"symbol": "ACME", "price": "10.00"}],
        "venues": [{"name": "lit-a"}, {"name": "lit-b"}],
        "darkpools": [{"name": "dark-a"}],
    }
)
CONFIG = RunConfig(
    run_dir="/tmp/x",
    scenario=SCENARIO,
    control=Endpoint(bind="tcp://*:1", connect="tcp://h:1"),
    services=[],
)


def completed(
    order_id: str, strategy: str, cum: int, notional: int, fees: int = 0, qty: int = 1_000
) -> ParentCompleted:
    return ParentCompleted(
        order_id=order_id,
        symbol="ACME",
        side=Side.BUY,
        qty=qty,
        strategy=strategy,
        state="filled" if cum == qty else "canceled",
        cum_qty=cum,
        notional=notional,
        fees=fees,
        avg_price=notional // cum if cum else None,
        limit_price=None,
        arrival_bid=9_990_000,
        arrival_ask=10_010_000,
        recv_ns=T0,
        done_ns=T0 + 5_000_000,
        children=2,
        waves=1,
        lit_shown_qty=600,
        sender="sor",
    )


def routed(
    order_id: str, child_id: str, venue: str, qty: int, best: int, quotes: bool = False
) -> OrderRouted:
    shown = [
        RouteQuote(venue="lit-a", price=10_010_000, qty=600),
        RouteQuote(venue="dark-a", price=10_000_000, qty=400),
    ]
    return OrderRouted(
        order_id=order_id,
        child_id=child_id,
        destination=venue,
        qty=qty,
        reason="r",
        best_price=best,
        quotes=shown if quotes else [],
        sender="sor",
    )


def filled(order_id: str, child_id: str, qty: int, price: int) -> OrderFilled:
    return OrderFilled(
        order_id=order_id,
        symbol="ACME",
        side=Side.BUY,
        fill_qty=qty,
        fill_price=price,
        cum_qty=qty,
        leaves_qty=0,
        venue="lit-a",
        liquidity=Liquidity.TAKER,
        exec_id="x",
        exec_ns=T0,
        correlation_id=child_id,
    )


def entries() -> list[tuple[str, int, object]]:
    nbbo = NBBO(
        symbol="ACME",
        seq=1,
        bid_px=9_990_000,
        bid_qty=1,
        bid_venue="lit-a",
        ask_px=10_030_000,
        ask_qty=1,
        ask_venue="lit-a",
        ts_ns=T0 + 50_000_000,
    )
    return [
        ("sor", 0, routed("p1", "p1/1", "dark-a", 400, 10_000_000, quotes=True)),
        ("sor", 0, routed("p1", "p1/2", "lit-a", 600, 10_000_000)),
        ("sor", 0, filled("p1", "p1/1", 400, 10_000_000)),
        ("sor", 0, filled("p1", "p1/2", 600, 10_010_000)),
        ("dark-a", 0, filled("p1/1", "", 400, 10_000_000)),
        ("lit-a", 0, filled("p1/2", "", 600, 10_010_000)),
        ("lit-b", 0, filled("p1/9", "", 100, 10_010_000)),  # not one of p1's children
        ("sip", 0, nbbo),
        (
            "sor",
            0,
            completed("p1", "optimal", 1_000, 400 * 10_000_000 + 600 * 10_010_000, fees=1_800),
        ),
        ("sor", 0, routed("p2", "p2/3", "lit-a", 1_000, 10_010_000, quotes=True)),
        ("lit-a", 0, filled("p2/3", "", 700, 10_010_000)),  # 100 more than the parent counted
        ("sor", 0, completed("p2", "direct:lit-a", 600, 600 * 10_010_000)),
    ]


def test_bestex_table_one_row_per_parent_with_exact_prices() -> None:
    table = bestex_table(entries(), CONFIG)
    p1 = table.iloc[0]

    assert list(table["order_id"]) == ["p1", "p2"]  # baselines last
    assert (p1["vwap"], p1["all_in_vwap"], p1["fill_rate"]) == (10_006_000, 10_006_002, 1.0)
    assert p1["arrival_mid"] == 10_000_000
    assert p1["shortfall_bps"] == pytest.approx(6.0)
    assert p1["vs_best_bps"] == pytest.approx(600 * 10_000 / 10_000_000 / 1_000 * 1e4)
    assert p1["time_to_completion_ms"] == 5.0
    assert p1["detection_prob"] == pytest.approx(1 - math.exp(-1))
    assert p1["late_fill_qty"] == 0


def test_bestex_table_opportunity_cost_at_far_touch_after_parent_ends() -> None:
    p2 = bestex_table(entries(), CONFIG).iloc[1]

    # 600 at +10,000 over the arrival mid; 400 unfilled at the later ask, +30,000 over it.
    assert p2["total_shortfall_bps"] == pytest.approx(
        (600 * 10_000 + 400 * 30_000) / (1_000 * 10_000_000) * 1e4
    )
    assert p2["late_fill_qty"] == 100


def test_bestex_table_compares_with_best_single_venue_baseline() -> None:
    table = bestex_table(entries(), CONFIG)

    assert list(table["best_baseline"]) == ["direct:lit-a", "direct:lit-a"]
    p1_total = (6_000_000 + 1_800) / (1_000 * 10_000_000) * 1e4  # shortfall plus fees, bps
    assert table.iloc[0]["vs_baseline_bps"] == pytest.approx(p1_total - 18.0)
    assert table.iloc[1]["vs_baseline_bps"] == 0


def test_format_bestex_one_markdown_line_per_parent() -> None:
    text = format_bestex(bestex_table(entries(), CONFIG))
    lines = text.splitlines()

    assert len(lines) == 4 and lines[0].startswith("| strategy |")
    assert "| optimal | ACME | 1,000 / 1,000 | 100.0% | $10.0060 |" in lines[2]


def test_parent_rows_one_symbol_each_when_enough_symbols_else_sequential() -> None:
    book = load_scenario("scenarios/sor-book.toml")
    parallel = parent_rows(
        book, ["greedy", "optimal"], qty=100, side="buy", symbol=None, limit_offset_bps=None
    )
    sequential = parent_rows(
        SCENARIO, ["greedy", "optimal"], qty=100, side="buy", symbol=None, limit_offset_bps=5.0
    )

    assert [[r["symbol"] for r in batch] for batch in parallel] == [["BOOK1", "BOOK2"]]
    assert [[r["symbol"] for r in batch] for batch in sequential] == [["ACME"], ["ACME"]]
    assert sequential[0][0]["order_type"] == "limit" and sequential[0][0]["strategy"] == "greedy"


def test_sor_routes_table_fills_on_the_sending_row_against_best_price() -> None:
    routes = sor_routes_table(entries(), CONFIG)
    first = routes.iloc[0]

    assert list(routes["child_id"]) == ["p1/1", "p1/2", "p2/3"]
    assert (first["filled_qty"], first["fill_vwap"], first["vs_best_bps"]) == (400, 10_000_000, 0)
    assert routes.iloc[1]["vs_best_bps"] == pytest.approx(10.0)
    assert first["quotes_seen"] == "lit-a:600@10010000 dark-a:400@10000000"
