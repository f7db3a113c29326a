"""Reading a run's tape back and building the report tables from it.

The tape (``RUN_DIR/tape.msgpack``) is a concatenation of MessagePack arrays
``[service, recv_ns, payload]`` where ``payload`` is the wire encoding of a protocol message.
Anything else on it (garbage pushed to the recorder, an entry that does not decode, bytes that
are not MessagePack) is skipped and counted: the ``tape_anomalies`` table, one row each.
"""

from __future__ import annotations

import gzip
import io
import shutil
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import msgpack
import pandas as pd

from config.runconfig import RunConfig
from protocol.auctions import AuctionCompleted
from protocol.base import Message, Record
from protocol.codec import ALL_MESSAGE_TYPES, Decoder
from protocol.control import PnlReport
from protocol.dealers import DealerState, MarkupSettled
from protocol.errors import ProtocolError, excerpt
from protocol.marketdata import NBBO, Quote, Trade, ValueUpdate
from protocol.orders import (
    OrderCanceled,
    OrderFilled,
    OrderReceived,
    OrderRejected,
    OrderRouted,
    RoutingScorecard,
)

TAPE_FILE = "tape.msgpack"
# A finished run's tape, gzip-compressed (``compress_tape``): a sweep keeps its runs this way.
COMPRESSED_TAPE_FILE = TAPE_FILE + ".gz"
BP = 10_000  # shares, markups and rates on the wire are in basis points
_decoder = Decoder(ALL_MESSAGE_TYPES)


@dataclass(frozen=True)
class TapeAnomaly:
    """A tape entry ``read_tape`` skipped: its byte offset in the file and why."""

    offset: int
    reason: str


def read_tape(
    run_dir: Path, anomalies: list[TapeAnomaly] | None = None
) -> Iterator[tuple[str, int, Message]]:
    """Every tape entry as ``(service, recv_ns, message)`` in recording order.

    A malformed entry (not ``[service, recv_ns, payload]``, or a payload that does not decode)
    is skipped, and so is each byte that does not start a MessagePack value (reading resumes
    at the next one); each is appended to ``anomalies`` when given.
    """
    with _open_tape(Path(run_dir)) as (f, size):
        base = 0
        while True:
            f.seek(base)
            unpacker = msgpack.Unpacker(f, raw=False, max_buffer_size=1 << 30)
            pos = base
            try:
                for entry in unpacker:
                    start, pos = pos, base + unpacker.tell()
                    decoded = _entry(entry)
                    if isinstance(decoded, str):
                        if anomalies is not None:
                            anomalies.append(TapeAnomaly(start, decoded))
                        continue
                    yield decoded
                if pos < size and anomalies is not None:
                    anomalies.append(TapeAnomaly(pos, "truncated entry at the end of the tape"))
                return
            except (ValueError, TypeError, msgpack.UnpackException) as exc:
                if anomalies is not None:
                    anomalies.append(TapeAnomaly(pos, excerpt(f"not MessagePack: {exc}")))
                base = pos + 1


def compress_tape(run_dir: Path, level: int = 6) -> tuple[int, int]:
    """Replace a finished run's ``tape.msgpack`` by ``tape.msgpack.gz`` (``read_tape`` and
    ``build_tables`` read either); returns (bytes before, bytes after). Only for a stopped run:
    the recorder appends to the raw file while the lab runs."""
    raw = Path(run_dir) / TAPE_FILE
    packed = Path(run_dir) / COMPRESSED_TAPE_FILE
    partial = packed.with_suffix(".gz.partial")
    with raw.open("rb") as src, gzip.open(partial, "wb", compresslevel=level) as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    partial.replace(packed)  # the compressed tape exists whole before the raw one goes
    before = raw.stat().st_size
    raw.unlink()
    return before, packed.stat().st_size


