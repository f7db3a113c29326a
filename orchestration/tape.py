"""Reading a run's tape back and building the report tables from it.

The tape (``RUN_DIR/tape.msgpack``) is a concatenation of MessagePack arrays
``[service, recv_ns, payload]`` where ``payload`` is the wire encoding of a protocol message.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pandas as pd

from config.runconfig import RunConfig
from protocol.auctions import AuctionCompleted
from protocol.base import Message
from protocol.codec import ALL_MESSAGE_TYPES, Decoder
from protocol.control import PnlReport
from protocol.marketdata import NBBO, Quote, Trade, ValueUpdate
from protocol.orders import OrderCanceled, OrderFilled, OrderReceived, OrderRejected, OrderRouted

TAPE_FILE = "tape.msgpack"
_decoder = Decoder(ALL_MESSAGE_TYPES)


def read_tape(run_dir: Path) -> Iterator[tuple[str, int, Message]]:
    """Every tape entry as ``(service, recv_ns, message)`` in recording order."""
    path = Path(run_dir) / TAPE_FILE
    with path.open("rb") as f:
        unpacker = msgpack.Unpacker(f, raw=False, max_buffer_size=1 << 30)
        for service, recv_ns, payload in unpacker:
            yield service, recv_ns, _decoder.decode_payload(payload)


def _frame(
    rows: list[dict[str, Any]], columns: list[str], ints: tuple[str, ...] = ()
) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns)
    for column in ints:
        frame[column] = frame[column].astype("Int64")
    return frame


def build_tables(run_dir: Path, config: RunConfig) -> dict[str, pd.DataFrame]:
    """The run's tables: orders, fills, routes, auctions, nbbo, quotes, trades, values,
    destination_fills, latency, pnl (columns and units in docs/TABLES.md)."""
    broker = config.scenario.broker.name
    received: dict[str, dict[str, Any]] = {}
    terminal: dict[str, tuple[str, int, str | None]] = {}
    filled: dict[str, int] = defaultdict(int)
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for service, _recv_ns, msg in read_tape(run_dir):
        match msg:
            case OrderReceived() if service == broker:
                received[msg.order_id] = {
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
                }
                rows["latency"].append(
                    {
                        "order_id": msg.order_id,
                        "hop": "client->broker",
                        "ns": msg.recv_ns - msg.created_ns,
                    }
                )
            case OrderFilled() if service == broker:
                filled[msg.order_id] += msg.fill_qty
                rows["fills"].append(
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
                    }
                )
                if msg.leaves_qty == 0:
                    terminal[msg.order_id] = ("filled", msg.ts_ns, None)
            case OrderCanceled() if service == broker:
                terminal[msg.order_id] = ("canceled", msg.ts_ns, msg.reason)
            case OrderRejected() if service == broker:
                terminal[msg.order_id] = ("rejected", msg.ts_ns, msg.reason)
            case OrderFilled():
                rows["destination_fills"].append(
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
                    }
                )
            case OrderRouted():
                rows["routes"].append(
                    {
                        "router": service,
                        "order_id": msg.order_id,
                        "child_id": msg.child_id,
                        "destination": msg.destination,
                        "qty": msg.qty,
                        "limit_price": msg.limit_price,
                        "reason": msg.reason,
                        "regime": msg.regime,
                        "strategy": msg.strategy,
                        "wave": msg.wave,
                        "best_price": msg.best_price,
                        "ts_ns": msg.ts_ns,
                    }
                )
            case AuctionCompleted():
                rows["auctions"].append(
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
                    }
                )
            case NBBO():
                rows["nbbo"].append(
                    {
                        "symbol": msg.symbol,
                        "seq": msg.seq,
                        "ts_ns": msg.ts_ns,
                        "bid_px": msg.bid_px,
                        "bid_qty": msg.bid_qty,
                        "ask_px": msg.ask_px,
                        "ask_qty": msg.ask_qty,
                        "locked": msg.locked,
                        "crossed": msg.crossed,
                    }
                )
            case Quote():
                rows["quotes"].append(
                    {
                        "venue": msg.venue,
                        "symbol": msg.symbol,
                        "seq": msg.seq,
                        "ts_ns": msg.ts_ns,
                        "bid_px": msg.bid_px,
                        "bid_qty": msg.bid_qty,
                        "ask_px": msg.ask_px,
                        "ask_qty": msg.ask_qty,
                    }
                )
            case Trade():
                rows["trades"].append(
                    {
                        "venue": msg.venue,
                        "symbol": msg.symbol,
                        "ts_ns": msg.ts_ns,
                        "price": msg.price,
                        "qty": msg.qty,
                        "aggressor": str(msg.aggressor) if msg.aggressor else None,
                    }
                )
            case ValueUpdate():
                rows["values"].append(
                    {"symbol": msg.symbol, "ts_ns": msg.ts_ns, "value": msg.value}
                )
            case PnlReport():
                for component, value in msg.components.items():
                    rows["pnl"].append(
                        {
                            "name": msg.name,
                            "role": msg.role,
                            "component": component,
                            "usd": value / 1e6,
                        }
                    )
    orders = []
    for order_id, row in received.items():
        status, ts, reason = terminal.get(order_id, ("open", None, None))
        orders.append(
            {
                **row,
                "status": status,
                "filled_qty": filled.get(order_id, 0),
                "terminal_ns": ts,
                "reason": reason,
            }
        )
    regimes = {o["order_id"]: o["regime"] for o in orders}
    for fill in rows["fills"]:
        fill["regime"] = regimes.get(fill["order_id"], "")
        rows["latency"].append(
            {
                "order_id": fill["order_id"],
                "hop": "destination->broker",
                "ns": fill["ts_ns"] - fill["exec_ns"],
            }
        )
    return {
        "orders": _frame(
            orders,
            [
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
            ],
            ints=("limit_price", "nbbo_bid", "nbbo_ask", "terminal_ns"),
        ),
        "fills": _frame(
            rows["fills"],
            [
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
            ],
        ),
        "routes": _frame(
            rows["routes"],
            [
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
            ],
            ints=("limit_price", "best_price"),
        ),
        "auctions": _frame(
            rows["auctions"],
            [
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
            ],
            ints=("best_price", "nbbo_bid_end", "nbbo_ask_end"),
        ),
        "destination_fills": _frame(
            rows["destination_fills"],
            [
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
            ],
        ),
        "nbbo": _frame(
            rows["nbbo"],
            [
                "symbol",
                "seq",
                "ts_ns",
                "bid_px",
                "bid_qty",
                "ask_px",
                "ask_qty",
                "locked",
                "crossed",
            ],
            ints=("bid_px", "ask_px"),
        ),
        "quotes": _frame(
            rows["quotes"],
            ["venue", "symbol", "seq", "ts_ns", "bid_px", "bid_qty", "ask_px", "ask_qty"],
            ints=("bid_px", "ask_px"),
        ),
        "trades": _frame(rows["trades"], ["venue", "symbol", "ts_ns", "price", "qty", "aggressor"]),
        "values": _frame(rows["values"], ["symbol", "ts_ns", "value"]),
        "latency": _frame(rows["latency"], ["order_id", "hop", "ns"]),
        "pnl": _frame(rows["pnl"], ["name", "role", "component", "usd"]),
    }
