"""Real order arrivals as a retail stream: LOBSTER or trades-and-quotes data in, the rows of
docs/STREAMS.md out, so that real arrival times, sides and sizes drive the injector.

What counts as an arrival (docs/STREAMS.md, "Real arrivals"):

- **executions** (the default): each aggressive order seen in the data, as a *market* order on
  its aggressor's side. LOBSTER: the executions of type 4 (signed by the resting order's side)
  and 5 (hidden, signed by the quote rule; those at the mid are unsigned and skipped); the
  executions one aggressive order makes as it walks the book share one timestamp and one side,
  so consecutive executions with the same time and side are one order of their summed size.
  Trades and quotes: each trade is one order, signed by its ``side`` column or Lee & Ready.
- **submissions** (LOBSTER only): each new limit order (type 1) as a *limit* order priced
  relative to the NBBO, since the lab's prices are not the real ones: ``limit_offset_bps`` is
  how far the real limit price was through the real far touch just before it arrived
  (``(P / ask - 1) x 10^4`` for a buy, ``(1 - P / bid) x 10^4`` for a sell; > 0 marketable,
  < 0 away), which the injector applies to the lab's far touch when it sends the order.
  Cancellations and deletions are not replayed (a stream has no cancels): a day limit rests
  until it fills or the stream's close.
- **both**: the two together, in the data's order.

Times become offsets from the first arrival kept, divided by ``speed``; ``window_s`` keeps the
arrivals between two times, in seconds after the data's first event. Sizes are multiplied by
``size_scale`` (rounded, at least 1) and capped at ``max_qty``. Real symbols that are the
scenario's keep their names; the others take the scenario's symbols in turn, in order of first
appearance, unless ``symbol_map`` names them (then only the mapped ones are kept). Regimes are
left empty: ``flowlab compare`` assigns them at random, ``inject`` sends them to the broker's
first regime.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from config.scenario import Scenario
from orchestration.arrival_options import (
    OFFSET_BOUND_BPS,
    ArrivalError,
    ArrivalOptions,
    arrival_options_from_args,
)
from orchestration.realdata import (
    LOBSTER_NAME,
    MICROS_PER_LOBSTER_UNIT,
    RealDataError,
    lobster_trades,
    read_lobster_messages,
    read_taq,
)
from orchestration.streams import COLUMNS, write_stream

EVENT_COLUMNS = ["ts_ns", "seq", "symbol", "side", "qty", "order_type", "offset_bps"]


@dataclass
class Arrivals:
    """The stream rows, what was left out and why, and where each real symbol went."""

    rows: list[dict[str, object]]
    skipped: dict[str, int] = field(default_factory=dict)
    symbols: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        """One paragraph for the command line: counts, span, symbols, what was skipped."""
        markets = sum(1 for row in self.rows if row["order_type"] == "market")
        span = int(self.rows[-1]["t_ns"]) / 1e9 if self.rows else 0.0  # type: ignore[call-overload]
        mapped = ", ".join(f"{real} -> {lab}" for real, lab in self.symbols.items()) or "none"
        text = (
            f"{len(self.rows):,} orders ({markets:,} market, {len(self.rows) - markets:,} "
            f"limit) over {span:,.3f} s; symbols {mapped}"
        )
        if self.skipped:
            text += "; skipped " + ", ".join(f"{n:,} {why}" for why, n in self.skipped.items())
        return text


def lobster_arrivals(
    message: Path,
    orderbook: Path,
    scenario: Scenario,
    options: ArrivalOptions | None = None,
    ticker: str | None = None,
) -> Arrivals:
    """The arrivals of a LOBSTER message/order-book pair (the ticker from the file name, or
    ``ticker``, or ``LOBSTER`` when neither names it: it only matters to ``symbol_map``)."""
    options = options or ArrivalOptions()
    options.check(scenario)
    named = LOBSTER_NAME.search(Path(message).name) is not None
    try:
        msgs, nbbo = read_lobster_messages(
            message,
            orderbook,
            ticker or (None if named else "LOBSTER"),
            None if named else "1970-01-01",  # only differences of times matter here
        )
    except RealDataError as e:
        raise ArrivalError(str(e)) from e
    first_ns = int(msgs["ts_ns"].iloc[0]) if len(msgs) else 0
    parts, skipped = [], {}
    if options.events in ("executions", "both"):
        executed = np.flatnonzero(msgs["type"].isin((4, 5)).to_numpy())
        trades = lobster_trades(msgs, nbbo).assign(seq=executed)
        skipped["unsigned executions"] = int((trades["aggressor"] == "").sum())
        parts.append(_merge_sweeps(trades[trades["aggressor"] != ""]))
    if options.events in ("submissions", "both"):
        submissions, why = _submissions(msgs, nbbo, options.max_away_bps)
        parts.append(submissions)
        skipped.update(why)
    return _to_rows(pd.concat(parts, ignore_index=True), first_ns, scenario, options, skipped)


def taq_arrivals(
    trades_csv: Path, quotes_csv: Path, scenario: Scenario, options: ArrivalOptions | None = None
) -> Arrivals:
    """The arrivals of a trades/quotes CSV pair: each trade a market order on its aggressor's
    side (``events`` must be ``executions``: these files have no order submissions)."""
    options = options or ArrivalOptions()
    options.check(scenario)
    if options.events != "executions":
        raise ArrivalError(
            f"arrival options: events={options.events!r}: a trades-and-quotes pair has only "
            "executions (trades); submissions need LOBSTER messages"
        )
    try:
        trades = read_taq(trades_csv, quotes_csv)["trades"]
    except RealDataError as e:
        raise ArrivalError(str(e)) from e
    trades = trades.sort_values("ts_ns", kind="stable").reset_index(drop=True)
    first_ns = int(trades["ts_ns"].iloc[0]) if len(trades) else 0
    signed = trades["aggressor"] != ""
    skipped = {"unsigned trades": int((~signed).sum())}
    events = trades[signed].assign(
        seq=np.flatnonzero(signed.to_numpy()),
        side=lambda t: t["aggressor"],
        order_type="market",
        offset_bps=np.nan,
    )
    return _to_rows(events[EVENT_COLUMNS], first_ns, scenario, options, skipped)


def _merge_sweeps(trades: pd.DataFrame) -> pd.DataFrame:
    """Consecutive executions with one timestamp and one aggressor side: one order (a market
    order walking the book), its size their sum, its place the first one's."""
    new_order = (trades["ts_ns"].diff() != 0) | (trades["aggressor"] != trades["aggressor"].shift())
    order = new_order.cumsum()
    merged = trades.groupby(order, sort=False).agg(
        ts_ns=("ts_ns", "first"),
        seq=("seq", "first"),
        symbol=("symbol", "first"),
        side=("aggressor", "first"),
        qty=("qty", "sum"),
    )
    return merged.assign(order_type="market", offset_bps=np.nan)[EVENT_COLUMNS]