@contextmanager
def _open_tape(run_dir: Path) -> Iterator[tuple[BinaryIO, int]]:
    """The run's tape, raw or compressed, as a seekable file and its (uncompressed) size."""
    raw = run_dir / TAPE_FILE
    if raw.exists() or not (run_dir / COMPRESSED_TAPE_FILE).exists():
        with raw.open("rb") as f:
            yield f, raw.stat().st_size
        return
    # whole into memory: the reader seeks back after a bad byte, which a gzip stream does slowly
    with gzip.open(run_dir / COMPRESSED_TAPE_FILE, "rb") as z:
        data = z.read()
    yield io.BytesIO(data), len(data)


def _entry(entry: object) -> tuple[str, int, Message] | str:
    """A tape entry decoded, or why it cannot be."""
    if not (
        isinstance(entry, list)
        and len(entry) == 3
        and isinstance(entry[0], str)
        and type(entry[1]) is int
        and isinstance(entry[2], bytes)
    ):
        return excerpt(f"not a [service, recv_ns, payload] entry: {entry!r}")
    service, recv_ns, payload = entry
    try:
        return service, recv_ns, _decoder.decode_payload(payload)
    except ProtocolError as exc:
        return f"payload from {excerpt(service, 64)!r}: {exc}"


# Every table built from the tape, in the order ``build_tables`` returns them: its columns, and
# the integer columns that may be null (pandas' nullable ``Int64``).
TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "orders": (
        (
            "order_id",
            "regime",
            "symbol",
            "side",
            "qty",
            "order_type",
            "limit_price",
            "recv_ns",
            "nbbo_bid",
            "nbbo_ask",
            "status",
            "filled_qty",
            "terminal_ns",
            "reason",
            "created_ns",
            "tif",
            "segmented",
            "auction_exemption",
            "best_bid",
            "best_ask",
        ),
        ("limit_price", "nbbo_bid", "nbbo_ask", "terminal_ns", "best_bid", "best_ask"),
    ),
    "fills": (
        (
            "order_id",
            "regime",
            "symbol",
            "side",
            "qty",
            "price",
            "ts_ns",
            "exec_ns",
            "destination",
            "liquidity",
            "fee",
            "pfof",
            "route",
            "commission",
            "exec_nbbo_bid",
            "exec_nbbo_ask",
        ),
        ("exec_nbbo_bid", "exec_nbbo_ask"),
    ),
    "routes": (
        (
            "router",
            "order_id",
            "child_id",
            "destination",
            "qty",
            "limit_price",
            "reason",
            "regime",
            "strategy",
            "wave",
            "best_price",
            "ts_ns",
        ),
        ("limit_price", "best_price"),
    ),
    "auctions": (
        (
            "auction_id",
            "symbol",
            "side",
            "qty",
            "filled_qty",
            "remainder_qty",
            "best_price",
            "responses",
            "responders",
            "winners",
            "nbbo_bid_start",
            "nbbo_ask_start",
            "nbbo_bid_end",
            "nbbo_ask_end",
            "start_ns",
            "end_ns",
            "through_nbbo",
        ),
        ("best_price", "nbbo_bid_end", "nbbo_ask_end"),
    ),
    "destination_fills": (
        (
            "service",
            "order_id",
            "symbol",
            "side",
            "qty",
            "price",
            "liquidity",
            "exec_ns",
            "recv_ns",
            "ts_ns",
            "fee",
            "pfof",
            "exec_id",
            "exec_nbbo_bid",
            "exec_nbbo_ask",
        ),
        ("exec_nbbo_bid", "exec_nbbo_ask"),
    ),
    "nbbo": (
        (
            "symbol",
            "seq",
            "ts_ns",
            "bid_px",
            "bid_qty",
            "ask_px",
            "ask_qty",
            "locked",
            "crossed",
            "best_bid_px",
            "best_ask_px",
        ),
        ("bid_px", "ask_px", "best_bid_px", "best_ask_px"),
    ),
    "quotes": (
        ("venue", "symbol", "seq", "ts_ns", "bid_px", "bid_qty", "ask_px", "ask_qty"),
        ("bid_px", "ask_px"),
    ),
    "trades": (("venue", "symbol", "ts_ns", "price", "qty", "aggressor", "trade_id"), ()),
    "values": (("symbol", "ts_ns", "value"), ()),
    "session": (("origin_ns", "day_s"), ()),
    "latency": (("order_id", "hop", "ns"), ()),
    "pnl": (("name", "role", "component", "usd"), ()),
    "markups": (
        (
            "dealer",
            "channel",
            "period",
            "ts_ns",
            "markup_share",
            "held_share",
            "shares",
            "reward_per_100_shares",
        ),
        (),
    ),
    "scorecards": (
        (
            "review",
            "ts_ns",
            "period_start_ns",
            "period_end_ns",
            "wholesaler",
            "orders",
            "shares",
            "improvement_per_share",
            "best_improvement_per_share",
            "improvement_share",
            "fill_rate",
            "flow_share",
            "demoted",
        ),
        (),
    ),
    "dealer_states": (
        (
            "dealer",
            "role",
            "channel",
            "ts_ns",
            "periods",
            "held_share",
            "grid_step_share",
            "plays",
        ),
        (),
    ),
    # Entries the reader skipped (``read_tape``): byte offset in tape.msgpack, and why.
    "tape_anomalies": (("offset", "reason"), ()),
}


