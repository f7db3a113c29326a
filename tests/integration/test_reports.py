"""A short live experiment end to end: the sequential design, pooled tables, the full report."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from orchestration.plots import TITLES
from orchestration.report import COMPARED_METRICS, COMPUTED_TABLES
from orchestration.report_headline import HEADLINE_TITLE
from orchestration.report_labels import METRICS, SNAKE_CASE
from tests.report_parse import Page, read_report

TINY = Path(__file__).with_name("scenarios") / "tiny.toml"
FLOWLAB = [sys.executable, "-m", "orchestration.cli"]
TABLES = (
    "orders",
    "fills",
    "routes",
    "auctions",
    "nbbo",
    "latency",
    "pnl",
    "values",
    *COMPUTED_TABLES,
)

HALF_CENT = 0.005 + 1e-9  # the rounding of a figure shown to the cent


@pytest.fixture(scope="module")
def experiment(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    cwd = tmp_path_factory.mktemp("experiment")
    result = subprocess.run(
        [
            *FLOWLAB,
            "compare",
            "--scenario",
            str(TINY),
            "--design",
            "sequential",
            "--orders",
            "40",
            "--rate",
            "60",
            "--size-model",
            "round-lot",
            "--market-share",
            "0.5",
            "--marketable-limit-share",
            "0.25",
            "--no-live",
            "--out",
            str(cwd / "report"),
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return cwd / "report", result


def test_sequential_design_runs_the_same_stream_once_per_regime(experiment):
    report, _ = experiment
    summary = json.loads((report / "summary.json").read_text())
    orders = pd.read_parquet(report / "orders.parquet")

    assert summary["design"]["design"] == "sequential"
    runs = summary["design"]["runs"]
    assert [r["regimes"] for r in runs] == [["pfof"], ["auction"]]
    assert len({(r["stream_seed"], r["market_seed"]) for r in runs}) == 1
    by_regime = orders.groupby("regime")["pair_key"].apply(sorted)
    assert len(orders) == 80 and by_regime["pfof"] == by_regime["auction"]
    assert all(c["paired"] for c in summary["comparisons"])


def test_report_has_every_table_and_plot(experiment):
    report, _ = experiment

    for name in TABLES:
        assert len(pd.read_parquet(report / f"{name}.parquet").columns) > 0, name
    for name in TITLES:
        assert (report / "plots" / f"{name}.png").stat().st_size > 1000, name
    markdown = (report / "report.md").read_text()
    for heading in (
        "Execution quality by order type",
        "Realized spreads by regime",
        "Routing by executing destination",
        "Routing: Rule 606(a)(1)",
        "Rule 605 as amended in 2024: detailed report",
        "Economics by regime",
        "Who gained what",
        "Differences vs pfof",
        "Experimental design",
    ):
        assert heading in markdown
    types = pd.read_parquet(report / "order_types.parquet")
    assert {"market", "marketable limit", "non-marketable limit"} <= set(types["order_class"])


def test_report_html_is_one_self_contained_file(experiment):
    report, _ = experiment
    html = (report / "report.html").read_text()

    assert html.count('src="data:image/png;base64,') == len(TITLES)
    assert not re.search(r"""(src|href)=["'](?!data:)""", html)


def test_compare_prints_table_and_verdicts_with_confidence_intervals(experiment):
    _, result = experiment

    assert re.search(r"auction vs pfof, price_improvement_usd_per_share: .*95% CI", result.stdout)
    assert "report.html" in result.stdout


