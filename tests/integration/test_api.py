"""The Python API as a notebook uses it: one lab from a scenario, DataFrames in and out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from orchestration.api import Lab, StreamError
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

    with pytest.raises(StreamError, match=r"row 2, column 'symbol'"):
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