@dataclass
class _Tape:
    """What ``build_tables`` gathers while it reads the tape: rows per table, and the client
    orders the broker received with what became of them (joined into ``orders`` at the end)."""

    broker: str
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    received: dict[str, dict[str, Any]] = field(default_factory=dict)
    terminal: dict[str, tuple[str, int, str | None]] = field(default_factory=dict)
    filled: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    reviews: int = 0  # the broker's scorecards seen so far


def _same_names(msg: Message | Record, columns: tuple[str, ...]) -> dict[str, Any]:
    """A row whose columns are the message's (or record's) fields of the same names."""
    return {name: getattr(msg, name) for name in columns}


def _order_received(tape: _Tape, service: str, msg: OrderReceived) -> None:
    if service != tape.broker:
        return
    tape.received[msg.order_id] = {
        "order_id": msg.order_id,
        "regime": msg.regime,
        "symbol": msg.symbol,
        "side": str(msg.side),
        "qty": msg.qty,
        "order_type": str(msg.order_type),
        "limit_price": msg.limit_price,
        "recv_ns": msg.recv_ns,
        "nbbo_bid": msg.nbbo_bid,
        "nbbo_ask": msg.nbbo_ask,
        "created_ns": msg.created_ns,
        "tif": str(msg.tif),
        "segmented": msg.segmented,
        "auction_exemption": msg.auction_exemption or "",
        "best_bid": msg.best_bid,
        "best_ask": msg.best_ask,
    }
    tape.rows["latency"].append(
        {"order_id": msg.order_id, "hop": "client->broker", "ns": msg.recv_ns - msg.created_ns}
    )


def _order_filled(tape: _Tape, service: str, msg: OrderFilled) -> None:
    """The broker's fills are the client's (``fills``); anyone else's are the executing
    destination's own (``destination_fills``)."""
    if service != tape.broker:
        tape.rows["destination_fills"].append(
            {
                "service": service,
                "order_id": msg.order_id,
                "symbol": msg.symbol,
                "side": str(msg.side),
                "qty": msg.fill_qty,
                "price": msg.fill_price,
                "liquidity": str(msg.liquidity),
                "exec_ns": msg.exec_ns,
                "recv_ns": msg.recv_ns,
                "ts_ns": msg.ts_ns,
                "fee": msg.fee,
                "pfof": msg.pfof,
                "exec_id": msg.exec_id,
                "exec_nbbo_bid": msg.nbbo_bid,
                "exec_nbbo_ask": msg.nbbo_ask,
            }
        )
        return
    tape.filled[msg.order_id] += msg.fill_qty
    tape.rows["fills"].append(
        {
            "order_id": msg.order_id,
            "symbol": msg.symbol,
            "side": str(msg.side),
            "qty": msg.fill_qty,
            "price": msg.fill_price,
            "ts_ns": msg.ts_ns,
            "exec_ns": msg.exec_ns,
            "destination": msg.venue,
            "liquidity": str(msg.liquidity),
            "fee": msg.fee,
            "pfof": msg.pfof,
            "route": msg.correlation_id or "",
            "commission": msg.commission,
            "exec_nbbo_bid": msg.nbbo_bid,
            "exec_nbbo_ask": msg.nbbo_ask,
        }
    )
    if msg.leaves_qty == 0:
        tape.terminal[msg.order_id] = ("filled", msg.ts_ns, None)


