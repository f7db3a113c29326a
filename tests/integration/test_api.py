"""The Python API as a notebook uses it: one lab from a scenario, DataFrames in and out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import flowlab
from orchestration.api import Lab, StreamError
from orchestration.report import COMPARED_METRICS
from orchestration.streams import write_stream
from tests.helpers import pid_alive

TINY = Path(__file__).with_name("scenarios") / "tiny.toml"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with Lab(TINY, regimes=["pfof", "auction"], runs_root=tmp_path_factory.mktemp("runs")) as lab:
        yield lab


def _received(lab: Lab) -> int:
    status = lab.status().set_index("name")
    return status.loc["broker", "counters"].get("clients.in", 0)


def test_api_bad_stream_file_is_refused_with_row_and_column_before_sending(
    lab: Lab, tmp_path: Path
):
    rows = lab.generate(orders=5, seed=1).to_dict(orient="records")
    rows[3]["side"] = "sideways"
    path = write_stream(rows, tmp_path / "bad.csv")

    with pytest.raises(StreamError, match=r"row 4, column 'side'"):
        lab.inject(path)

    assert _received(lab) == 0
    assert lab.table("orders").empty


def test_api_bad_dataframe_is_refused_before_sending(lab: Lab):
    stream = lab.generate(orders=3, seed=2)
    stream.loc[1, "symbol"] = "NOPE"

    with pytest.raises(StreamError, match=r"^DataFrame index 1, column 'symbol'"):
        lab.inject(stream)

    assert _received(lab) == 0


def test_api_inject_dataframe_gives_results_as_dataframes(lab: Lab):
    stream = lab.generate(orders=30, rate=60, seed=3)

    done = lab.inject(stream)

    assert done["sent"] == done["terminal"] == 30
    orders, fills = lab.table("orders"), lab.table("fills")
    assert isinstance(orders, pd.DataFrame) and len(orders) == 30
    assert set(orders["order_id"]) == set(stream["order_id"])
    assert fills["qty"].sum() == orders["filled_qty"].sum() > 0
    summary = lab.summary().set_index("regime")
    assert summary["orders"].sum() == 30
    assert {"price_improvement_usd_per_share", "realized_spread_bps_50ms"} <= set(summary.columns)


def test_api_every_documented_table_reachable_comparisons_with_intervals(lab: Lab):
    tables = {name: lab.table(name) for name in flowlab.TABLE_NAMES}

    assert all(isinstance(t, pd.DataFrame) for t in tables.values())
    assert not tables["rule605"].empty and not tables["rule606"].empty
    comparisons = lab.comparisons()
    # auction against pfof (the first regime), one row per compared metric
    assert len(comparisons) == len(COMPARED_METRICS)
    assert set(comparisons["regime_b"]) == {"auction"}
    assert {"difference", "ci_low", "ci_high", "p_value"} <= set(comparisons.columns)
    improvement = comparisons.set_index("metric").loc["price_improvement_usd_per_share"]
    assert improvement["ci_low"] <= improvement["difference"] <= improvement["ci_high"]


def test_api_report_writes_tables_and_html(lab: Lab, tmp_path: Path):
    folder = lab.report(tmp_path / "report", plots=False)

    assert (folder / "report.html").exists() and (folder / "regime_summary.parquet").exists()


def test_api_stop_ends_every_process(tmp_path: Path):
    api = Lab(TINY, runs_root=tmp_path).start()
    pids = api.status()["pid"].tolist()

    codes = api.stop()

    assert codes and all(code == 0 for code in codes.values()), codes
    assert not [pid for pid in pids if pid_alive(pid)]
    assert api.stop() == codes or api.stop() == {}  # stopping twice is harmless


def test_flowlab_compare_returns_comparisons_with_intervals(tmp_path: Path):
    result = flowlab.compare(
        TINY, regimes=["pfof", "auction"], orders=40, rate=100, settle_s=0.5, runs_root=tmp_path
    )

    assert result.clean, result.exit_codes
    assert result.state == "complete", result.run_state
    assert (result.report_dir / "report.html").exists()
    assert set(result.summary["regime"]) == {"pfof", "auction"}
    assert len(result.comparisons) == len(COMPARED_METRICS)
    assert {"difference", "ci_low", "ci_high"} <= set(result.comparisons.columns)
    assert not result.table("rule605").empty
