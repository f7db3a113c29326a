"""Stream generator options and stream files: the documented schema, and bad files refused with
their row and column before anything is sent."""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from config.scenario import load_scenario
from orchestration.cli import build_parser
from orchestration.streams import (
    COLUMNS,
    ROUND_LOTS,
    StreamError,
    StreamOptions,
    generate_stream,
    options_from_args,
    read_stream_file,
    validate_rows,
    write_stream,
)

SCENARIO = load_scenario()


def good_rows(n: int = 3) -> list[dict[str, object]]:
    return generate_stream(SCENARIO, ["pfof", "auction"], orders=n, seed=4)


def test_generate_stream_same_seed_and_options_same_stream():
    options = StreamOptions(orders=50, size_model="lognormal")

    first = generate_stream(SCENARIO, ["pfof"], seed=9, options=options)
    second = generate_stream(SCENARIO, ["pfof"], seed=9, options=options)

    assert first == second


def test_generate_stream_duration_keeps_arrivals_inside_it():
    rows = generate_stream(
        SCENARIO, ["pfof"], seed=1, options=StreamOptions(duration_s=2.0, rate_per_s=100)
    )

    times = [row["t_ns"] for row in rows]
    assert times == sorted(times) and times[-1] < 2_000_000_000
    assert 120 < len(rows) < 280  # Poisson(200)


def test_generate_stream_symbols_and_side_mix_are_respected():
    options = StreamOptions(orders=400, symbols=("ACME",), buy_share=0.25)

    rows = generate_stream(SCENARIO, ["pfof"], seed=2, options=options)

    assert {row["symbol"] for row in rows} == {"ACME"}
    buys = sum(row["side"] == "buy" for row in rows) / len(rows)
    assert 0.18 < buys < 0.32


def test_generate_stream_order_type_mix_has_nonmarketable_limits_away_from_touch():
    options = StreamOptions(
        orders=600, market_share=0.5, marketable_limit_share=0.3, nonmarketable_bps=12
    )

    rows = generate_stream(SCENARIO, ["pfof"], seed=3, options=options)

    offsets = collections.Counter(str(row["limit_offset_bps"]) for row in rows)
    assert set(offsets) == {"", "5.0", "-12"}
    assert 0.42 < offsets[""] / 600 < 0.58 and 0.13 < offsets["-12"] / 600 < 0.27
    validate_rows(rows, SCENARIO)


@pytest.mark.parametrize(
    ("options", "check"),
    [
        (StreamOptions(orders=300, sizes=(7, 70)), lambda q: set(q) == {7, 70}),
        (
            StreamOptions(orders=2000, size_model="lognormal", size_median=300),
            lambda q: 250 < np.median(q) < 360 and min(q) >= 1,
        ),
        (
            StreamOptions(orders=1000, size_model="round-lot", round_lot_share=0.9),
            lambda q: (
                0.85 < np.isin(q, ROUND_LOTS).mean() < 0.95 and max(x for x in q if x < 100) < 100
            ),
        ),
    ],
    ids=["fixed", "lognormal", "round-lot"],
)
def test_generate_stream_size_models(options, check):
    sizes = [row["qty"] for row in generate_stream(SCENARIO, ["pfof"], seed=5, options=options)]

    assert check(np.array(sizes))


@pytest.mark.parametrize(
    "options",
    [
        StreamOptions(orders=0),
        StreamOptions(symbols=("NOPE",)),
        StreamOptions(buy_share=1.5),
        StreamOptions(market_share=0.8, marketable_limit_share=0.5),
        StreamOptions(size_model="huge"),
    ],  # type: ignore[arg-type]
    ids=["orders", "symbols", "buy_share", "marketable_limit_share", "size_model"],
)
def test_generate_stream_bad_option_is_refused_naming_it(options, request):
    with pytest.raises(StreamError, match=request.node.callspec.id):
        generate_stream(SCENARIO, ["pfof"], options=options)


def test_options_from_args_reads_the_cli_flags():
    args = build_parser().parse_args(
        [
            "compare",
            "--duration",
            "3",
            "--symbols",
            "ACME,BOLT",
            "--size-model",
            "round-lot",
            "--sizes",
            "5,50",
            "--market-share",
            "0.4",
            "--marketable-limit-share",
            "0.4",
        ]
    )

    options = options_from_args(args)

    assert options.duration_s == 3.0 and options.symbols == ("ACME", "BOLT")
    assert (options.size_model, options.sizes, options.market_share) == ("round-lot", (5, 50), 0.4)