def test_report_on_experiment_directory_pools_runs_like_compare(experiment, tmp_path):
    report, _ = experiment
    original = json.loads((report / "summary.json").read_text())
    root = Path(original["run_dir"])
    if not root.is_absolute():  # compare ran in the experiment's working directory
        root = report.parent / root

    result = subprocess.run(
        [*FLOWLAB, "report", str(root), "--out", str(tmp_path / "again")],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    again = json.loads((tmp_path / "again" / "summary.json").read_text())
    assert again["design"]["design"] == "sequential"
    assert again["regimes"].keys() == original["regimes"].keys()
    for regime, metrics in original["regimes"].items():
        assert again["regimes"][regime]["orders"] == metrics["orders"]
        assert again["regimes"][regime]["filled_shares"] == metrics["filled_shares"]
        assert (
            again["regimes"][regime]["retail_cost_vs_mid_usd"] == metrics["retail_cost_vs_mid_usd"]
        )


def _page(report: Path) -> Page:
    return read_report((report / "report.html").read_text(encoding="utf-8"))


def test_report_opens_with_the_regime_differences_and_their_intervals(experiment):
    report, _ = experiment
    page = _page(report)
    summary = json.loads((report / "summary.json").read_text())

    assert page.first_after_title == "section"
    headline = page.sections[0]
    assert headline.title == HEADLINE_TITLE
    table = headline.tables[0]
    assert table.column("Measure") == [METRICS[m][0] for m in COMPARED_METRICS]
    assert set(table.column("Regimes")) == {"auction - pfof"}
    computed = [c for c in summary["comparisons"] if c["ci_low"] is not None]
    assert computed  # a run where the regimes traded
    for row in table.rows:
        interval = row[table.headers.index("95% interval, orders in the run")]
        reading = row[table.headers.index("Reading")]
        assert " to " in interval or reading.startswith("not computable")
        assert (
            "excludes zero" in reading
            or "no difference detected" in reading
            or (reading.startswith("not computable"))
        )


def test_report_tables_have_no_snake_case_header_and_name_the_columns_they_drop(experiment):
    report, _ = experiment
    page = _page(report)

    headers = [h for s in page.sections for t in s.tables for h in t.headers]
    assert [h for h in headers if SNAKE_CASE.search(h)] == []
    realized = page.section("Realized spreads by regime")
    note = next(p for p in realized.paragraphs if p.startswith("Columns left out"))
    assert (
        "“Realized spread 30s, $/share”, “Realized spread 30s, bps”" in note
    )  # runs of about a second: no fill has a 30 s mark
    assert not any(h.startswith("Realized spread 30s") for h in realized.tables[0].headers)


def _money(cell: str) -> float:
    return float(cell.replace(",", "").replace("+", ""))


def test_report_who_gained_what_balances_against_the_fills(experiment):
    """The investor's and the broker's gains, computed here from the fills and the latent
    value; every other party's row together must be their negative (each regime sums to 0)."""
    report, _ = experiment
    fills = pd.read_parquet(report / "fills.parquet")
    values = pd.read_parquet(report / "values.parquet")
    keys = ["run", "symbol"] if "run" in fills.columns else ["symbol"]
    marked = pd.merge_asof(
        fills.sort_values("exec_ns"),
        values.rename(columns={"ts_ns": "exec_ns"}).sort_values("exec_ns"),
        on="exec_ns",
        by=keys,
        direction="backward",
    )
    sign = marked["side"].map({"buy": 1, "sell": -1})
    commission = marked["commission"].fillna(0)
    marked["investor"] = (sign * (marked["value"] - marked["price"]) * marked["qty"]) - commission
    marked["broker"] = marked["pfof"] - marked["fee"] + commission
    expected = marked.groupby("regime")[["investor", "broker"]].sum() / 1e6

    page = _page(report)
    table = next(
        t for s in page.sections for t in s.tables if t.headers[:2] == ["Party", "pfof, $"]
    )
    parties = table.column("Party")
    assert parties[-1].startswith("Sum")
    for regime in ("pfof", "auction"):
        shown = dict(zip(parties, map(_money, table.column(f"{regime}, $")), strict=True))
        investor, broker = expected.loc[regime, "investor"], expected.loc[regime, "broker"]
        # The report shows cents: within half a cent, plus float slack (a CI run's broker gain
        # of $0.305 was shown as 0.30, 0.005 away by 4e-18 more than half a cent).
        assert shown["Investors (retail orders)"] == pytest.approx(investor, abs=HALF_CENT)
        assert shown["Broker"] == pytest.approx(broker, abs=HALF_CENT)
        others = [v for p, v in shown.items() if p not in ("Investors (retail orders)", "Broker")]
        rows = len(others) - 1  # each shown row is rounded to the cent
        assert sum(others[:-1]) == pytest.approx(-(investor + broker), abs=HALF_CENT * rows + 0.01)
        assert others[-1] == 0.0  # the sum row
