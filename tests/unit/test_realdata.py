"""Real-data readers: LOBSTER and trades/quotes CSVs, on small files written here."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from orchestration.realdata import RealDataError, read_lobster, read_taq
from orchestration.realism import realism_table

MIDNIGHT_NS = pd.Timestamp("2012-06-21", tz="UTC").value
EMPTY = 9_999_999_999


def write_lobster(tmp_path: Path) -> tuple[Path, Path]:
    """Five messages of a one-level book (LOBSTER's documented layout): a new ask, a visible
    sell limit executed (a buyer-initiated trade), a visible buy limit executed (seller-
    initiated), a hidden execution above the prior mid (a buy by the quote rule), a deletion."""
    message = tmp_path / "AAPL_2012-06-21_34200000_57600000_message_1.csv"
    orderbook = tmp_path / "AAPL_2012-06-21_34200000_57600000_orderbook_1.csv"
    message.write_text(
        "34200.000000001,1,11,100,5855000,-1\n"
        "34200.5,4,11,40,5855000,-1\n"
        "34201.25,4,7,30,5850000,1\n"
        "34202,5,0,10,5854000,1\n"
        "34203,3,11,60,5855000,-1\n"
    )
    orderbook.write_text(
        "5855000,100,5850000,200\n"
        "5855000,60,5850000,200\n"
        "5855000,60,5850000,170\n"
        "5855000,60,5850000,170\n"
        f"{EMPTY},0,5850000,170\n"
    )
    return message, orderbook


def test_lobster_prices_times_and_trade_signs(tmp_path: Path) -> None:
    tables = read_lobster(*write_lobster(tmp_path))
    nbbo, trades = tables["nbbo"], tables["trades"]
    # $585.50 is 5,855,000 in LOBSTER's dollars x 10^4, 585,500,000 micro-dollars
    assert nbbo["ask_px"].iloc[0] == 585_500_000 and nbbo["bid_px"].iloc[0] == 585_000_000
    assert nbbo["ts_ns"].iloc[0] == MIDNIGHT_NS + 34_200 * 10**9 + 1
    assert pd.isna(nbbo["ask_px"].iloc[4]) and nbbo["ask_qty"].iloc[4] == 0  # empty level
    assert (nbbo["symbol"] == "AAPL").all()
    assert trades["qty"].tolist() == [40, 30, 10]
    assert trades["price"].tolist() == [585_500_000, 585_000_000, 585_400_000]
    # sell limit executed -> buy; buy limit executed -> sell; hidden at 585.40 > mid 585.25 -> buy
    assert trades["aggressor"].tolist() == ["buy", "sell", "buy"]
    assert trades["ts_ns"].tolist()[1] == MIDNIGHT_NS + 34_201_250_000_000


def test_lobster_book_rows_must_match_messages(tmp_path: Path) -> None:
    message, orderbook = write_lobster(tmp_path)
    orderbook.write_text("5855000,100,5850000,200\n")
    with pytest.raises(RealDataError, match="one row of 4 x levels columns per message"):
        read_lobster(message, orderbook)


def test_taq_lee_ready_signs_trades_without_a_side(tmp_path: Path) -> None:
    quotes = tmp_path / "quotes.csv"
    trades = tmp_path / "trades.csv"
    quotes.write_text(
        "time,symbol,bid,ask,bid_size,ask_size\n"
        "2024-03-01T14:30:00Z,XYZ,10.00,10.02,500,300\n"
        "2024-03-01T14:30:02Z,XYZ,10.01,10.03,400,300\n"
    )
    # at 10.02 above mid 10.01: buy; at 10.00 below: sell; at the mid 10.01 after a rise from
    # 10.00: buy (tick test); at 10.03 above the new mid 10.02: buy; at 10.02 = mid, down: sell
    trades.write_text(
        "time,symbol,price,size\n"
        "2024-03-01T14:30:00.5Z,XYZ,10.02,100\n"
        "2024-03-01T14:30:01Z,XYZ,10.00,200\n"
        "2024-03-01T14:30:01.5Z,XYZ,10.01,100\n"
        "2024-03-01T14:30:03Z,XYZ,10.03,100\n"
        "2024-03-01T14:30:04Z,XYZ,10.02,100\n"
    )
    tables = read_taq(trades, quotes)
    assert tables["trades"]["aggressor"].tolist() == ["buy", "sell", "buy", "buy", "sell"]
    assert tables["trades"]["price"].tolist()[0] == 10_020_000
    assert tables["nbbo"]["bid_qty"].tolist() == [500, 400]
    assert tables["trades"]["ts_ns"].iloc[0] == pd.Timestamp("2024-03-01T14:30:00.5Z").value


def test_taq_side_column_wins_over_lee_ready(tmp_path: Path) -> None:
    quotes = tmp_path / "q.csv"
    trades = tmp_path / "t.csv"
    quotes.write_text(
        "time,symbol,bid,ask,bid_size,ask_size\n2024-03-01T14:30:00Z,XYZ,10,10.02,1,1\n"
    )
    trades.write_text("time,symbol,price,size,side\n2024-03-01T14:30:01Z,XYZ,10.02,5,SELL\n")
    assert read_taq(trades, quotes)["trades"]["aggressor"].tolist() == ["sell"]


def test_taq_missing_column_is_named(tmp_path: Path) -> None:
    quotes = tmp_path / "q.csv"
    trades = tmp_path / "t.csv"
    quotes.write_text("time,symbol,bid,ask\n2024-03-01T14:30:00Z,XYZ,10,10.02\n")
    trades.write_text("time,symbol,price,size\n2024-03-01T14:30:01Z,XYZ,10.02,5\n")
    with pytest.raises(RealDataError, match=r"missing columns \['bid_size', 'ask_size'\]"):
        read_taq(trades, quotes)


def test_realism_runs_on_lobster_data(tmp_path: Path) -> None:
    table = realism_table(read_lobster(*write_lobster(tmp_path)))
    assert set(table["symbol"]) == {"AAPL"}
    signs = table[table["metric"] == "autocorrelation of trade signs"]
    assert signs["note"].str.startswith("not enough data").all()  # three trades
    # real data names no parents: the metaorder row says so, not that a lab had no institutions
    meta = table[table["metric"] == "exponent of metaorder impact against size"]
    assert meta["note"].tolist() == ["no metaorders in this data (only a lab's tape names parents)"]
