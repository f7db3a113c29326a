"""The injector: sends an order stream to the broker (or the SOR) at the stream's timestamps.

The stream is a CSV file (see ``orchestration/streams.py`` for its schema). The injector waits
until the SIP shows a usable NBBO for every symbol the stream trades (a handshake, not a sleep),
then paces the orders by their ``t_ns`` offsets, tracks every order to its one terminal report,
and sends an ``InjectionDone`` account to the orchestrator before stopping itself.

Limit orders are day orders unless the stream says ``ioc``. At the *close* — ``close_after_s``
after the last order is sent (the scenario's ``[stream]``, or the ``--close-after`` option; for
parents sent to the SOR, the injector's timeout) — the injector cancels every order still open,
as a trading day ends, and waits for their terminal reports.

When the orchestrator reports a peer down (``PeerDown``: a service died or stalled) the run is
aborted: the injector sends no further order, waits up to ``ABORT_SETTLE_S`` for the orders it
sent to end (the broker reroutes or cancels what was at the lost service), cancels what is
still open, waits as long again, and sends its ``InjectionDone`` (``timed_out``: orders still
open then).
"""

from __future__ import annotations

import asyncio
import csv
import time
from dataclasses import dataclass
from pathlib import Path

import zmq

from protocol.codec import Decoder, encode
from protocol.common import OrderType, Side, TimeInForce
from protocol.control import InjectionDone, PeerDown, Rejected
from protocol.marketdata import ValueUpdate
from protocol.money import round_to_tick, tick_size
from protocol.orders import (
    ORDER_REPORTS,
    CancelOrder,
    CancelRejected,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    SubmitOrder,
)
from services.feeds import Feed, NbboView
from services.runtime import Service
from services.session import SessionClock

ABORT_SETTLE_S = 3.0
# The stream waits for each order's time with plain sleeps of at most this long, looking at the
# abort flag between them: an abort stops the stream within 50 ms. (``asyncio.wait_for`` on the
# abort event, per order, costs a task, a timeout and their callbacks: 9.5 µs of CPU a wait
# against 2.4 µs for a sleep, on uvloop on this machine.)
ABORT_POLL_S = 0.05


@dataclass(frozen=True, slots=True)
class StreamOrder:
    t_ns: int
    order_id: str
    symbol: str
    side: Side
    qty: int
    order_type: OrderType
    limit_price: int | None
    limit_offset_bps: float | None
    regime: str | None
    strategy: str | None
    tif: TimeInForce | None = None  # limits: None means a day order
    informed: bool = False  # side chosen at send time, toward the latent value
    # the account attributes of a segmented order (proposed Rule 615); None: not stated
    natural_person: bool | None = None
    avg_daily_trades: int | None = None


def read_stream(path: str | Path) -> list[StreamOrder]:
    """Read a stream CSV written by ``orchestration.streams`` (already validated there)."""
    out = []
    with Path(path).open(newline="") as f:
        for row in csv.DictReader(f):
            out.append(
                StreamOrder(
                    t_ns=int(row["t_ns"]),
                    order_id=row["order_id"],
                    symbol=row["symbol"],
                    side=Side(row["side"]),
                    qty=int(row["qty"]),
                    order_type=OrderType(row["order_type"]),
                    limit_price=int(row["limit_price"]) if row.get("limit_price") else None,
                    limit_offset_bps=float(row["limit_offset_bps"])
                    if row.get("limit_offset_bps")
                    else None,
                    regime=row.get("regime") or None,
                    strategy=row.get("strategy") or None,
                    tif=TimeInForce(row["tif"]) if row.get("tif") else None,
                    informed=row.get("informed") == "1",
                    natural_person=row["natural_person"] == "1"
                    if row.get("natural_person")
                    else None,
                    avg_daily_trades=int(row["avg_daily_trades"])
                    if row.get("avg_daily_trades")
                    else None,
                )
            )
    out.sort(key=lambda o: o.t_ns)
    return out


def marketable_limit(
    side: Side, bid: int, ask: int, offset_bps: float, tick: int | None = None
) -> int:
    """A limit price ``offset_bps`` through the far touch, on the tick grid: ``tick``, the
    symbol's Rule 612 increment (a half-penny for a tick-constrained stock under the 2024
    amendments, Release No. 34-101070), or ``None`` for the 2005 grid at the far touch."""
    if side is Side.BUY:
        return round_to_tick(int(ask * (1 + offset_bps / 1e4)), tick or tick_size(ask), True)
    tick = tick or tick_size(bid)
    return max(tick, round_to_tick(int(bid * (1 - offset_bps / 1e4)), tick, side_up=False))


