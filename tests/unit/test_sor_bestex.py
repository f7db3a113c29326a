"""Spec tests for the per-parent best-execution report (built from tape entries)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from config.runconfig import Endpoint, RunConfig
from config.scenario import load_scenario, scenario_from_dict
from orchestration.bestex import (
    add_baselines,
    bestex_rounds,
    bestex_table,
    format_bestex,
    format_rounds,
    parent_rows,
    round_of,
    sor_routes_table,
)
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


def test_parent_rows_rounds_are_blocks_in_seeded_random_order() -> None:
    names = ["greedy", "optimal", "twap", "direct:lit-a"]
    batches = parent_rows(
        SCENARIO, names, qty=100, side="buy", symbol=None, limit_offset_bps=None, rounds=4, seed=7
    )
    again = parent_rows(
        SCENARIO, names, qty=100, side="buy", symbol=None, limit_offset_bps=None, rounds=4, seed=7
    )

    assert batches == again  # seeded
    assert all(len(batch) == 1 for batch in batches) and len(batches) == 16
    rounds = [[b[0] for b in batches[i * 4 : (i + 1) * 4]] for i in range(4)]
    for r, block in enumerate(rounds, start=1):
        assert sorted(row["strategy"] for row in block) == sorted(names)  # each once a round
        assert {round_of(str(row["order_id"])) for row in block} == {r}
    assert [row["strategy"] for row in rounds[0]] == names  # round 1 in the given order
    orders = {tuple(row["strategy"] for row in block) for block in rounds}
    assert len(orders) > 1  # later rounds reshuffle


def test_parent_rows_parallel_rounds_take_fresh_symbols() -> None:
    book = load_scenario("scenarios/sor-book.toml")
    batches = parent_rows(
        book, ["greedy", "optimal"], qty=100, side="buy", symbol=None, limit_offset_bps=None,
        rounds=2,
    )  # fmt: skip

    assert [[(r["strategy"], r["symbol"]) for r in b] for b in batches] == [
        [("greedy", "BOOK1"), ("optimal", "BOOK2")],
        [("greedy", "BOOK3"), ("optimal", "BOOK4")],  # fresh books: round 1 consumed its own
    ]


def test_round_of_parses_flowlab_sor_ids_only() -> None:
    assert [round_of(i) for i in ("sor-r3-2", "sor-r12-1", "p1", "sor-rx-1", "R000001")] == [
        3,
        12,
        1,
        1,
        1,
    ]


def _round_frame(diffs: dict[str, list[float]]) -> pd.DataFrame:
    rows = []
    for strategy, values in diffs.items():
        for r, value in enumerate(values, start=1):
            rows.append(
                {
                    "strategy": strategy,
                    "round": r,
                    "fill_rate": 0.5,
                    "filled_qty": 50,
                    "total_shortfall_bps": 10.0 + value,
                    "vs_baseline_bps": value,
                }
            )
    return pd.DataFrame(rows)


def test_bestex_rounds_mean_and_bootstrap_interval_over_rounds() -> None:
    summary = bestex_rounds(
        _round_frame({"optimal": [-2.0, -1.5, -2.5, -1.8, -2.2], "greedy": [1.0, -1.0, 0.5, -0.5]}),
        seed=1,
    ).set_index("strategy")

    optimal, greedy = summary.loc["optimal"], summary.loc["greedy"]
    assert optimal["rounds"] == 5 and optimal["vs_baseline_bps_mean"] == pytest.approx(-2.0)
    assert optimal["ci_low"] < -2.0 < optimal["ci_high"] < 0 and optimal["significant"]
    assert greedy["vs_baseline_bps_mean"] == pytest.approx(0.0)
    assert greedy["ci_low"] < 0 < greedy["ci_high"] and not greedy["significant"]
    # the interval never leaves the range of the per-round differences
    assert optimal["ci_low"] >= -2.5 and optimal["ci_high"] <= -1.5


def test_bestex_rounds_single_round_has_no_interval() -> None:
    summary = bestex_rounds(_round_frame({"optimal": [-2.0]}))

    assert summary.iloc[0]["ci_low"] is None and summary.iloc[0]["significant"] is None
    assert "| optimal | 1 | 50.0% | 8.00 | -2.00 | - | - |" in format_rounds(summary)


def test_baselines_are_matched_within_the_round() -> None:
    frame = _round_frame({"optimal": [1.0, 1.0]}).assign(side="buy", qty=100)
    direct = pd.DataFrame(
        [
            {"strategy": "direct:lit-a", "round": 1, "total_shortfall_bps": 5.0},
            {"strategy": "direct:lit-a", "round": 2, "total_shortfall_bps": 20.0},
        ]
    ).assign(side="buy", qty=100, fill_rate=1.0, filled_qty=100)
    out = add_baselines(pd.concat([frame.drop(columns="vs_baseline_bps"), direct]))

    vs = out[out["strategy"] == "optimal"]["vs_baseline_bps"].tolist()
    assert vs == [pytest.approx(11.0 - 5.0), pytest.approx(11.0 - 20.0)]


def test_parent_rows_alternate_side_buys_odd_rounds_sells_even() -> None:
    batches = parent_rows(
        SCENARIO, ["greedy"], qty=100, side="alternate", symbol=None, limit_offset_bps=None,
        rounds=3,
    )  # fmt: skip

    assert [b[0]["side"] for b in batches] == ["buy", "sell", "buy"]


def test_bestex_rounds_baselines_get_a_mean_but_no_test() -> None:
    table = bestex_rounds(_round_frame({"direct:lit-a": [0.0, 1.0, 2.0], "twap": [-1.0, -2.0]}))
    summary = table.iloc[0]

    assert summary["vs_baseline_bps_mean"] == pytest.approx(1.0)
    assert pd.isna(summary["ci_low"]) and pd.isna(summary["significant"])
    assert "| direct:lit-a | 3 | 50.0% | 11.00 | 1.00 | - | - |" in format_rounds(table)


def test_bestex_rounds_below_five_rounds_is_not_assessed_and_says_why() -> None:
    summary = bestex_rounds(_round_frame({"optimal": [-2.0, -1.5, -2.5, -1.8]}), seed=1)

    assert summary.iloc[0]["significant"] is None
    assert "not assessed: 4 rounds < 5" in format_rounds(summary)


def test_bestex_rounds_interval_covers_the_truth_92_to_98_percent() -> None:
    # per-round differences with a known mean and sd; 8 rounds per simulated `flowlab sor`
    rng = np.random.default_rng(99)
    trials, covered, half_widths = 300, 0, []
    for trial in range(trials):
        values = list(rng.normal(-1.0, 2.0, 8))
        row = bestex_rounds(_round_frame({"optimal": values}), seed=trial, n_boot=1000).iloc[0]
        covered += row["ci_low"] <= -1.0 <= row["ci_high"]
        half_widths.append((row["ci_high"] - row["ci_low"]) / 2)
    assert 0.92 <= covered / trials <= 0.98
    # t(7) * sigma / sqrt(n) on average (the sample sd varies around sigma)
    assert np.mean(half_widths) == pytest.approx(2.365 * 2.0 / np.sqrt(8), rel=0.1)


def test_bestex_rounds_many_rounds_half_width_is_1_96_sigma_over_root_n() -> None:
    values = list(np.random.default_rng(5).normal(0.5, 3.0, 400))
    row = bestex_rounds(_round_frame({"optimal": values}), seed=3).iloc[0]
    assert (row["ci_high"] - row["ci_low"]) / 2 == pytest.approx(1.96 * 3.0 / 20, rel=0.08)