def _order_canceled(tape: _Tape, service: str, msg: OrderCanceled) -> None:
    if service == tape.broker:
        tape.terminal[msg.order_id] = ("canceled", msg.ts_ns, msg.reason)


def _order_rejected(tape: _Tape, service: str, msg: OrderRejected) -> None:
    if service == tape.broker:
        tape.terminal[msg.order_id] = ("rejected", msg.ts_ns, msg.reason)


def _order_routed(tape: _Tape, service: str, msg: OrderRouted) -> None:
    fields = ("order_id", "child_id", "destination", "qty", "limit_price", "reason", "regime")
    row = _same_names(msg, (*fields, "strategy", "wave", "best_price", "ts_ns"))
    tape.rows["routes"].append({"router": service, **row})


def _auction_completed(tape: _Tape, _service: str, msg: AuctionCompleted) -> None:
    tape.rows["auctions"].append(
        {
            "auction_id": msg.auction_id,
            "symbol": msg.symbol,
            "side": str(msg.side),
            "qty": msg.qty,
            "filled_qty": msg.filled_qty,
            "remainder_qty": msg.remainder_qty,
            "best_price": msg.best_price,
            "responses": msg.responses,
            "responders": ",".join(msg.responders),
            "winners": ",".join(a.responder for a in msg.allocations),
            "nbbo_bid_start": msg.nbbo_bid_start,
            "nbbo_ask_start": msg.nbbo_ask_start,
            "nbbo_bid_end": msg.nbbo_bid_end,
            "nbbo_ask_end": msg.nbbo_ask_end,
            "start_ns": msg.start_ns,
            "end_ns": msg.end_ns,
            "through_nbbo": msg.through_nbbo,
        }
    )


def _nbbo(tape: _Tape, _service: str, msg: NBBO) -> None:
    tape.rows["nbbo"].append(_same_names(msg, TABLES["nbbo"][0]))


def _quote(tape: _Tape, _service: str, msg: Quote) -> None:
    tape.rows["quotes"].append(_same_names(msg, TABLES["quotes"][0]))


def _trade(tape: _Tape, _service: str, msg: Trade) -> None:
    row = _same_names(msg, ("venue", "symbol", "ts_ns", "price", "qty", "trade_id"))
    tape.rows["trades"].append({**row, "aggressor": str(msg.aggressor) if msg.aggressor else None})


def _value_update(tape: _Tape, _service: str, msg: ValueUpdate) -> None:
    tape.rows["values"].append(_same_names(msg, TABLES["values"][0]))


def _pnl_report(tape: _Tape, _service: str, msg: PnlReport) -> None:
    for component, value in msg.components.items():
        tape.rows["pnl"].append(
            {"name": msg.name, "role": msg.role, "component": component, "usd": value / 1e6}
        )


def _markup_settled(tape: _Tape, _service: str, msg: MarkupSettled) -> None:
    tape.rows["markups"].append(
        {
            **_same_names(msg, ("dealer", "channel", "period", "ts_ns", "shares")),
            "markup_share": msg.markup_bp / BP,
            "held_share": msg.held_bp / BP,
            "reward_per_100_shares": msg.reward,
        }
    )


