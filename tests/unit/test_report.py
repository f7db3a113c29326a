"""write_report: summary.json schema and values, Parquet round trips, report.md contents."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from orchestration.metrics import after_burn_in, regime_summary, size_bucket_table
from orchestration.report import COMPARED_METRICS, format_regime_table, write_report
from orchestration.routing import routing_table
from tests.unit.test_metrics import (
    alternating_regime,
    make_fills,
    make_orders,
    order,
    sample_fills,
    sample_orders,
)

PROCESSES = [
    {"name": "broker", "role": "broker", "pid": 4101},
    {"name": "nyse", "role": "venue", "pid": 4102},
]
REQUIRED_REGIME_KEYS = {
    "orders": int,
    "terminal_orders": int,
    "filled_orders": int,
    "fill_rate": float,
    "filled_shares": int,
    "price_improvement_usd_per_share": float,
    "price_improvement_bps": float,
    "effective_spread_bps": float,
    "eq_ratio": float,
    "time_to_execution_ms_p50": float,
    "time_to_execution_ms_p99": float,
    "pfof_paid_usd": float,
    "retail_cost_vs_mid_usd": float,
}


@pytest.fixture
def orders() -> pd.DataFrame:
    return sample_orders()


@pytest.fixture
def fills() -> pd.DataFrame:
    return sample_fills()


def _write(out_dir: Path, orders: pd.DataFrame, fills: pd.DataFrame, **kwargs) -> dict:
    kwargs.setdefault("plots", False)  # drawing is tested once, in test_report_plots.py
    return write_report(
        out_dir,
        scenario="default",
        seed=11,
        run_dir="runs/20250101-000000",
        processes=PROCESSES,
        tables={"orders": orders, "fills": fills},
        **kwargs,
    )


def _load_json(path: Path) -> dict:
    def reject(token: str) -> None:
        raise AssertionError(f"summary.json contains {token}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=reject)


def test_write_report_summary_json_has_schema(tmp_path, orders, fills):
    _write(tmp_path, orders, fills)

    summary = _load_json(tmp_path / "summary.json")
    assert (summary["scenario"], summary["seed"]) == ("default", 11)
    assert summary["run_dir"] == "runs/20250101-000000"
    assert summary["processes"] == PROCESSES
    assert list(summary["regimes"]) == ["pfof", "auction"]
    for values in summary["regimes"].values():
        for key, kind in REQUIRED_REGIME_KEYS.items():
            assert isinstance(values[key], kind), key


def test_write_report_says_when_a_run_was_unauthenticated(tmp_path, orders, fills):
    common = {
        "scenario": "default",
        "seed": 11,
        "run_dir": "runs/20250101-000000",
        "processes": PROCESSES,
        "tables": {"orders": orders, "fills": fills},
        "plots": False,
    }
    unauthenticated = write_report(tmp_path / "none", security="none", **common)
    default = write_report(tmp_path / "curve", **common)

    assert (unauthenticated["security"], default["security"]) == ("none", "curve")
    assert "Security: none" in (tmp_path / "none" / "report.md").read_text(encoding="utf-8")
    assert "Security:" not in (tmp_path / "curve" / "report.md").read_text(encoding="utf-8")


def test_write_report_counts_tape_anomalies_in_summary_and_header(tmp_path, orders, fills):
    anomalies = pd.DataFrame({"offset": [7, 9], "reason": ["not MessagePack", "not an entry"]})
    summary = write_report(
        tmp_path,
        scenario="default",
        seed=11,
        run_dir="runs/20250101-000000",
        processes=PROCESSES,
        tables={"orders": orders, "fills": fills, "tape_anomalies": anomalies},
        plots=False,
    )

    assert summary["tape_anomalies"] == 2
    assert "Tape anomalies: 2 malformed tape entries skipped" in (tmp_path / "report.md").read_text(
        encoding="utf-8"
    )
    assert _write(tmp_path / "none", orders, fills)["tape_anomalies"] == 0
    clean = write_report(  # a clean tape's table: empty (written as Parquet all the same)
        tmp_path / "clean",
        scenario="default",
        seed=11,
        run_dir="runs/20250101-000000",
        processes=PROCESSES,
        tables={"orders": orders, "fills": fills, "tape_anomalies": anomalies.iloc[:0]},
        plots=False,
    )
    assert clean["tape_anomalies"] == 0
    assert pd.read_parquet(tmp_path / "clean" / "tape_anomalies.parquet").empty
    assert "Tape anomalies" not in (tmp_path / "clean" / "report.md").read_text(encoding="utf-8")


def test_write_report_summary_values_match_metrics(tmp_path, orders, fills):
    returned = _write(tmp_path, orders, fills)

    written = _load_json(tmp_path / "summary.json")
    assert written == returned
    expected = regime_summary(orders, fills)
    for regime, values in expected.items():
        assert written["regimes"][regime] == pytest.approx(values)
    assert written["regimes"]["pfof"]["price_improvement_usd_per_share"] == pytest.approx(0.001)
    assert written["size_buckets"]["pfof"]["no NBBO"]["filled_shares"] == 100
    assert written["size_buckets"]["pfof"]["no NBBO"]["eq_ratio"] is None
    assert written["routing"]["pfof"]["citadel"]["net_pfof_cents_per_100_shares"] == 15.0


def test_write_report_input_tables_round_trip_through_parquet(tmp_path, orders, fills):
    _write(tmp_path, orders, fills)

    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "orders.parquet"), orders)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "fills.parquet"), fills)


def test_write_report_computed_tables_written_as_parquet(tmp_path, orders, fills):
    _write(tmp_path, orders, fills)

    regimes = pd.read_parquet(tmp_path / "regime_summary.parquet")
    assert regimes["regime"].tolist() == ["pfof", "auction"]
    assert regimes["filled_shares"].tolist() == [600, 100]
    buckets = pd.read_parquet(tmp_path / "size_buckets.parquet")
    assert len(buckets) == len(size_bucket_table(orders, fills))
    routing = pd.read_parquet(tmp_path / "routing.parquet")
    expected = routing_table(orders, fills)
    assert routing[["regime", "destination"]].values.tolist() == (
        expected[["regime", "destination"]].values.tolist()
    )


def test_write_report_markdown_has_every_section(tmp_path, orders, fills):
    _write(tmp_path, orders, fills)

    text = (tmp_path / "report.md").read_text(encoding="utf-8")
    for heading in (
        "# flowlab report: default",
        "## Execution quality by regime",
        "## Execution quality by order size",
        "## Rule 605 as amended in 2024: summary report",
        "## Rule 605 as amended in 2024: detailed report",
        "## Routing: Rule 606(a)(1)",
        "## Routing by executing destination",
        "## Differences vs pfof",
        "## Definitions",
    ):
        assert heading in text
    assert "runs/20250101-000000" in text and "Seed: 11" in text
    assert "| pfof | citadel |" in text


def test_write_report_single_run_does_not_claim_significance(tmp_path):
    a_orders, a_fills = alternating_regime("a", (0, 10_000), 100)
    b_orders, b_fills = alternating_regime("b", (10_000, 20_000), 100)

    summary = _write(tmp_path, make_orders(a_orders + b_orders), make_fills(a_fills + b_fills))

    assert [c["significant"] for c in summary["comparisons"]] == [None] * len(COMPARED_METRICS)
    improvement = summary["comparisons"][0]
    assert improvement["ci_low"] < 0.01 < improvement["ci_high"]  # the orders' interval stays
    assert improvement["replications"] == 1 and improvement["rep_ci_low"] is None
    text = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "not assessed: 1 replication < 5" in text
    assert ", significant" not in text


def _replicated(orders: list[dict], replications: int) -> pd.DataFrame:
    frame = make_orders(orders)
    frame["replication"] = [i % replications + 1 for i in range(len(frame))]
    return frame


def test_write_report_identical_regimes_five_replications_not_significant(tmp_path):
    a_orders, a_fills = alternating_regime("a", (0, 10_000), 40)
    b_orders, b_fills = alternating_regime("b", (0, 10_000), 40)

    summary = _write(tmp_path, _replicated(a_orders + b_orders, 5), make_fills(a_fills + b_fills))

    assert [c["significant"] for c in summary["comparisons"][:1]] == [False]
    text = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "**not significant** (Holm-adjusted p = 1.000)" in text


def test_write_report_real_difference_five_replications_significant_after_holm(tmp_path):
    a_orders, a_fills = alternating_regime("a", (0, 10_000), 100)
    b_orders, b_fills = alternating_regime("b", (10_000, 20_000), 100)

    summary = _write(tmp_path, _replicated(a_orders + b_orders, 5), make_fills(a_fills + b_fills))

    improvement = summary["comparisons"][0]
    assert improvement["metric"] == "price_improvement_usd_per_share"
    assert improvement["replications"] == 5
    assert improvement["rep_ci_low"] <= 0.01 <= improvement["rep_ci_high"]
    assert improvement["significant"] is True
    text = (tmp_path / "report.md").read_text()
    assert "significant (Holm-adjusted p < 0.001 < 0.05)" in text
    assert "p = 0.0" not in text


def test_write_report_single_regime_has_nothing_to_compare(tmp_path):
    a_orders, a_fills = alternating_regime("a", (0, 10_000), 4)

    summary = _write(tmp_path, make_orders(a_orders), make_fills(a_fills))

    assert summary["comparisons"] == []
    assert "nothing to compare" in (tmp_path / "report.md").read_text()


def test_write_report_extra_keys_added_to_summary(tmp_path, orders, fills):
    summary = _write(tmp_path, orders, fills, extra={"duration_s": 12.5, "note": float("nan")})

    written = _load_json(tmp_path / "summary.json")
    assert written["duration_s"] == 12.5
    assert written["note"] is None
    assert summary["duration_s"] == 12.5


def test_write_report_extra_replacing_computed_key_raises(tmp_path, orders, fills):
    with pytest.raises(ValueError, match="regimes"):
        _write(tmp_path, orders, fills, extra={"regimes": {}})


def test_write_report_reserved_table_name_raises(tmp_path, orders, fills):
    with pytest.raises(ValueError, match="routing"):
        write_report(
            tmp_path,
            scenario="s",
            seed=0,
            run_dir="r",
            processes=[],
            tables={"orders": orders, "fills": fills, "routing": fills},
        )


def test_write_report_missing_fills_table_raises(tmp_path, orders):
    with pytest.raises(ValueError, match="fills"):
        write_report(
            tmp_path, scenario="s", seed=0, run_dir="r", processes=[], tables={"orders": orders}
        )


def test_write_report_extra_tables_written_too(tmp_path, orders, fills):
    routes = pd.DataFrame(
        {
            "order_id": ["o1"],
            "regime": ["pfof"],
            "ts_ns": [1],
            "destination": ["citadel"],
            "qty": [100],
            "reason": ["pfof"],
        }
    )

    write_report(
        tmp_path,
        scenario="s",
        seed=0,
        run_dir="r",
        processes=[],
        tables={"orders": orders, "fills": fills, "routes": routes},
        plots=False,
    )

    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "routes.parquet"), routes)


def test_format_regime_table_one_aligned_row_per_regime(orders, fills):
    summary = {"regimes": regime_summary(orders, fills)}

    lines = format_regime_table(summary).splitlines()

    assert len(lines) == 3
    assert lines[0].split()[0] == "regime"
    assert lines[1].startswith("pfof") and lines[2].startswith("auction")
    assert len({len(line) for line in lines}) == 1
    assert "0.0010" in lines[1] and "9.0%" in lines[1]


def test_format_regime_table_missing_values_show_na():
    row = regime_summary(
        make_orders([order("x1", "buy", 10, 0, "open", 0, regime="x")]),
        make_fills([]),
    )

    text = format_regime_table({"regimes": row})

    assert "n/a" in text.splitlines()[1]


def test_write_report_by_replication_table_when_several(tmp_path, orders, fills):
    # the same tape twice, as replications 1 and 2 (ids prefixed as pooling does)
    runs_o, runs_f = [], []
    for rep in (1, 2):
        o, f = orders.copy(), fills.copy()
        o["order_id"] = f"r{rep}-" + o["order_id"]
        f["order_id"] = f"r{rep}-" + f["order_id"]
        o["replication"] = rep
        runs_o.append(o)
        runs_f.append(f)
    pooled_o = pd.concat(runs_o, ignore_index=True)
    pooled_f = pd.concat(runs_f, ignore_index=True)

    _write(tmp_path, pooled_o, pooled_f)

    table = pd.read_parquet(tmp_path / "replications.parquet")
    assert list(zip(table["regime"], table["replication"], strict=True)) == [
        ("pfof", 1),
        ("pfof", 2),
        ("auction", 1),
        ("auction", 2),
    ]
    single = regime_summary(orders, fills)["pfof"]
    for rep in (1, 2):
        row = table[(table["regime"] == "pfof") & (table["replication"] == rep)].iloc[0]
        assert row["orders"] == single["orders"]
        assert row["price_improvement_usd_per_share"] == pytest.approx(
            single["price_improvement_usd_per_share"]
        )
    report = (tmp_path / "report.md").read_text()
    assert "## By replication" in report
    assert "| pfof | 2 | 7 |" in report


def test_write_report_no_replication_section_for_one_run(tmp_path, orders, fills):
    _write(tmp_path, orders, fills)

    assert "## By replication" not in (tmp_path / "report.md").read_text()
    assert len(pd.read_parquet(tmp_path / "replications.parquet")) == 2  # one row per regime


def test_write_report_leaves_the_burn_in_out_of_execution_quality(tmp_path, orders, fills):
    """Orders received in the first 2.5 s of the stream (o1, o2, o3 and the two auction orders,
    at 1, 2, 3 s and 1 s against a first order at 1 s: o3 at 3 s is measured, being 2 s in) are
    left out; the regimes table is then exactly the one of the later orders."""
    summary = _write(tmp_path, orders, fills, burn_in_s=1.5)
    late_ids = {"o3", "o4", "o5", "o6", "o7"}
    late = orders[orders["order_id"].isin(late_ids)]
    expected = regime_summary(late, fills[fills["order_id"].isin(late_ids)])
    assert summary["burn_in"] == {"seconds": 1.5, "orders_measured": 5, "orders_excluded": 4}
    assert list(summary["regimes"]) == ["pfof"]  # every auction order was in the burn-in
    assert summary["regimes"]["pfof"]["orders"] == expected["pfof"]["orders"] == 5
    assert summary["regimes"]["pfof"] == pytest.approx(expected["pfof"], nan_ok=True)
    report = (tmp_path / "report.md").read_text()
    assert "after a burn-in of 1.5 s (4 earlier orders left out" in report


def test_burn_in_counts_from_each_replications_first_order(orders):
    two = pd.concat(
        [
            orders.assign(replication=1),
            orders.assign(replication=2, recv_ns=orders["recv_ns"] + 60 * 10**9),
        ]
    )
    kept = after_burn_in(two, 1.5)
    assert sorted(kept.groupby("replication").size().tolist()) == [5, 5]
    assert after_burn_in(two, 0.0) is two


def test_write_report_headline_reads_the_replication_interval_when_there_is_one(tmp_path):
    # a improves on the ask by $0 and $0.01 in turn, b by $0.01 and $0.02: a cent more a share
    a_orders, a_fills = alternating_regime("a", (0, 10_000), 100)
    b_orders, b_fills = alternating_regime("b", (10_000, 20_000), 100)

    _write(tmp_path, _replicated(a_orders + b_orders, 5), make_fills(a_fills + b_fills))

    text = (tmp_path / "report.md").read_text(encoding="utf-8")
    headline = text.split("## The answer: how the regimes differ")[1].split("\n## ")[0]
    row = next(line for line in headline.splitlines() if line.startswith("| Price improvement"))
    assert "| b - a | a: $0.0050/share | b: $0.0150/share | +$0.0100/share |" in row
    assert (
        "b had $0.0100/share more price improvement than a; the interval over 5 replications "
        "excludes zero (better for the investor); significant after Holm's correction" in row
    )
    assert "over the 5 replications" in headline  # the note says which interval is read
