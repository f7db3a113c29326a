"""Real market data in the tape's shape, so the lab's realism metrics run on it unchanged.

Two formats researchers have:

- **LOBSTER** (lobsterdata.com, "Output structure"): a message file ``TICKER_DATE_START_END_
  message_LEVEL.csv`` (time in seconds after midnight, event type, order id, size, price as
  dollars x 10,000, direction: 1 a buy limit order, -1 a sell limit order) and an order-book file
  with one row per message (ask price 1, ask size 1, bid price 1, bid size 1, ... ; an empty level
  carries the dummy prices 9999999999 / -9999999999 and size 0). Executions are event types 4
  (a visible limit order) and 5 (a hidden one); the execution of a sell (buy) limit order is a
  buyer- (seller-) initiated trade. NASDAQ masks the side of hidden executions, so type 5 trades
  are signed by the quote rule (above the prior mid a buy, below a sell, at it unknown). Cross
  trades (type 6) are auctions, not continuous trading, and are left out.
- **Trades and quotes CSV**, the simplest TAQ shape: ``trades.csv`` with ``time,symbol,price,
  size`` (and optionally ``side``: buy/sell, the aggressor) and ``quotes.csv`` with ``time,symbol,
  bid,ask,bid_size,ask_size``; ``time`` in ISO 8601 (UTC unless it says otherwise), prices in
  dollars. Trades without a side are signed by Lee & Ready (1991): the quote rule against the
  prevailing mid, the tick test for trades at the mid.

Both return ``{"nbbo": ..., "trades": ...}`` with the tape's columns: integer micro-dollar prices
and integer nanosecond times.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

LOBSTER_NAME = re.compile(
    r"(?P<ticker>[^_/]+)_(?P<date>\d{4}-\d{2}-\d{2})_\d+_\d+_(message|orderbook)"
)
LOBSTER_EMPTY = 9_999_999_999
MICROS_PER_LOBSTER_UNIT = 100  # LOBSTER prices are dollars x 10,000; micro-dollars are x 10^6
NBBO_COLUMNS = ["symbol", "ts_ns", "bid_px", "bid_qty", "ask_px", "ask_qty"]
TRADE_COLUMNS = ["venue", "symbol", "ts_ns", "price", "qty", "aggressor"]
LOBSTER_MESSAGE_COLUMNS = ["time", "type", "order_id", "size", "price", "direction"]


class RealDataError(ValueError):
    """A file that is not in the format it was read as (the message names file and field)."""


def read_lobster(
    message: Path, orderbook: Path, symbol: str | None = None, date: str | None = None
) -> dict[str, pd.DataFrame]:
    """A LOBSTER message/order-book pair as ``nbbo`` and ``trades`` tables (the ticker and date
    from the file name unless given; times are taken as UTC, only differences matter here)."""
    msgs, nbbo = read_lobster_messages(message, orderbook, symbol, date)
    return {"nbbo": nbbo, "trades": lobster_trades(msgs, nbbo)}


def lobster_trades(msgs: pd.DataFrame, nbbo: pd.DataFrame) -> pd.DataFrame:
    """The executions (types 4 and 5) among ``read_lobster_messages``' messages, in their order,
    as the tape's ``trades`` (``aggressor`` empty where the quote rule cannot tell)."""
    kind = msgs["type"].to_numpy("int64")
    executed = np.isin(kind, (4, 5))
    mid_before = _mid_before(nbbo)
    price = msgs["price"].to_numpy("int64") * MICROS_PER_LOBSTER_UNIT
    direction = msgs["direction"].to_numpy("int64")
    visible = np.where(direction == -1, "buy", np.where(direction == 1, "sell", ""))
    quoted = _quote_rule(price.astype(float), mid_before)
    aggressor = np.where(kind == 4, visible, quoted)
    return pd.DataFrame(
        {
            "venue": "lobster",
            "symbol": nbbo["symbol"].to_numpy()[executed],
            "ts_ns": msgs["ts_ns"].to_numpy("int64")[executed],
            "price": price[executed],
            "qty": msgs["size"].to_numpy("int64")[executed],
            "aggressor": aggressor[executed],
        }
    )


