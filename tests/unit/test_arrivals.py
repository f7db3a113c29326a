"""Real order arrivals as a stream: LOBSTER and trades/quotes files written here, every expected
time, side, size and offset worked out by hand from the files."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.scenario import load_scenario
from orchestration import cli
from orchestration.arrival_options import ArrivalError, ArrivalOptions, parse_symbol_map
from orchestration.arrivals import lobster_arrivals, save_stream, taq_arrivals
from orchestration.streams import read_stream_file, validate_rows

SCENARIO = load_scenario(None)  # symbols ACME, BOLT, CRUX
EMPTY = 9_999_999_999

# A one-level book (LOBSTER: time, type, order id, size, price in dollars x 10^4, direction;
# the order book row after each message: ask, ask size, bid, bid size). Before the file: a bid
# of 99.90 x 200 and an ask of 100.00 x 40 (order 3).
MESSAGES = [
    "34200.0,1,1,60,1000000,-1",  # 1 sell limit 100.00: no book before the first message
    "34200.1,1,2,50,999500,1",  # 2 buy limit 99.95 under the ask 100.00: -5 bps
    "34200.25,4,3,40,1000000,-1",  # 3 a buy takes the ask: 40 ...
    "34200.25,4,1,60,1000000,-1",  # 4 ... and 60 more at the same time: one order of 100
    "34200.25,4,2,50,999500,1",  # 5 a sell hits the bid at that time: a second order
    "34201.0,1,4,200,1001000,-1",  # 6 sell 100.10, ask empty, bid 99.90: far touch the bid
    "34201.5,1,5,30,1000500,1",  # 7 buy 100.05 under the ask 100.10
    "34202.0,5,0,10,1000800,1",  # 8 hidden at 100.08 above the mid 100.075: a buy
    "34202.5,5,0,10,1000750,1",  # 9 hidden at the mid 100.075: unsigned
    "34203.0,2,4,100,1001000,-1",  # 10 a partial cancel: not an arrival
    "34204.0,1,6,100,950000,1",  # 11 buy 95.00 under the ask 100.10
]
BOOK = [
    "1000000,100,999000,200",
    "1000000,100,999500,50",
    "1000000,60,999500,50",
    f"{EMPTY},0,999500,50",
    f"{EMPTY},0,999000,200",
    "1001000,200,999000,200",
    "1001000,200,1000500,30",
    "1001000,200,1000500,30",
    "1001000,200,1000500,30",
    "1001000,100,1000500,30",
    "1001000,100,1000500,30",
]
# offsets through the far touch, by hand: (P / ask - 1) x 10^4 for a buy, (1 - P / bid) x 10^4
# for a sell, rounded to 4 decimals
OFFSET_2 = -5.0  # 99.95 / 100.00
OFFSET_6 = -20.02  # 1 - 100.10 / 99.90 = -0.0020020
OFFSET_7 = -4.995  # 100.05 / 100.10 - 1 = -0.00049950
OFFSET_11 = -509.4905  # 95.00 / 100.10 - 1 = -0.0509491


def write_lobster(folder: Path, messages: list[str] = MESSAGES) -> tuple[Path, Path]:
    message = folder / "AAPL_2012-06-21_34200000_57600000_message_1.csv"
    orderbook = folder / "AAPL_2012-06-21_34200000_57600000_orderbook_1.csv"
    message.write_text("\n".join(messages) + "\n")
    orderbook.write_text("\n".join(BOOK) + "\n")
    return message, orderbook


def with_line(number: int, text: str) -> list[str]:
    """MESSAGES with line ``number`` (from 1) replaced by ``text``."""
    return [text if i == number else line for i, line in enumerate(MESSAGES, start=1)]


def brief(rows: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return [
        (r["t_ns"], r["symbol"], r["side"], r["qty"], r["order_type"], r["limit_offset_bps"])
        for r in rows
    ]


def test_lobster_executions_become_market_orders_one_per_sweep(tmp_path: Path) -> None:
    arrivals = lobster_arrivals(*write_lobster(tmp_path), SCENARIO)

    # messages 3 and 4 (same time, both buys) are one order of 100; 5 is a sell at that time;
    # 8 a hidden buy 1.75 s later; 9 is unsigned; times from the first arrival kept (34200.25)
    assert brief(arrivals.rows) == [
        (0, "ACME", "buy", 100, "market", ""),
        (0, "ACME", "sell", 50, "market", ""),
        (1_750_000_000, "ACME", "buy", 10, "market", ""),
    ]
    assert [r["order_id"] for r in arrivals.rows] == ["A000001", "A000002", "A000003"]
    assert all(r["tif"] == "" and r["regime"] == "" for r in arrivals.rows)
    assert arrivals.skipped == {"unsigned executions": 1}
    assert arrivals.symbols == {"AAPL": "ACME"}  # not a lab symbol: the scenario's first


def test_lobster_submissions_become_limits_priced_from_the_far_touch(tmp_path: Path) -> None:
    options = ArrivalOptions(events="submissions", limit_tif="ioc")

    arrivals = lobster_arrivals(*write_lobster(tmp_path), SCENARIO, options)

    # from message 2 at 34200.1: 6 at +0.9 s, 7 at +1.4 s, 11 at +3.9 s; message 1 has no book
    # before it
    assert brief(arrivals.rows) == [
        (0, "ACME", "buy", 50, "limit", OFFSET_2),
        (900_000_000, "ACME", "sell", 200, "limit", OFFSET_6),
        (1_400_000_000, "ACME", "buy", 30, "limit", OFFSET_7),
        (3_900_000_000, "ACME", "buy", 100, "limit", OFFSET_11),
    ]
    assert {r["tif"] for r in arrivals.rows} == {"ioc"}
    assert arrivals.skipped == {"submissions without a far touch before them": 1}


def test_lobster_both_interleaves_in_time_and_far_limits_can_be_left_out(
    tmp_path: Path,
) -> None:
    options = ArrivalOptions(events="both", max_away_bps=500.0)

    arrivals = lobster_arrivals(*write_lobster(tmp_path), SCENARIO, options)

    # from 34200.1: the limit, the two market orders at +0.15 s, limits at +0.9 and +1.4 s,
    # the hidden buy at +1.9 s; message 11 (509 bps away) is past the 500 bps limit
    assert [(r["t_ns"], r["side"], r["order_type"]) for r in arrivals.rows] == [
        (0, "buy", "limit"),
        (150_000_000, "buy", "market"),
        (150_000_000, "sell", "market"),
        (900_000_000, "sell", "limit"),
        (1_400_000_000, "buy", "limit"),
        (1_900_000_000, "buy", "market"),
    ]
    assert arrivals.skipped == {
        "unsigned executions": 1,
        "submissions without a far touch before them": 1,
        "submissions too far from the touch": 1,
    }


def test_lobster_window_speed_and_sizes(tmp_path: Path) -> None:
    # the window [1, 3) s after the first message (34200.0): messages 6, 7 and 8; twice as
    # fast: +0.25 s and +0.5 s; sizes halved (200 -> 100, 30 -> 15, 10 -> 5), capped at 80
    options = ArrivalOptions(
        events="both", window_s=(1.0, 3.0), speed=2.0, size_scale=0.5, max_qty=80
    )

    arrivals = lobster_arrivals(*write_lobster(tmp_path), SCENARIO, options)

    assert [(r["t_ns"], r["qty"]) for r in arrivals.rows] == [
        (0, 80),
        (250_000_000, 15),
        (500_000_000, 5),
    ]
    assert arrivals.skipped["outside the window"] == 4  # 2 and 11, the two market orders


def test_sizes_round_to_at_least_one_share(tmp_path: Path) -> None:
    options = ArrivalOptions(size_scale=0.001)

    arrivals = lobster_arrivals(*write_lobster(tmp_path), SCENARIO, options)

    assert [r["qty"] for r in arrivals.rows] == [1, 1, 1]


def test_symbol_map_renames_and_keeps_only_the_mapped(tmp_path: Path) -> None:
    files = write_lobster(tmp_path)
    to_bolt = ArrivalOptions(symbol_map=parse_symbol_map("AAPL=BOLT"))
    only_msft = ArrivalOptions(symbol_map=parse_symbol_map("MSFT=ACME"))

    assert {r["symbol"] for r in lobster_arrivals(*files, SCENARIO, to_bolt).rows} == {"BOLT"}
    left = lobster_arrivals(*files, SCENARIO, only_msft)
    assert left.rows == [] and left.skipped["of symbols not mapped"] == 3


def test_a_symbol_map_to_a_symbol_the_scenario_lacks_is_refused(tmp_path: Path) -> None:
    options = ArrivalOptions(symbol_map=parse_symbol_map("AAPL=NOPE"))

    with pytest.raises(ArrivalError, match=r"invalid symbol_map .*scenario's symbols: ACME"):
        lobster_arrivals(*write_lobster(tmp_path), SCENARIO, options)
    with pytest.raises(ArrivalError, match=r"expected REAL=LAB pairs, got 'AAPL'"):
        parse_symbol_map("AAPL")


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (ArrivalOptions(speed=0.0), "speed"),
        (ArrivalOptions(window_s=(5.0, 2.0)), "window_s"),
        (ArrivalOptions(max_qty=0), "max_qty"),
        (ArrivalOptions(max_away_bps=20_000.0), "max_away_bps"),
    ],
)
def test_impossible_options_are_refused_by_name(
    tmp_path: Path, options: ArrivalOptions, named: str
) -> None:
    with pytest.raises(ArrivalError, match=rf"arrival options: invalid {named} "):
        lobster_arrivals(*write_lobster(tmp_path), SCENARIO, options)


def write_taq(folder: Path, trades: str) -> tuple[Path, Path]:
    quotes = folder / "quotes.csv"
    quotes.write_text(
        "time,symbol,bid,ask,bid_size,ask_size\n"
        "2024-03-01T14:30:00Z,XYZ,10.00,10.02,500,300\n"
        "2024-03-01T14:30:00Z,QQQ,400.00,400.04,100,100\n"
    )
    path = folder / "trades.csv"
    path.write_text(trades)
    return path, quotes


def test_taq_trades_become_market_orders_on_their_side(tmp_path: Path) -> None:
    # XYZ at 10.02 above its mid 10.01: a buy (Lee-Ready); QQQ at 400.00 below 400.02: a sell;
    # XYZ at 10.01, the mid, after a fall from 10.02: a sell (tick test); sizes as given
    files = write_taq(
        tmp_path,
        "time,symbol,price,size\n"
        "2024-03-01T14:30:00.250Z,XYZ,10.02,300\n"
        "2024-03-01T14:30:00.5Z,QQQ,400.00,7\n"
        "2024-03-01T14:30:02.25Z,XYZ,10.01,1200\n",
    )

    arrivals = taq_arrivals(*files, SCENARIO, ArrivalOptions(max_qty=1000))

    # XYZ first, so ACME; QQQ then BOLT (the scenario's symbols in turn)
    assert brief(arrivals.rows) == [
        (0, "ACME", "buy", 300, "market", ""),
        (250_000_000, "BOLT", "sell", 7, "market", ""),
        (2_000_000_000, "ACME", "sell", 1000, "market", ""),
    ]
    assert arrivals.symbols == {"XYZ": "ACME", "QQQ": "BOLT"}


def test_taq_unsigned_trades_are_left_out_and_lab_symbols_keep_their_names(
    tmp_path: Path,
) -> None:
    quotes = tmp_path / "q.csv"
    trades = tmp_path / "t.csv"
    quotes.write_text("time,symbol,bid,ask,bid_size,ask_size\n2024-03-01T14:30:00Z,CRUX,9,11,1,1\n")
    trades.write_text(
        "time,symbol,price,size,side\n"
        "2024-03-01T14:30:01Z,CRUX,11,5,buy\n"
        "2024-03-01T14:30:02Z,CRUX,10,5,\n"
    )

    arrivals = taq_arrivals(trades, quotes, SCENARIO)

    assert brief(arrivals.rows) == [(0, "CRUX", "buy", 5, "market", "")]
    assert arrivals.skipped == {"unsigned trades": 1}


def test_taq_has_no_submissions(tmp_path: Path) -> None:
    files = write_taq(tmp_path, "time,symbol,price,size\n2024-03-01T14:30:01Z,XYZ,10.02,5\n")

    with pytest.raises(ArrivalError, match="submissions need LOBSTER messages"):
        taq_arrivals(*files, SCENARIO, ArrivalOptions(events="submissions"))


def test_bad_lobster_cell_is_named_by_file_line_and_column(tmp_path: Path) -> None:
    message, orderbook = write_lobster(tmp_path, with_line(3, "34200.25,4,3,forty,1000000,-1"))

    with pytest.raises(ArrivalError, match=r"message_1.csv: line 3, column 'size': not an intege"):
        lobster_arrivals(message, orderbook, SCENARIO)
    write_lobster(tmp_path, with_line(3, "34200.25,4,3,40,1000000,0"))
    with pytest.raises(ArrivalError, match=r"line 3, column 'direction': must be 1 or -1, got 0"):
        lobster_arrivals(message, orderbook, SCENARIO)
    write_lobster(tmp_path)
    orderbook.write_text(orderbook.read_text().replace("999500,50", "n/a,50", 1))
    with pytest.raises(ArrivalError, match=r"line 2, column 3 \(bid price 1\): not an integer"):
        lobster_arrivals(message, orderbook, SCENARIO)


def test_bad_taq_cells_and_missing_files_are_named(tmp_path: Path) -> None:
    files = write_taq(
        tmp_path,
        "time,symbol,price,size\n2024-03-01T14:30:01Z,XYZ,10.02,5\nyesterday,XYZ,10.02,5\n",
    )
    with pytest.raises(ArrivalError, match=r"trades.csv: line 3, column 'time': not an ISO 8601"):
        taq_arrivals(*files, SCENARIO)
    files[0].write_text("time,symbol,price,size\n2024-03-01T14:30:01Z,XYZ,$10,5\n")
    with pytest.raises(ArrivalError, match=r"line 2, column 'price': not a number: '\$10'"):
        taq_arrivals(*files, SCENARIO)
    with pytest.raises(ArrivalError, match=r"nothing.csv: cannot read"):
        taq_arrivals(tmp_path / "nothing.csv", files[1], SCENARIO)


@pytest.mark.parametrize("name", ["stream.csv", "stream.parquet"])
def test_saved_stream_reads_back_and_passes_the_injectors_checks(tmp_path: Path, name: str) -> None:
    rows = lobster_arrivals(*write_lobster(tmp_path), SCENARIO, ArrivalOptions(events="both")).rows

    back = read_stream_file(save_stream(rows, tmp_path / name))

    validate_rows(back, SCENARIO)
    assert [int(str(r["t_ns"])) for r in back] == [r["t_ns"] for r in rows]
    assert [str(r["limit_offset_bps"]) for r in back] == [str(r["limit_offset_bps"]) for r in rows]
    assert [r["side"] for r in back] == [r["side"] for r in rows]


def test_cli_stream_writes_a_stream_file_and_says_what_it_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    message, orderbook = write_lobster(tmp_path)
    out = tmp_path / "real" / "stream.parquet"
    argv = ["stream", "--lobster", str(message), str(orderbook), "--out", str(out)]

    code = cli.main([*argv, "--events", "both", "--symbol-map", "AAPL=CRUX", "--speed", "10"])

    assert code == 0
    text = capsys.readouterr().out
    assert "7 orders (3 market, 4 limit)" in text and "AAPL -> CRUX" in text
    rows = read_stream_file(out)
    assert {r["symbol"] for r in rows} == {"CRUX"}
    assert rows[-1]["t_ns"] == 390_000_000  # message 11, 3.9 s after message 2, ten times as fast


def test_cli_stream_bad_data_is_one_line_naming_file_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    message, orderbook = write_lobster(tmp_path, with_line(5, "34200.25,4,2,50,99.95,1"))
    out = tmp_path / "stream.csv"

    code = cli.main(["stream", "--lobster", str(message), str(orderbook), "--out", str(out)])

    err = capsys.readouterr().err
    assert code == 1 and not out.exists()
    assert err.startswith("flowlab stream: ") and "Traceback" not in err
    assert "message_1.csv: line 5, column 'price': not an integer: '99.95'" in err


def test_cli_stream_wants_exactly_one_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    message, orderbook = write_lobster(tmp_path)
    trades, quotes = write_taq(tmp_path, "time,symbol,price,size\n2024-03-01T14:30:01Z,X,1,5\n")
    out = str(tmp_path / "s.csv")

    both = ["--lobster", str(message), str(orderbook), "--taq", str(trades), str(quotes)]
    assert cli.main(["stream", *both, "--out", out]) == 1
    assert "give one stream source, not --lobster and --taq" in capsys.readouterr().err
    assert cli.main(["stream", "--out", out]) == 1
    assert "give --lobster MESSAGE ORDERBOOK or --taq TRADES QUOTES" in capsys.readouterr().err


def test_cli_compare_refuses_bad_real_data_before_any_lab_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    message, orderbook = write_lobster(tmp_path, with_line(1, "34200.0,1,1,60,1000000,2"))
    runs = tmp_path / "runs"
    argv = ["compare", "--runs", str(runs), "--no-live", "--lobster", str(message), str(orderbook)]

    assert cli.main(argv) == 1
    assert "line 1, column 'direction': must be 1 or -1, got 2" in capsys.readouterr().err
    assert cli.main([*argv, "--file", str(tmp_path / "s.csv")]) == 1
    assert "give one stream source, not --lobster and --file" in capsys.readouterr().err
    assert not runs.exists()  # no lab was started
