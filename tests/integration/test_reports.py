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
from orchestration.report import COMPUTED_TABLES

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
