"""Spec tests for retail order streams: generation, validation, CSV and Parquet files."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import msgspec
import numpy as np
import pandas as pd
import pytest

from config.scenario import Scenario, load_scenario
from orchestration.streams import (
    COLUMNS,
    StreamError,
    StreamOptions,
    generate_stream,
    read_stream_file,
    validate_rows,
    write_stream,
)

REGIMES = ["pfof", "auction"]


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return load_scenario()


def valid_rows() -> list[dict[str, object]]:
    return [
        {
            "t_ns": 0,
            "order_id": "A1",
            "symbol": "ACME",
            "side": "buy",
            "qty": 100,
            "order_type": "market",
            "limit_price": "",
            "limit_offset_bps": "",
            "regime": "pfof",
            "strategy": "",
        },
        {
            "t_ns": 1_000_000,
            "order_id": "A2",
            "symbol": "BOLT",
            "side": "sell",
            "qty": 250,
            "order_type": "limit",
            "limit_price": 118_700_000,
            "limit_offset_bps": "",
            "regime": "auction",
            "strategy": "",
        },
        {
            "t_ns": 2_000_000,
            "order_id": "A3",
            "symbol": "CRUX",
            "side": "buy",
            "qty": 10,
            "order_type": "limit",
            "limit_price": "",
            "limit_offset_bps": 5.0,
            "regime": "",
            "strategy": "",
        },
    ]


# --- generate_stream -----------------------------------------------------------------------


def test_generate_stream_same_seed_gives_identical_rows(scenario: Scenario) -> None:
    first = generate_stream(scenario, REGIMES, orders=200, seed=11)
    second = generate_stream(scenario, REGIMES, orders=200, seed=11)

    assert first == second


def test_generate_stream_different_seeds_give_different_rows(scenario: Scenario) -> None:
    assert generate_stream(scenario, REGIMES, orders=50, seed=11) != generate_stream(
        scenario, REGIMES, orders=50, seed=12
    )


def test_generate_stream_no_seed_uses_scenario_seed(scenario: Scenario) -> None:
    assert generate_stream(scenario, REGIMES, orders=50) == generate_stream(
        scenario, REGIMES, orders=50, seed=scenario.seed
    )


def test_generate_stream_requested_count_returns_that_many(scenario: Scenario) -> None:
    rows = generate_stream(scenario, REGIMES, orders=123, seed=1)

    assert len(rows) == 123
    assert [row["order_id"] for row in rows[:2]] == ["R000001", "R000002"]
    assert len({row["order_id"] for row in rows}) == 123


def test_generate_stream_no_count_uses_scenario_stream_orders(scenario: Scenario) -> None:
    assert len(generate_stream(scenario, REGIMES, seed=1)) == scenario.stream.orders == 400


def test_generate_stream_id_prefix_applied(scenario: Scenario) -> None:
    rows = generate_stream(scenario, REGIMES, orders=2, seed=1, id_prefix="X")

    assert [row["order_id"] for row in rows] == ["X000001", "X000002"]


def test_generate_stream_times_start_at_zero_nondecreasing_ints(scenario: Scenario) -> None:
    rows = generate_stream(scenario, REGIMES, orders=500, seed=3)

    times = [row["t_ns"] for row in rows]
    assert times[0] == 0
    assert all(type(t) is int for t in times)
    assert all(a <= b for a, b in itertools.pairwise(times))


def test_generate_stream_gaps_look_exponential_at_requested_rate(scenario: Scenario) -> None:
    rows = generate_stream(scenario, REGIMES, orders=2_000, rate_per_s=100.0, seed=5)

    gaps = np.diff([row["t_ns"] for row in rows]) / 1e9
    # exponential(1/100 s): mean 0.01 s, standard deviation equal to the mean
    assert gaps.mean() == pytest.approx(0.01, rel=0.1)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, abs=0.15)


def test_generate_stream_values_only_from_scenario_and_regimes(scenario: Scenario) -> None:
    rows = generate_stream(scenario, REGIMES, orders=400, seed=7)

    assert {row["symbol"] for row in rows} == {"ACME", "BOLT", "CRUX"}
    assert {row["regime"] for row in rows} == {"pfof", "auction"}
    assert {row["side"] for row in rows} == {"buy", "sell"}
    assert {row["order_type"] for row in rows} == {"market", "limit"}
    assert {row["qty"] for row in rows} <= set(scenario.stream.sizes)
    assert set(rows[0]) == set(COLUMNS)


def test_generate_stream_no_regimes_leaves_regime_empty(scenario: Scenario) -> None:
    rows = generate_stream(scenario, [], orders=20, seed=7)

    assert {row["regime"] for row in rows} == {""}


def test_generate_stream_market_share_and_limit_offsets_follow_spec(scenario: Scenario) -> None:
    rows = generate_stream(scenario, REGIMES, orders=2_000, seed=9)

    markets = [row for row in rows if row["order_type"] == "market"]
    limits = [row for row in rows if row["order_type"] == "limit"]
    assert len(markets) / len(rows) == pytest.approx(scenario.stream.market_share, abs=0.05)
    assert {row["limit_offset_bps"] for row in markets} == {""}
    assert {row["limit_offset_bps"] for row in limits} == {scenario.stream.marketable_limit_bps}
    assert {row["limit_price"] for row in rows} == {""}
    buys = sum(row["side"] == "buy" for row in rows)
    assert buys / len(rows) == pytest.approx(scenario.stream.buy_share, abs=0.05)


def test_generate_stream_flags_the_informed_share_only_when_asked(
    scenario: Scenario,
) -> None:
    plain = generate_stream(scenario, REGIMES, orders=2_000, seed=9)
    assert {row["informed"] for row in plain} == {""}
    informed = generate_stream(
        scenario, REGIMES, orders=2_000, seed=9, options=StreamOptions(informed_share=0.3)
    )
    flagged = sum(row["informed"] == 1 for row in informed)
    assert {row["informed"] for row in informed} == {0, 1}
    # Binomial(2000, 0.3): sd = sqrt(2000 * 0.3 * 0.7) = 20.5 orders.
    assert abs(flagged - 600) < 4 * 20.5
    validate_rows(informed, scenario)
    with pytest.raises(StreamError, match="informed_share"):
        generate_stream(scenario, REGIMES, orders=5, options=StreamOptions(informed_share=1.5))


def test_generate_stream_output_passes_validation(scenario: Scenario) -> None:
    validate_rows(generate_stream(scenario, REGIMES, orders=400, seed=2), scenario)


# --- validate_rows -------------------------------------------------------------------------


def test_validate_rows_valid_stream_accepted(scenario: Scenario) -> None:
    validate_rows(valid_rows(), scenario)


def test_validate_rows_empty_stream_accepted(scenario: Scenario) -> None:
    validate_rows([], scenario)


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("side", "BUY", "must be buy or sell, got 'BUY'"),
        ("qty", 0, "must be > 0"),
        ("qty", -5, "must be > 0"),
        ("qty", "1.5", "not an integer: '1.5'"),
        ("qty", "ten", "not an integer: 'ten'"),
        ("symbol", "ZZZZ", "unknown symbol 'ZZZZ' (scenario has ACME, BOLT, CRUX)"),
        ("regime", "bogus", "'bogus' is not enabled in the scenario (pfof, auction)"),
        ("regime", "hybrid", "'hybrid' is not enabled in the scenario (pfof, auction)"),
        ("t_ns", -1, "must be >= 0"),
        ("t_ns", "soon", "not an integer: 'soon'"),
        ("order_type", "stop", "must be market or limit, got 'stop'"),
        ("limit_price", 0, "must be > 0 (micro-dollars)"),
        ("limit_price", "100.5", "not an integer number of micro-dollars: '100.5'"),
        ("limit_offset_bps", "wide", "not a number: 'wide'"),
        ("informed", "yes", "must be 0 or 1, got 'yes'"),
        ("symbol", "", "missing value"),
        ("order_id", None, "missing value"),
    ],
)
def test_validate_rows_bad_cell_names_row_and_column(
    scenario: Scenario, column: str, value: object, reason: str
) -> None:
    rows = valid_rows()
    rows[1][column] = value  # the limit order: row 2

    with pytest.raises(StreamError) as error:
        validate_rows(rows, scenario)

    assert str(error.value) == f"stream row 2, column {column!r}: {reason}"


def test_validate_rows_with_index_names_the_dataframe_label(scenario: Scenario) -> None:
    rows = valid_rows()
    rows[1]["side"] = "hold"  # the second row: pandas' index 1 by default

    with pytest.raises(StreamError) as default_index:
        validate_rows(rows, scenario, index=range(len(rows)))
    with pytest.raises(StreamError) as edited_index:
        validate_rows(rows, scenario, index=[10, 20, 30][: len(rows)])

    assert str(default_index.value).startswith("DataFrame index 1, column 'side': ")
    assert str(edited_index.value).startswith("DataFrame index 20, column 'side': ")


def test_validate_rows_limit_price_on_market_order_refused(scenario: Scenario) -> None:
    rows = valid_rows()
    rows[0]["limit_price"] = 52_400_000

    with pytest.raises(
        StreamError,
        match=re.escape("stream row 1, column 'limit_price': must be empty for a market order"),
    ):
        validate_rows(rows, scenario)


def test_validate_rows_duplicate_order_id_names_second_row(scenario: Scenario) -> None:
    rows = valid_rows()
    rows[2]["order_id"] = "A1"

    with pytest.raises(
        StreamError, match=re.escape("stream row 3, column 'order_id': duplicate 'A1'")
    ):
        validate_rows(rows, scenario)


def test_validate_rows_several_bad_rows_reports_first(scenario: Scenario) -> None:
    rows = valid_rows()
    rows[1]["qty"] = 0
    rows[2]["side"] = "hold"

    with pytest.raises(StreamError, match=re.escape("stream row 2, column 'qty'")):
        validate_rows(rows, scenario)


# --- files ---------------------------------------------------------------------------------


def test_write_stream_then_read_csv_round_trips_as_strings(
    scenario: Scenario, tmp_path: Path
) -> None:
    rows = generate_stream(scenario, REGIMES, orders=50, seed=4)

    path = write_stream(rows, tmp_path / "stream.csv")
    back = read_stream_file(path)

    assert back == [{column: str(row[column]) for column in COLUMNS} for row in rows]
    validate_rows(back, scenario)


def test_write_stream_header_is_schema_columns(tmp_path: Path) -> None:
    path = write_stream([], tmp_path / "empty.csv")

    assert path.read_text().splitlines() == [",".join(COLUMNS)]
    assert read_stream_file(path) == []


def test_read_stream_file_parquet_reads_back_rows(scenario: Scenario, tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "t_ns": [0, 1_000_000, 2_000_000],
            "order_id": ["A1", "A2", "A3"],
            "symbol": ["ACME", "BOLT", "CRUX"],
            "side": ["buy", "sell", "buy"],
            "qty": [100, 250, 10],
            "order_type": ["market", "limit", "limit"],
            "limit_price": pd.array([None, 118_700_000, None], dtype="Int64"),
            "limit_offset_bps": [np.nan, np.nan, 5.0],
            "regime": ["pfof", "auction", None],
            "strategy": [None, None, None],
        }
    )
    path = tmp_path / "stream.parquet"
    frame.to_parquet(path)

    rows = read_stream_file(path)

    validate_rows(rows, scenario)
    assert [row["order_id"] for row in rows] == ["A1", "A2", "A3"]
    assert [int(row["qty"]) for row in rows] == [100, 250, 10]
    assert [row["limit_price"] for row in rows] == ["", 118_700_000, ""]
    assert [row["limit_offset_bps"] for row in rows] == ["", "", 5.0]
    assert [row["regime"] for row in rows] == ["pfof", "auction", ""]


def test_read_stream_file_unknown_csv_column_refused(tmp_path: Path) -> None:
    path = tmp_path / "extra.csv"
    path.write_text(
        "t_ns,order_id,symbol,side,qty,order_type,venue\n0,A1,ACME,buy,100,market,lit-a\n"
    )

    with pytest.raises(StreamError, match=r"unknown column\(s\) venue"):
        read_stream_file(path)


def test_read_stream_file_unknown_parquet_column_refused(tmp_path: Path) -> None:
    path = tmp_path / "extra.parquet"
    pd.DataFrame({"t_ns": [0], "order_id": ["A1"], "price": [1], "venue": ["x"]}).to_parquet(path)

    with pytest.raises(StreamError, match=r"unknown column\(s\) price, venue"):
        read_stream_file(path)


def test_generate_stream_first_regime_share_sets_the_arm_mix(scenario: Scenario) -> None:
    """10% to the first arm: over 4,000 orders the count is binomial(4000, 0.1) — 400 +/- 19,
    so within 340..460 (about 3 standard deviations); unset, the arms split evenly as before."""
    mixed = msgspec.structs.replace(
        scenario, stream=msgspec.structs.replace(scenario.stream, first_regime_share=0.1)
    )
    rows = generate_stream(mixed, ["pfof", "auction"], orders=4000, seed=3)
    first = sum(r["regime"] == "pfof" for r in rows)
    assert 340 <= first <= 460, first
    even = generate_stream(scenario, ["pfof", "auction"], orders=4000, seed=3)
    assert 1880 <= sum(r["regime"] == "pfof" for r in even) <= 2120