def test_stream_csv_round_trips_through_read_and_validate(tmp_path: Path):
    path = write_stream(good_rows(), tmp_path / "stream.csv")

    rows = read_stream_file(path)

    validate_rows(rows, SCENARIO)
    assert [row["order_id"] for row in rows] == [row["order_id"] for row in good_rows()]


def test_stream_parquet_with_timestamps_becomes_offsets(tmp_path: Path):
    frame = pd.DataFrame(good_rows()).drop(columns="t_ns")
    frame["timestamp"] = pd.to_datetime(
        ["2025-01-02 14:30:00.00", "2025-01-02 14:30:00.25", "2025-01-02 14:30:01.00"]
    )
    frame.to_parquet(tmp_path / "stream.parquet")

    rows = read_stream_file(tmp_path / "stream.parquet")

    assert [row["t_ns"] for row in rows] == [0, 250_000_000, 1_000_000_000]
    validate_rows(rows, SCENARIO)


def _csv_with(tmp_path: Path, row: int, column: str, value: object) -> Path:
    rows = good_rows()
    rows[row - 1][column] = value
    return write_stream(rows, tmp_path / "bad.csv")


@pytest.mark.parametrize(
    ("row", "column", "value", "reason"),
    [
        (2, "qty", "ten", "not an integer"),
        (3, "qty", "0", "must be > 0"),
        (2, "side", "short", "buy or sell"),
        (1, "symbol", "NOPE", "unknown symbol"),
        (3, "t_ns", "-5", ">= 0"),
        (2, "order_type", "stop", "market or limit"),
        (2, "regime", "barter", "not enabled"),
        (1, "order_id", "", "missing value"),
    ],
)
def test_bad_csv_row_is_refused_naming_row_and_column(tmp_path: Path, row, column, value, reason):
    path = _csv_with(tmp_path, row, column, value)

    with pytest.raises(StreamError, match=rf"row {row}, column '{column}': .*{reason}"):
        validate_rows(read_stream_file(path), SCENARIO)


def test_bad_parquet_cell_is_refused_naming_row_and_column(tmp_path: Path):
    frame = pd.DataFrame(good_rows())
    frame["qty"] = [100.0, 2.5, 10.0]
    frame.to_parquet(tmp_path / "bad.parquet")

    with pytest.raises(StreamError, match=r"row 2, column 'qty': not an integer"):
        validate_rows(read_stream_file(tmp_path / "bad.parquet"), SCENARIO)


def test_bad_timestamp_is_refused_naming_row_and_column(tmp_path: Path):
    frame = pd.DataFrame(good_rows()).drop(columns="t_ns")
    frame["timestamp"] = ["2025-01-02T14:30:00", "yesterday-ish", "2025-01-02T14:30:01"]
    frame.to_csv(tmp_path / "bad.csv", index=False)

    with pytest.raises(StreamError, match=r"row 2, column 'timestamp'"):
        read_stream_file(tmp_path / "bad.csv")


def test_stream_file_unknown_or_missing_column_is_refused(tmp_path: Path):
    pd.DataFrame(good_rows()).assign(colour="red").to_csv(tmp_path / "extra.csv", index=False)
    pd.DataFrame(good_rows()).drop(columns="qty").to_csv(tmp_path / "missing.csv", index=False)

    with pytest.raises(StreamError, match=r"unknown column.*colour"):
        read_stream_file(tmp_path / "extra.csv")
    with pytest.raises(StreamError, match=r"missing column.*qty"):
        read_stream_file(tmp_path / "missing.csv")


def test_stream_schema_columns_are_documented():
    doc = (Path(__file__).parents[2] / "docs" / "STREAMS.md").read_text()

    for column in (*COLUMNS, "timestamp"):
        assert f"`{column}`" in doc


def test_validate_rows_segmented_attributes_named_when_bad() -> None:
    good = {"t_ns": 0, "order_id": "a", "symbol": "ACME", "side": "buy", "qty": 1,
            "order_type": "market", "natural_person": "1", "avg_daily_trades": "12"}  # fmt: skip
    validate_rows([good], SCENARIO)
    with pytest.raises(StreamError, match="column 'natural_person'"):
        validate_rows([{**good, "natural_person": "yes"}], SCENARIO)
    with pytest.raises(StreamError, match="column 'avg_daily_trades'"):
        validate_rows([{**good, "avg_daily_trades": "-1"}], SCENARIO)
