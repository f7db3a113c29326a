"""The smart order router: splits parent orders into concurrent IOC children across venues.

It watches every lit venue's quotes directly (Clone snapshots + updates), allocates each parent
with the strategy it names (``greedy`` by default, ``optimal``), probes dark pools at the midpoint
on the first wave, aggregates fills as they arrive, and reallocates the unfilled remainder from the
then-current quotes until filled, out of rounds, or out of liquidity within the limit. Every
decision goes to the tape as ``OrderRouted``; the parent always ends in one terminal state.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import zmq

from protocol.codec import Decoder, encode
from protocol.common import OrderType, Side, TimeInForce
from protocol.control import Rejected
from protocol.marketdata import Depth, Quote, Trade
from protocol.money import round_to_tick, tick_size, to_micros
from protocol.orders import (
    CancelOrder,
    CancelRejected,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderRouted,
    SubmitOrder,
)
from services.feeds import Feed, NbboView
from services.latency import latency_for
from services.runtime import Service
from services.sor_core import Allocation, VenueLevel, allocate_greedy, allocate_optimal

STRATEGIES = {"greedy": allocate_greedy, "optimal": allocate_optimal}
REPORTS = (OrderAccepted, OrderRejected, OrderFilled, OrderCanceled, CancelRejected, Rejected)


@dataclass(slots=True)
class Child:
    venue: str
    qty: int
    cum: int = 0
    done: bool = False


@dataclass(slots=True)
class Parent:
    identity: bytes
    order: SubmitOrder
    limit: int | None
    recv_ns: int
    cum: int = 0
    rounds: int = 0
    children: dict[str, Child] = field(default_factory=dict)
    done: bool = False

    @property
    def remaining(self) -> int:
        return self.order.qty - self.cum

    @property
    def outstanding(self) -> int:
        return sum(c.qty - c.cum for c in self.children.values() if not c.done)


class Sor(Service):
    role = "sor"

    async def _setup(self) -> None:
        cfg = self.scenario.sor
        self.cfg = cfg
        self.quotes: dict[tuple[str, str], Quote] = {}
        self.parents: dict[str, Parent] = {}
        self.child_owner: dict[str, str] = {}
        self.child_seq = 0
        self.fees = {v.name: to_micros(v.taker_fee) for v in self.scenario.venues}
        self.latency_ns = {
            name: latency_for(self.scenario.latency, self.name, self.role, name, self.role_of(name)).base_us * 1000
            for name in [v.name for v in self.scenario.venues] + [d.name for d in self.scenario.darkpools]
        }
        self.nbbo = NbboView(self)
        await self.nbbo.start()
        self.destinations = {}
        for name in [v.name for v in self.scenario.venues] + [d.name for d in self.scenario.darkpools]:
            sock = self.connect(name, "orders", zmq.DEALER)
            self.destinations[name] = self.link(sock, name)
            self.serve(sock, Decoder(REPORTS), self._on_child_report, router=False, name=f"child@{name}")
        for venue in self.scenario.venues:
            await Feed(self, venue.name, "quotes", [Quote, Trade, Depth], self._on_md, snapshot_endpoint="orders").start()
        self.orders = self.bind("orders", zmq.ROUTER)
        self.serve(self.orders, Decoder([SubmitOrder, CancelOrder]), self._on_parent_msg, router=True, name="orders")

    def _on_md(self, msg: Quote | Trade | Depth) -> None:
        if isinstance(msg, Quote):
            self.quotes[(msg.venue, msg.symbol)] = msg

    # ------------------------------------------------------------------ parents
    def _on_parent_msg(self, identity: bytes | None, msg: object, recv_ns: int) -> None:
        assert identity is not None
        link = self.reply_link(self.orders, identity)
        if isinstance(msg, CancelOrder):
            parent = self.parents.get(f"{identity.decode(errors='replace')}|{msg.order_id}")
            if parent is None or parent.done:
                link.send(encode(self.make(CancelRejected, order_id=msg.order_id, reason="unknown or already done")))
                return
            parent.rounds = self.cfg.max_rounds  # no new waves; cancel what is out
            for child_id, child in parent.children.items():
                if not child.done:
                    self.destinations[child.venue].send(encode(self.make(CancelOrder, order_id=child_id, symbol=parent.order.symbol)))
            return
        assert isinstance(msg, SubmitOrder)
        key = f"{identity.decode(errors='replace')}|{msg.order_id}"
        reason = field_name = None
        if msg.symbol not in self.scenario.symbol_names:
            reason, field_name = f"unknown symbol {msg.symbol!r}", "symbol"
        elif msg.strategy is not None and msg.strategy not in STRATEGIES:
            reason, field_name = f"unknown strategy {msg.strategy!r} (known: {', '.join(STRATEGIES)})", "strategy"
        elif key in self.parents:
            reason, field_name = "duplicate of a live order", "order_id"
        if reason is not None:
            payload = encode(self.make(OrderRejected, order_id=msg.order_id, reason=reason, field=field_name, venue=self.name))
            link.send(payload)
            self.tape(payload)
            return
        parent = Parent(identity, msg, self._protection_limit(msg), recv_ns)
        self.parents[key] = parent
        link.send(encode(self.make(OrderAccepted, order_id=msg.order_id, symbol=msg.symbol, venue=self.name, leaves_qty=msg.qty, recv_ns=recv_ns)))
        if msg.order_type is OrderType.MARKET and parent.limit is None:
            self._finish(key, parent, "no NBBO to protect a market order")
            return
        self._work(key, parent)

    def _protection_limit(self, order: SubmitOrder) -> int | None:
        """The order's limit, or for a market order a collar around the NBBO at arrival."""
        if order.limit_price is not None:
            return order.limit_price
        nbbo = self.nbbo.get(order.symbol)
        ref = None if nbbo is None else (nbbo.ask_px if order.side is Side.BUY else nbbo.bid_px)
        if ref is None:
            return None
        collar = ref * self.cfg.market_collar_bps // 10_000
        tick = tick_size(ref)
        if order.side is Side.BUY:
            return round_to_tick(ref + collar, tick, side_up=False)
        return max(tick, round_to_tick(ref - collar, tick, side_up=True))

    def _levels(self, symbol: str, side: Side) -> list[VenueLevel]:
        levels = []
        for venue in self.scenario.venues:
            q = self.quotes.get((venue.name, symbol))
            if q is None:
                continue
            price, qty = (q.ask_px, q.ask_qty) if side is Side.BUY else (q.bid_px, q.bid_qty)
            if price is not None and qty > 0:
                levels.append(VenueLevel(venue.name, price, qty, self.latency_ns[venue.name], "lit", self.fees[venue.name]))
        return levels

    def _work(self, key: str, parent: Parent) -> None:
        """Send the next wave of children for what is neither filled nor out."""
        order = parent.order
        need = parent.remaining - parent.outstanding
        if parent.done or need <= 0:
            return
        if parent.rounds >= self.cfg.max_rounds:
            if parent.outstanding == 0:
                self._finish(key, parent, f"unfilled after {parent.rounds} rounds")
            return
        parent.rounds += 1
        waves: list[tuple[str, int, int | None, OrderType, str]] = []
        if parent.rounds == 1 and self.scenario.darkpools and self.cfg.dark_probe_share > 0:
            dark_qty = int(need * self.cfg.dark_probe_share)
            pools = self.scenario.darkpools
            per_pool = dark_qty // len(pools)
            for pool in pools:
                if per_pool >= max(1, pool.min_qty):
                    waves.append((pool.name, per_pool, parent.limit, OrderType.MIDPOINT, "dark midpoint probe"))
                    need -= per_pool
        strategy = order.strategy or "greedy"
        alloc: Allocation = STRATEGIES[strategy](order.side, need, self._levels(order.symbol, order.side), parent.limit)
        for child in alloc.children:
            waves.append((child.venue, child.qty, child.limit_price, OrderType.LIMIT, f"{strategy}: {child.levels} level(s) displayed"))
        if not waves:
            if parent.outstanding == 0:
                self._finish(key, parent, "no liquidity within the limit")
            return
        for venue, qty, limit, order_type, reason in waves:
            self.child_seq += 1
            child_id = f"{order.order_id}/{self.child_seq}"
            parent.children[child_id] = Child(venue, qty)
            self.child_owner[child_id] = key
            self.destinations[venue].send(encode(self.make(
                SubmitOrder, order_id=child_id, symbol=order.symbol, side=order.side, qty=qty,
                order_type=order_type, limit_price=limit, tif=TimeInForce.IOC, account=self.name,
                parent_id=order.order_id,
            )))
            self.tape(self.make(OrderRouted, order_id=order.order_id, child_id=child_id, destination=venue, qty=qty, reason=reason, limit_price=limit))
        self.count("children.sent", len(waves))

    def _on_child_report(self, _identity: bytes | None, msg: object, _recv_ns: int) -> None:
        if isinstance(msg, Rejected):
            self.count("children.protocol_rejected")
            return
        child_id = getattr(msg, "order_id", "")
        key = self.child_owner.get(child_id)
        parent = self.parents.get(key) if key else None
        if parent is None or key is None:
            return
        child = parent.children[child_id]
        match msg:
            case OrderFilled():
                child.cum += msg.fill_qty
                parent.cum += msg.fill_qty
                child.done = msg.leaves_qty == 0
                payload = encode(self.make(
                    OrderFilled, order_id=parent.order.order_id, symbol=msg.symbol, side=msg.side,
                    fill_qty=msg.fill_qty, fill_price=msg.fill_price, cum_qty=parent.cum,
                    leaves_qty=parent.remaining, venue=msg.venue, liquidity=msg.liquidity,
                    exec_id=msg.exec_id, exec_ns=msg.exec_ns, recv_ns=msg.recv_ns, fee=msg.fee,
                ))
                self.reply_link(self.orders, parent.identity).send(payload)
                self.tape(payload)
                if parent.remaining == 0:
                    self._close(key, parent)
                    return
            case OrderCanceled() | OrderRejected():
                child.done = True
            case _:
                return
        if child.done:
            self.child_owner.pop(child_id, None)
            if parent.outstanding == 0 and not parent.done:
                # Reallocate at once from the quotes as they are now.
                asyncio.get_running_loop().call_soon(self._work, key, parent)

    def _finish(self, key: str, parent: Parent, reason: str) -> None:
        payload = encode(self.make(
            OrderCanceled, order_id=parent.order.order_id, symbol=parent.order.symbol,
            canceled_qty=parent.remaining, cum_qty=parent.cum, reason=reason, venue=self.name,
        ))
        self.reply_link(self.orders, parent.identity).send(payload)
        self.tape(payload)
        self._close(key, parent)

    def _close(self, key: str, parent: Parent) -> None:
        parent.done = True
        for child_id in parent.children:
            self.child_owner.pop(child_id, None)
        self.parents.pop(key, None)
        self.count("parents.done")