class Injector(Service):
    role = "injector"

    def __init__(
        self,
        config,
        name,
        *,
        stream: str,
        target: str,
        timeout_s: float = 30.0,
        close_after_s: float | None = None,
        **kw,
    ) -> None:  # type: ignore[no-untyped-def]
        super().__init__(config, name, **kw)
        self.stream_path = stream
        self.target = target
        self.timeout_s = timeout_s
        if close_after_s is None:
            # Parents sent to the SOR end by their own strategy (a TWAP/POV horizon can outlast
            # any day the scenario sets for retail orders): the close waits for the timeout.
            to_sor = target == self.scenario.sor.name
            close_after_s = timeout_s if to_sor else self.scenario.stream.close_after_s
        self.close_after_s = close_after_s

    async def _setup(self) -> None:
        self.orders = read_stream(self.stream_path)
        self.symbols = sorted({o.symbol for o in self.orders})
        self.terminal: dict[str, str] = {}
        self.sent: dict[str, str] = {}  # order_id -> symbol
        self.filled = 0
        self.market_ready = asyncio.Event()
        self.progress = asyncio.Event()  # a terminal report arrived
        self.aborted = asyncio.Event()  # a peer is down: send nothing more
        # Informed orders need the latent value: the one service besides the background agents
        # that subscribes to it, standing in for the investor's information.
        self.values: dict[str, int] = {}
        self.informed_symbols = {o.symbol for o in self.orders if o.informed}
        self.nbbo = NbboView(self, lambda _n: self._check_market())
        await self.nbbo.start()
        if self.informed_symbols:
            await Feed(
                self, self.scenario.value.name, "values", [ValueUpdate], self._on_value
            ).start()
        self.sock = self.connect(self.target, "orders", zmq.DEALER)
        self.out = self.link(self.sock, self.target)
        self.serve(self.sock, Decoder(ORDER_REPORTS), self._on_report, router=False, name="reports")
        self._check_market()

    def _check_market(self) -> None:
        # Only the symbols this stream trades need a two-sided market to start.
        if all(self.nbbo.usable(s) is not None for s in self.symbols) and all(
            s in self.values for s in self.informed_symbols
        ):
            self.market_ready.set()

    def _on_value(self, msg: ValueUpdate) -> None:
        self.values[msg.symbol] = msg.value
        if not self.market_ready.is_set():
            self._check_market()

    def _side(self, order: StreamOrder) -> Side:
        """An informed order buys when the latent value is above the NBBO midpoint, sells when
        below (the midpoint follows the value: market makers re-centre on it)."""
        if not order.informed:
            return order.side
        nbbo = self.nbbo.usable(order.symbol)
        value = self.values.get(order.symbol)
        if nbbo is None or nbbo.bid_px is None or nbbo.ask_px is None or value is None:
            return order.side
        twice_mid = nbbo.bid_px + nbbo.ask_px
        if 2 * value == twice_mid:
            return order.side
        self.count("orders.informed")
        return Side.BUY if 2 * value > twice_mid else Side.SELL

    async def _on_running(self) -> None:
        self.spawn(self._inject(), "inject")

    def _on_peer_down(self, msg: PeerDown) -> None:
        if msg.restarting:  # the restart policy starts it again: the run goes on
            self.count("peers.restarting")
            return
        self.aborted.set()

    async def _pace(self) -> None:
        """Send the stream at its offsets, until it ends or the run is aborted."""
        start, wall = time.monotonic_ns(), time.time_ns()
        # with a session clock the stream's offsets are the day's operational time: orders
        # arrive faster at the open and the close, as the background market's (services/session.py)
        clock = SessionClock(self.scenario.session, self.config.session_origin_ns)
        offsets = clock.warp([order.t_ns for order in self.orders], wall)
        for order, offset in zip(self.orders, offsets, strict=True):
            delay = (start + offset - time.monotonic_ns()) / 1e9
            while delay > 0.0005 and not self.aborted.is_set():
                await asyncio.sleep(min(delay, ABORT_POLL_S))
                delay = (start + offset - time.monotonic_ns()) / 1e9
            if self.aborted.is_set():
                self.count("orders.unsent_aborted", len(self.orders) - len(self.sent))
                return
            self._send(order)

    async def _inject(self) -> None:
        await asyncio.wait_for(self.market_ready.wait(), timeout=60.0)
        await self._pace()
        deadline = time.monotonic() + self.timeout_s
        if not self.aborted.is_set():
            await self._all_terminal(min(self.close_after_s, self.timeout_s), abortable=True)
        if self.aborted.is_set():  # the broker ends or reroutes what was at the lost service
            await self._all_terminal(ABORT_SETTLE_S)
        self._close_day()
        aborted = self.aborted.is_set()
        await self._all_terminal(ABORT_SETTLE_S if aborted else deadline - time.monotonic())
        counts = {
            k: sum(1 for v in self.terminal.values() if v == k)
            for k in ("filled", "canceled", "rejected")
        }
        done = self.make(
            InjectionDone,
            name=self.name,
            sent=len(self.sent),
            terminal=len(self.terminal),
            filled=counts["filled"],
            rejected=counts["rejected"],
            canceled=counts["canceled"],
            timed_out=len(self.sent) - len(self.terminal),
        )
        self._send_control(done)
        self.stop("stream done")

    async def _all_terminal(self, within_s: float, *, abortable: bool = False) -> None:
        """Return once every order sent is terminal, or after ``within_s`` seconds (or, if
        ``abortable``, once the run is aborted)."""
        deadline = time.monotonic() + within_s
        while len(self.terminal) < len(self.sent):
            if abortable and self.aborted.is_set():
                return
            self.progress.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                await asyncio.wait_for(self.progress.wait(), left)  # set by each terminal report
            except TimeoutError:
                return

    def _close_day(self) -> None:
        """The close: cancel every order still open (day limits resting on a book)."""
        for order_id, symbol in self.sent.items():
            if order_id not in self.terminal:
                self.out.send(encode(self.make(CancelOrder, order_id=order_id, symbol=symbol)))
                self.count("orders.canceled_at_close")

    def _send(self, order: StreamOrder) -> None:
        side = self._side(order)
        limit = order.limit_price
        order_type = order.order_type
        if order_type is OrderType.LIMIT and limit is None:
            nbbo = self.nbbo.usable(order.symbol) or self.nbbo.get(order.symbol)
            if nbbo is None or nbbo.bid_px is None or nbbo.ask_px is None:
                order_type = OrderType.MARKET  # no quote to price against: documented fallback
            else:
                # on the grid the broker checks (Rule 612: the symbol's increment)
                limit = marketable_limit(
                    side,
                    nbbo.bid_px,
                    nbbo.ask_px,
                    order.limit_offset_bps or 0.0,
                    self.scenario.tick(order.symbol),
                )
        msg = self.make(
            SubmitOrder,
            order_id=order.order_id,
            symbol=order.symbol,
            side=side,
            qty=order.qty,
            order_type=order_type,
            limit_price=limit if order_type is OrderType.LIMIT else None,
            tif=(order.tif or TimeInForce.DAY)
            if order_type is OrderType.LIMIT
            else TimeInForce.DAY,
            account=self.name,
            regime=order.regime,
            strategy=order.strategy,
            natural_person=order.natural_person,
            avg_daily_trades=order.avg_daily_trades,
        )
        self.sent[order.order_id] = order.symbol
        self.out.send(encode(msg))
        self.count("orders.sent")

    def _on_report(self, _identity: bytes | None, msg: object, _recv_ns: int) -> None:
        match msg:
            case OrderFilled():
                self.filled += msg.fill_qty
                self.count("shares.filled", msg.fill_qty)
                if msg.leaves_qty == 0:
                    self._terminal(msg.order_id, "filled")
            case OrderCanceled():
                self._terminal(msg.order_id, "canceled")
            case OrderRejected():
                self._terminal(msg.order_id, "rejected")
            case CancelRejected():
                self.count("cancels.rejected")  # already done: its terminal report came first
            case Rejected():
                self.count("orders.protocol_rejected")

    def _terminal(self, order_id: str, state: str) -> None:
        if order_id in self.terminal:
            self.count("orders.duplicate_terminal")
            return
        self.terminal[order_id] = state
        self.count("orders.terminal")
        self.progress.set()