def _routing_scorecard(tape: _Tape, service: str, msg: RoutingScorecard) -> None:
    if service != tape.broker:  # the broker's own review, not a copy a wholesaler kept
        return
    review = tape.reviews
    tape.reviews += 1
    for entry in msg.entries:
        tape.rows["scorecards"].append(
            {
                "review": review,
                **_same_names(msg, ("ts_ns", "period_start_ns", "period_end_ns")),
                **_same_names(
                    entry,
                    (
                        "wholesaler",
                        "orders",
                        "shares",
                        "improvement_per_share",
                        "best_improvement_per_share",
                        "demoted",
                    ),
                ),
                "improvement_share": entry.improvement_bp / BP,
                "fill_rate": entry.fill_rate_bp / BP,
                "flow_share": entry.flow_share_bp / BP,
            }
        )


def _dealer_state(tape: _Tape, _service: str, msg: DealerState) -> None:
    gaps = [b - a for a, b in zip(msg.arms, msg.arms[1:], strict=False) if b > a]
    for channel in msg.channels:
        tape.rows["dealer_states"].append(
            {
                "dealer": msg.dealer,
                "role": msg.role,
                "channel": channel.channel,
                "ts_ns": msg.ts_ns,
                "periods": channel.periods,
                "held_share": msg.arms[channel.position] / BP,
                "grid_step_share": min(gaps, default=0) / BP,
                "plays": sum(channel.plays),
            }
        )


# The row builder of each message type the tables are built from; others are skipped.
ROW_BUILDERS: dict[type, Callable[[_Tape, str, Any], None]] = {
    OrderReceived: _order_received,
    OrderFilled: _order_filled,
    OrderCanceled: _order_canceled,
    OrderRejected: _order_rejected,
    OrderRouted: _order_routed,
    AuctionCompleted: _auction_completed,
    NBBO: _nbbo,
    Quote: _quote,
    Trade: _trade,
    ValueUpdate: _value_update,
    PnlReport: _pnl_report,
    MarkupSettled: _markup_settled,
    RoutingScorecard: _routing_scorecard,
    DealerState: _dealer_state,
}


def _finish(tape: _Tape) -> None:
    """Client orders with their final state; each fill's regime and latency."""
    orders = tape.rows["orders"]
    for order_id, row in tape.received.items():
        status, ts, reason = tape.terminal.get(order_id, ("open", None, None))
        orders.append(
            {
                **row,
                "status": status,
                "filled_qty": tape.filled.get(order_id, 0),
                "terminal_ns": ts,
                "reason": reason,
            }
        )
    regimes = {o["order_id"]: o["regime"] for o in orders}
    for fill in tape.rows["fills"]:
        fill["regime"] = regimes.get(fill["order_id"], "")
        tape.rows["latency"].append(
            {
                "order_id": fill["order_id"],
                "hop": "destination->broker",
                "ns": fill["ts_ns"] - fill["exec_ns"],
            }
        )


def _frame(
    rows: list[dict[str, Any]], columns: tuple[str, ...], ints: tuple[str, ...]
) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(columns))
    for column in ints:
        frame[column] = frame[column].astype("Int64")
    return frame


def build_tables(run_dir: Path, config: RunConfig) -> dict[str, pd.DataFrame]:
    """The run's tables: orders, fills, routes, auctions, destination_fills, nbbo, quotes,
    trades, values, session, latency, pnl, markups, scorecards, dealer_states, tape_anomalies
    (``TABLES``; columns and units in docs/TABLES.md)."""
    tape = _Tape(config.scenario.broker.name)
    anomalies: list[TapeAnomaly] = []
    for service, _recv_ns, msg in read_tape(run_dir, anomalies):
        build = ROW_BUILDERS.get(type(msg))
        if build is not None:
            build(tape, service, msg)
    _finish(tape)
    tape.rows["tape_anomalies"] = [{"offset": a.offset, "reason": a.reason} for a in anomalies]
    session = config.scenario.session
    if session.day_s > 0:  # the lab's day, for the realism metrics' intraday rows
        tape.rows["session"] = [{"origin_ns": config.session_origin_ns, "day_s": session.day_s}]
    return {
        name: _frame(tape.rows[name], columns, ints) for name, (columns, ints) in TABLES.items()
    }