def _submissions(
    msgs: pd.DataFrame, nbbo: pd.DataFrame, max_away_bps: float
) -> tuple[pd.DataFrame, dict[str, int]]:
    """New limit orders (type 1) priced as bps through the far touch just before each."""
    before = nbbo.shift(1)  # the book just before a message: the row of the message before
    new = (msgs["type"] == 1).to_numpy()
    buy = (msgs["direction"] == 1).to_numpy()
    price = msgs["price"].to_numpy(float) * MICROS_PER_LOBSTER_UNIT
    ask = before["ask_px"].astype("Float64").to_numpy(float, na_value=np.nan)
    bid = before["bid_px"].astype("Float64").to_numpy(float, na_value=np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        offset = np.where(buy, (price / ask - 1.0) * 1e4, (1.0 - price / bid) * 1e4)
    quoted = new & ~np.isnan(offset)
    inside = quoted & (offset > -max_away_bps) & (offset < OFFSET_BOUND_BPS)
    frame = pd.DataFrame(
        {
            "ts_ns": msgs["ts_ns"].to_numpy("int64")[inside],
            "seq": np.flatnonzero(inside),
            "symbol": nbbo["symbol"].to_numpy()[inside],
            "side": np.where(buy, "buy", "sell")[inside],
            "qty": msgs["size"].to_numpy("int64")[inside],
            "order_type": "limit",
            "offset_bps": np.round(offset[inside], 4),
        }
    )
    skipped = {
        "submissions without a far touch before them": int((new & ~quoted).sum()),
        "submissions too far from the touch": int((quoted & ~inside).sum()),
    }
    return frame, skipped


def _to_rows(
    events: pd.DataFrame,
    first_ns: int,
    scenario: Scenario,
    options: ArrivalOptions,
    skipped: dict[str, int],
) -> Arrivals:
    """Window, symbols, sizes, times and ids: the events (``EVENT_COLUMNS``) as stream rows."""
    events = events.sort_values(["ts_ns", "seq"], kind="stable")
    start, end = options.window_s
    since = (events["ts_ns"] - first_ns) / 1e9
    inside = (since >= start) & (since < end if end is not None else True)
    skipped["outside the window"] = int((~inside).sum())
    events = events[inside]
    symbols = _symbol_map(list(dict.fromkeys(events["symbol"])), scenario, options.symbol_map)
    mapped = events["symbol"].isin(symbols)
    skipped["of symbols not mapped"] = int((~mapped).sum())
    events = events[mapped]
    qty = np.maximum(1, np.round(events["qty"].to_numpy(float) * options.size_scale))
    if options.max_qty is not None:
        qty = np.minimum(qty, options.max_qty)
    t0 = int(events["ts_ns"].iloc[0]) if len(events) else 0
    t_ns = np.round((events["ts_ns"].to_numpy("int64") - t0) / options.speed).astype("int64")
    events = events.assign(qty=qty.astype("int64"), t_ns=t_ns, symbol=events["symbol"].map(symbols))
    rows = [
        _row(f"{options.id_prefix}{i + 1:06d}", event, options.limit_tif)
        for i, event in enumerate(events.to_dict(orient="records"))
    ]
    return Arrivals(rows, {why: n for why, n in skipped.items() if n}, symbols)


def _row(order_id: str, event: dict, limit_tif: str) -> dict[str, object]:
    """One stream row (docs/STREAMS.md) of an event with its lab symbol, size and offset."""
    limit = event["order_type"] == "limit"
    return dict.fromkeys(COLUMNS, "") | {
        "t_ns": int(event["t_ns"]),
        "order_id": order_id,
        "symbol": event["symbol"],
        "side": event["side"],
        "qty": int(event["qty"]),
        "order_type": event["order_type"],
        "limit_offset_bps": float(event["offset_bps"]) if limit else "",
        "tif": limit_tif if limit else "",
    }


def _symbol_map(
    real: list[str], scenario: Scenario, explicit: tuple[tuple[str, str], ...]
) -> dict[str, str]:
    """Real symbol -> lab symbol: as given, else the scenario's own names kept and the rest
    dealt the scenario's symbols in turn (in order of first appearance)."""
    if explicit:
        return {name: lab for name, lab in explicit if name in real}
    lab = scenario.symbol_names
    others = iter(range(len(real)))
    return {name: name if name in lab else lab[next(others) % len(lab)] for name in real}


def save_stream(rows: list[dict[str, object]], path: Path) -> Path:
    """Write rows as a stream file: Parquet for a ``.parquet`` name (typed columns, empty cells
    null), else CSV."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() != ".parquet":
        return write_stream(rows, path)
    frame = pd.DataFrame(rows, columns=list(COLUMNS)).astype(object)
    frame = frame.where(frame != "", None)
    for column in ("t_ns", "qty", "limit_price", "avg_daily_trades"):
        frame[column] = frame[column].astype("Int64")
    frame["limit_offset_bps"] = frame["limit_offset_bps"].astype("Float64")
    for column in ("regime", "strategy", "tif", "informed", "natural_person"):
        frame[column] = frame[column].astype("string")
    frame.to_parquet(path, index=False)
    return path


def arrivals_from_args(
    args: argparse.Namespace, scenario: Scenario, id_prefix: str = "A"
) -> Arrivals:
    """The arrivals of ``--lobster`` or ``--taq`` with the converter's flags; refuses two
    sources at once (``--file`` among them), none, and data that leaves no arrival to send."""
    given = {
        f"--{name}": value for name in ("lobster", "taq", "file") if (value := vars(args).get(name))
    }
    if len(given) > 1:
        raise ArrivalError(f"give one stream source, not {' and '.join(given)}")
    options = arrival_options_from_args(args, scenario, id_prefix)
    if "--lobster" in given:
        message, orderbook = (Path(p) for p in given["--lobster"])
        arrivals = lobster_arrivals(message, orderbook, scenario, options, vars(args).get("ticker"))
    elif "--taq" in given:
        trades, quotes = (Path(p) for p in given["--taq"])
        arrivals = taq_arrivals(trades, quotes, scenario, options)
    else:
        raise ArrivalError("give --lobster MESSAGE ORDERBOOK or --taq TRADES QUOTES")
    if not arrivals.rows:
        raise ArrivalError(f"no arrivals to send: {arrivals.describe()}")
    return arrivals