def read_lobster_messages(
    message: Path, orderbook: Path, symbol: str | None = None, date: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The messages (LOBSTER's six columns and ``ts_ns``) and the NBBO after each message (one
    row per message, in the tape's ``nbbo`` columns); a bad cell is named by file, line and
    column."""
    named = LOBSTER_NAME.search(Path(message).name)
    symbol = symbol or (named["ticker"] if named else None)
    date = date or (named["date"] if named else None)
    if symbol is None or date is None:
        raise RealDataError(f"{message}: name the ticker and date (not in the file name)")
    msgs = _read_csv(message, LOBSTER_MESSAGE_COLUMNS)
    for column in LOBSTER_MESSAGE_COLUMNS:
        msgs[column] = _numbers(msgs, column, message, integer=column != "time")
    wrong = ~msgs["direction"].isin((1, -1))
    if wrong.any():
        line = int(np.argmax(wrong.to_numpy()))
        value = msgs["direction"].iloc[line]
        raise RealDataError(
            f"{message}: line {line + 1}, column 'direction': must be 1 or -1, got {value}"
        )
    book = _read_csv(orderbook, None)
    if len(book) != len(msgs) or book.shape[1] < 4 or book.shape[1] % 4:
        raise RealDataError(
            f"{orderbook}: expected one row of 4 x levels columns per message "
            f"({len(msgs)} messages, {len(book)} rows x {book.shape[1]} columns)"
        )
    names = ("ask price 1", "ask size 1", "bid price 1", "bid size 1")
    ask, ask_qty, bid, bid_qty = (
        _numbers(book, i, orderbook, integer=True, label=f"{i + 1} ({names[i]})").to_numpy("int64")
        for i in range(4)
    )
    midnight = pd.Timestamp(date, tz="UTC").value
    msgs["ts_ns"] = midnight + np.round(msgs["time"].to_numpy(float) * 1e9).astype("int64")
    nbbo = pd.DataFrame(
        {
            "symbol": symbol,
            "ts_ns": msgs["ts_ns"].to_numpy("int64"),
            "bid_px": _prices(bid, bid > -LOBSTER_EMPTY),
            "bid_qty": np.where(bid > -LOBSTER_EMPTY, bid_qty, 0),
            "ask_px": _prices(ask, ask < LOBSTER_EMPTY),
            "ask_qty": np.where(ask < LOBSTER_EMPTY, ask_qty, 0),
        }
    )
    return msgs, nbbo


def _mid_before(nbbo: pd.DataFrame) -> np.ndarray:
    """The NBBO midpoint before each message: the previous row's (NaN for the first message
    and wherever a side was empty)."""
    before = nbbo.shift(1)
    both = before["bid_px"].astype("Float64") + before["ask_px"].astype("Float64")
    return both.to_numpy(float, na_value=np.nan) / 2


def read_taq(trades_csv: Path, quotes_csv: Path) -> dict[str, pd.DataFrame]:
    """A trades CSV and a quotes CSV as ``nbbo`` and ``trades`` tables (see the module doc)."""
    quotes = _read_csv(
        quotes_csv, ["time", "symbol", "bid", "ask", "bid_size", "ask_size"], header=True
    )
    prints = _read_csv(trades_csv, ["time", "symbol", "price", "size"], header=True)

    def number(frame: pd.DataFrame, column: str, path: Path, integer: bool = False) -> pd.Series:
        return _numbers(frame, column, path, integer=integer, first_line=2)

    nbbo = pd.DataFrame(
        {
            "symbol": quotes["symbol"].astype(str),
            "ts_ns": _times(quotes["time"], quotes_csv),
            "bid_px": _dollars(number(quotes, "bid", quotes_csv)),
            "bid_qty": number(quotes, "bid_size", quotes_csv, integer=True).astype("int64"),
            "ask_px": _dollars(number(quotes, "ask", quotes_csv)),
            "ask_qty": number(quotes, "ask_size", quotes_csv, integer=True).astype("int64"),
        }
    ).sort_values(["symbol", "ts_ns"], kind="stable")
    trades = pd.DataFrame(
        {
            "venue": "taq",
            "symbol": prints["symbol"].astype(str),
            "ts_ns": _times(prints["time"], trades_csv),
            "price": _dollars(number(prints, "price", trades_csv)),
            "qty": number(prints, "size", trades_csv, integer=True).astype("int64"),
        }
    ).sort_values(["symbol", "ts_ns"], kind="stable")
    if "side" in prints.columns:
        side = prints.loc[trades.index, "side"].astype(str).str.lower()
        trades["aggressor"] = side.where(side.isin(["buy", "sell"]), "").to_numpy()
    else:
        trades["aggressor"] = _lee_ready(trades, nbbo)
    return {"nbbo": nbbo.reset_index(drop=True), "trades": trades.reset_index(drop=True)}


def _lee_ready(trades: pd.DataFrame, nbbo: pd.DataFrame) -> np.ndarray:
    """Quote rule against the mid prevailing just before each trade; tick test at the mid."""
    out = np.full(len(trades), "", dtype=object)
    for symbol, group in trades.groupby("symbol", sort=False):
        quotes = nbbo[nbbo["symbol"] == symbol]
        ts = quotes["ts_ns"].to_numpy("int64")
        mids = (quotes["bid_px"].to_numpy(float) + quotes["ask_px"].to_numpy(float)) / 2
        at = np.searchsorted(ts, group["ts_ns"].to_numpy("int64"), side="left") - 1
        mid = np.where(at >= 0, mids[np.clip(at, 0, None)], np.nan) if len(ts) else np.nan
        price = group["price"].to_numpy(float)
        sides = _quote_rule(price, np.broadcast_to(mid, price.shape))
        last_change = 0.0  # tick test: the sign of the last nonzero price change
        for i in range(len(price)):
            if i and price[i] != price[i - 1]:
                last_change = np.sign(price[i] - price[i - 1])
            if sides[i] == "" and last_change:
                sides[i] = "buy" if last_change > 0 else "sell"
        out[trades.index.get_indexer(group.index)] = sides
    return out


def _quote_rule(price: np.ndarray, mid: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.where(price > mid, "buy", np.where(price < mid, "sell", "")).astype(object)


def _prices(raw: np.ndarray, present: np.ndarray) -> pd.Series:
    return (
        pd.Series(np.where(present, raw * MICROS_PER_LOBSTER_UNIT, 0))
        .where(present)
        .astype("Int64")
    )


def _dollars(column: pd.Series) -> np.ndarray:
    return np.round(pd.to_numeric(column).to_numpy(float) * 1e6).astype("int64")


def _times(column: pd.Series, path: Path) -> np.ndarray:
    try:
        stamps = pd.to_datetime(column, utc=True, format="ISO8601")
    except (ValueError, TypeError):
        for line, text in enumerate(column, start=2):  # name the first bad one (line 1: header)
            try:
                pd.to_datetime(str(text), utc=True, format="ISO8601")
            except (ValueError, TypeError):
                raise RealDataError(
                    f"{path}: line {line}, column 'time': not an ISO 8601 time: {text!r}"
                ) from None
        raise RealDataError(f"{path}: column 'time': not ISO 8601 times") from None
    # pandas infers the unit from the text (microseconds for "…00.5Z"): the tape's is nanoseconds
    return stamps.dt.as_unit("ns").astype("int64").to_numpy()


def _numbers(
    frame: pd.DataFrame,
    column: str | int,
    path: Path,
    *,
    integer: bool,
    first_line: int = 1,
    label: str | None = None,
) -> pd.Series:
    """A column as numbers; the first cell that is not one (or not whole, for ``integer``) is
    named by its line in the file (``first_line``: the line of the first data row)."""
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna()
    if integer:
        bad |= values != values.round()
    if bad.any():
        row = int(np.argmax(bad.to_numpy()))
        what = "an integer" if integer else "a number"
        raise RealDataError(
            f"{path}: line {row + first_line}, column {label or repr(column)}: "
            f"not {what}: {frame[column].iloc[row]!r}"
        )
    return values


def _read_csv(path: Path, columns: list[str] | None, header: bool = False) -> pd.DataFrame:
    """A CSV file (``header``: its first line names the columns, which must include
    ``columns``; else exactly ``columns``, or any number of them for ``None``)."""
    try:
        # text as written (numbers are converted by ``_numbers``, which quotes a bad cell as it
        # stands in the file), and no "NA"/"n/a" guessing: a ticker may be NA
        if header:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
            missing = [c for c in columns or [] if c not in frame.columns]
            if missing:
                raise RealDataError(f"{path}: missing columns {missing} (has {list(frame)})")
            return frame
        frame = pd.read_csv(path, header=None, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise RealDataError(f"{path}: cannot read: {e}") from e
    if columns is None:
        return frame
    if frame.shape[1] != len(columns):
        raise RealDataError(
            f"{path}: expected {len(columns)} columns ({', '.join(columns)}), got {frame.shape[1]}"
        )
    frame.columns = columns
    return frame
