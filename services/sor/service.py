"""The smart order router: splits parent orders into concurrent IOC children across venues.

It keeps a live view of every lit venue's depth and every dark pool's indications (Clone
snapshots + sequenced updates, net of its own not-yet-published executions: ``sor_view``), plans
each wave of children with the parent's strategy (``sor_strategies``), and tracks each parent with
an exact state machine (``sor_parent``). Children run concurrently; fills are passed to the client
as they arrive; as soon as a child comes back short, the remainder is reallocated from the view as
it is then (venues with a live child of the parent excluded). Every child carries ``expire_ns`` =
send time + ``child_timeout_ms``: its venue refuses it after that. A child not answered by then
is given up only once any report of it must have arrived (expiry + the venue -> SOR link's
worst-case latency + ``child_grace_ms``): it is canceled and abandoned, its venue shunned until it
answers again, and its quantity rerouted. Every decision goes to the tape (``OrderRouted``), every
parent ends in exactly one terminal state (``ParentCompleted`` on the tape). See ``docs/SOR.md``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import zmq

from protocol.base import Message
from protocol.codec import Decoder, encode
from protocol.common import OrderType, Side, TimeInForce
from protocol.control import Rejected
from protocol.marketdata import Depth, IndicationOfInterest, Quote, Snapshot, Trade
from protocol.money import to_micros
from protocol.orders import (
    ORDER_REPORTS,
    CancelOrder,
    CancelRejected,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderRouted,
    ParentCompleted,
    RouteQuote,
    SubmitOrder,
)
from services.feeds import Feed, NbboView
from services.latency import latency_for, worst_case_ns
from services.runtime import Service, call_at_wall
from services.sor.core import VenueLevel
from services.sor.parent import Child, ParentOrder, ParentState
from services.sor.strategies import (
    ChildPlan,
    FillRates,
    Pool,
    Strategy,
    WaveInput,
    parse_strategy,
    plan_wave,
    protection_limit,
    schedule,
    strategy_for,
)
from services.sor.view import BookView, MarketVolume, VenueInfo

log = logging.getLogger(__name__)
DONE_KEPT = 4096  # finished parents remembered so late child fills can be accounted


class _SnapshotFeed(Feed):
    """A venue or pool feed whose snapshots also carry depth and indications."""

    def _apply_snapshot(self, snap: Snapshot) -> None:
        for item in (*snap.depths, *snap.iois):
            self.on_message(item)
        super()._apply_snapshot(snap)


@dataclass(slots=True)
class Working:
    """A live parent, with what the service needs beyond the pure state machine."""

    key: str
    identity: bytes
    parent: ParentOrder
    strategy: Strategy
    started_mono_ns: int
    rounds: int = 0  # waves in the current slice (all waves if not time-sliced)
    target: int | None = None  # cumulative shares allowed now (time slicing)
    closing: bool = False  # time slicing: the horizon is over
    volume_at_start: int = 0
    probed: set[str] = field(default_factory=set)
    dry: set[str] = field(default_factory=set)
    timer: asyncio.TimerHandle | None = None


class Sor(Service):
    role = "sor"

    async def _setup(self) -> None:
        self.cfg = cfg = self.scenario.sor
        self.lit_names = [v.name for v in self.scenario.venues]
        self.pool_specs = {d.name: Pool(d.name, d.min_qty) for d in self.scenario.darkpools}

        def info(name: str, kind: str, fee: str | float) -> VenueInfo:
            role = self.role_of(name)
            link = latency_for(self.scenario.latency, self.name, self.role, name, role)
            return VenueInfo(name, kind, to_micros(fee), link.base_us * 1000)

        self.view = BookView(
            [info(v.name, "lit", v.taker_fee) for v in self.scenario.venues]
            + [info(d.name, "dark", d.fee) for d in self.scenario.darkpools]
        )
        # How long after a child's expiry a report of it may still arrive: the link back's
        # worst case plus the configured slack. Past that, the child cannot execute any more.
        self.grace_ns = {
            name: worst_case_ns(
                latency_for(self.scenario.latency, name, self.role_of(name), self.name, self.role)
            )
            + cfg.child_grace_ms * 1_000_000
            for name in [*self.lit_names, *self.pool_specs]
        }
        self.rates = FillRates(cfg.fill_rate_prior)
        self.working: dict[str, Working] = {}
        self.done: OrderedDict[str, Working] = OrderedDict()  # finished, kept for late fills
        self.child_owner: dict[str, str] = {}
        self.child_timers: dict[str, asyncio.TimerHandle] = {}
        self.unresponsive: dict[str, int] = {}
        self.pending_work: set[str] = set()
        self.child_seq = 0
        self.volume = MarketVolume(self.scenario.symbol_names)
        self.nbbo = NbboView(self)
        await self.nbbo.start()
        self.destinations = {}
        for name in [*self.lit_names, *self.pool_specs]:
            sock = self.connect(name, "orders", zmq.DEALER)
            self.destinations[name] = self.link(sock, name)
            handler = self._report_handler(name)
            self.serve(sock, Decoder(ORDER_REPORTS), handler, router=False, name=f"child@{name}")
        streams: list[tuple[str, str, list[type[Message]]]]
        streams = [(name, "quotes", [Quote, Trade, Depth]) for name in self.lit_names]
        streams += [(name, "iois", [Trade, IndicationOfInterest]) for name in self.pool_specs]
        for name, stream, types in streams:
            feed = _SnapshotFeed(self, name, stream, types, self._on_md, snapshot_endpoint="orders")
            await feed.start()
        self.orders = self.bind("orders", zmq.ROUTER)
        accepts = Decoder([SubmitOrder, CancelOrder])
        self.serve(self.orders, accepts, self._on_parent_msg, router=True, name="orders")
        self.spawn(self._housekeeping(), "housekeeping")

    async def _drain(self) -> None:
        for work in list(self.working.values()):
            for child in work.parent.request_cancel():
                self._cancel_child(work, child, "cancel: router stopping")
            self._finish(work, ParentState.CANCELED, "router stopping")

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            self.view.expire(time.time_ns())

    # ------------------------------------------------------------------ market data
    def _on_md(self, msg: Quote | Depth | Trade | IndicationOfInterest) -> None:
        match msg:
            case Depth() | IndicationOfInterest():
                bids = [(lvl.price, lvl.qty) for lvl in msg.bids]
                asks = [(lvl.price, lvl.qty) for lvl in msg.asks]
                self.view.on_levels(msg.venue, msg.symbol, msg.seq, bids, asks)
            case Quote():
                bid = (msg.bid_px, msg.bid_qty) if msg.bid_px is not None and msg.bid_qty else None
                ask = (msg.ask_px, msg.ask_qty) if msg.ask_px is not None and msg.ask_qty else None
                self.view.on_top(msg.venue, msg.symbol, msg.seq, bid, ask)
            case Trade():
                self.view.on_trade(msg.venue, msg.trade_id, msg.seq)
                self.volume.on_trade(msg.venue, msg.trade_id, msg.symbol, msg.qty)

    # ------------------------------------------------------------------ parents
    def _on_parent_msg(self, identity: bytes | None, msg: Any, recv_ns: int) -> None:
        assert identity is not None  # a ROUTER always has one (the runtime checks)
        key = f"{identity.decode(errors='replace')}|{msg.order_id}"
        if isinstance(msg, CancelOrder):
            self._on_cancel(identity, key, msg)
        else:
            self._on_submit(identity, key, msg, recv_ns)

    def _on_submit(self, identity: bytes, key: str, msg: SubmitOrder, recv_ns: int) -> None:
        reason = field_name = None
        strategy: Strategy | None = None
        if msg.symbol not in self.volume.by_symbol:
            reason, field_name = f"unknown symbol {msg.symbol!r}", "symbol"
        elif msg.order_type is OrderType.MIDPOINT:
            reason, field_name = "midpoint orders go to dark pools, not the SOR", "order_type"
        elif key in self.working:
            reason, field_name = "duplicate of a live order", "order_id"
        elif msg.expire_ns is not None:
            reason = "parent orders do not expire at the router; cancel them instead"
            field_name = "expire_ns"
        else:
            try:
                strategy = parse_strategy(
                    strategy_for(msg.strategy, msg.urgency), self.destinations
                )
            except ValueError as exc:
                reason, field_name = str(exc), "strategy"
        link = self.reply_link(self.orders, identity)
        if reason is not None or strategy is None:
            self.reply_rejected(link, msg.order_id, reason or "", field_name)
            return
        bid, ask = self._arrival_quote(msg.symbol)
        ref = ask if msg.side is Side.BUY else bid
        limit = protection_limit(msg.side, msg.limit_price, ref, self.cfg.market_collar_bps)
        parent = ParentOrder(
            msg.order_id, msg.symbol, msg.side, msg.qty, strategy.name, limit, recv_ns, bid, ask
        )
        volume = self.volume.by_symbol[msg.symbol]
        work = Working(key, identity, parent, strategy, time.monotonic_ns(), volume_at_start=volume)
        self.working[key] = work
        self.reply_accepted(link, msg.order_id, msg.symbol, msg.qty, recv_ns)
        self.count("parents.accepted")
        if parent.limit_price is None:
            self._finish(work, ParentState.CANCELED, "no NBBO to protect a market order")
            return
        if strategy.time_sliced:
            work.target = 0
            self._on_slice(key)
        else:
            self._work(key)

    def _arrival_quote(self, symbol: str) -> tuple[int | None, int | None]:
        """Best lit bid and ask now: the router's own venue view (fresher than the SIP's NBBO),
        the SIP's for a side the view does not have."""
        bid = self.view.best(symbol, Side.SELL, self.lit_names)
        ask = self.view.best(symbol, Side.BUY, self.lit_names)
        nbbo = self.nbbo.get(symbol)
        if nbbo is not None:
            bid = nbbo.bid_px if bid is None else bid
            ask = nbbo.ask_px if ask is None else ask
        return bid, ask

    def _on_cancel(self, identity: bytes, key: str, msg: CancelOrder) -> None:
        work = self.working.get(key)
        if work is None:
            reason = "unknown or already done"
            reply = self.make(CancelRejected, order_id=msg.order_id, reason=reason)
            self.reply_link(self.orders, identity).send(encode(reply))
            return
        if work.timer is not None:
            work.timer.cancel()
        for child in work.parent.request_cancel():
            self._cancel_child(work, child, "cancel: parent canceled by client")
        self._settle(work, "canceled by client")

    # ------------------------------------------------------------------ time slicing
    def _on_slice(self, key: str) -> None:
        """TWAP: open the next slice; POV: recompute the participation target. Re-arms itself."""
        work = self.working.get(key)
        if work is None:
            return
        parent = work.parent
        elapsed = time.monotonic_ns() - work.started_mono_ns
        others = self.volume.by_symbol[parent.symbol] - work.volume_at_start
        step = schedule(work.strategy, self.cfg, parent.qty, elapsed, others)
        work.target, work.closing = step.target, step.next_in_ns is None
        work.rounds, work.probed = 0, set()
        if step.next_in_ns is not None:
            loop = asyncio.get_running_loop()
            work.timer = loop.call_later(step.next_in_ns / 1e9, self._on_slice, key)
        self._work(key)

    # ------------------------------------------------------------------ waves
    def _work(self, key: str) -> None:
        """Send the next wave for what is neither executed nor out, or end the parent."""
        self.pending_work.discard(key)
        work = self.working.get(key)
        if work is None or self._settle(work):
            return
        parent, strategy = work.parent, work.strategy
        if parent.state is ParentState.PENDING_CANCEL:
            return
        pov_closing = strategy.kind == "pov" and work.closing
        need = 0 if pov_closing else parent.need(work.target)
        waiting = strategy.time_sliced and not work.closing
        if need > 0 and work.rounds < self.cfg.max_rounds:
            plans, seen = self._plan(work, need)
            if plans:
                self._send_wave(work, plans, seen)
                return
        if parent.has_live_children or waiting:
            return
        if pov_closing:
            reason = "pov horizon reached"
        elif work.rounds >= self.cfg.max_rounds:
            reason = f"unfilled after {work.rounds} waves"
        else:
            reason = "no liquidity within the limit"
        self._finish(work, ParentState.CANCELED, reason)

    def _plan(self, work: Working, need: int) -> tuple[list[ChildPlan], list[VenueLevel]]:
        """The next wave's children and the levels they were planned over."""
        parent = work.parent
        busy = parent.busy_venues | set(self.unresponsive)
        lit = self.view.levels(
            parent.symbol, parent.side, [v for v in self.lit_names if v not in busy]
        )
        shown_pools = [p for p in self.pool_specs if self.view.has_levels(p, parent.symbol)]
        skip = busy | (work.dry if work.strategy.kind == "min-impact" else set())
        dark_ok = [p for p in shown_pools if p not in skip]
        dark = self.view.levels(parent.symbol, parent.side, dark_ok)
        # fill-aware probes every wave; the others probe a pool once per parent (or TWAP slice).
        probed = set() if work.strategy.kind == "fill-aware" else work.probed
        probe = [
            spec
            for name, spec in self.pool_specs.items()
            if name not in busy and name not in shown_pools and name not in probed
        ]
        wave = WaveInput(
            parent.side,
            need,
            lit,
            dark,
            probe,
            parent.limit_price,
            self.cfg.dark_probe_share,
            work.rounds == 0,
        )
        return plan_wave(work.strategy, wave, self.rates), [*lit, *dark]

    def _send_wave(self, work: Working, plans: list[ChildPlan], seen: list[VenueLevel]) -> None:
        parent = work.parent
        sign = parent.side.sign
        best = min(lvl.price * sign for lvl in seen) * sign if seen else None
        quotes = [RouteQuote(venue=lvl.venue, price=lvl.price, qty=lvl.qty) for lvl in seen]
        work.rounds += 1
        parent.waves += 1
        now = time.time_ns()
        expire_ns = now + self.cfg.child_timeout_ms * 1_000_000
        for index, plan in enumerate(plans):
            self.child_seq += 1
            child_id = f"{parent.order_id}/{self.child_seq}"
            midpoint = plan.order_type == "midpoint"
            parent.add_child(
                Child(
                    child_id, plan.venue, plan.kind, plan.qty, plan.limit_price, parent.waves, now
                )
            )
            if midpoint:
                work.probed.add(plan.venue)
            self.child_owner[child_id] = work.key
            self.destinations[plan.venue].send(
                encode(
                    self.make(
                        SubmitOrder,
                        order_id=child_id,
                        symbol=parent.symbol,
                        side=parent.side,
                        qty=plan.qty,
                        order_type=OrderType.MIDPOINT if midpoint else OrderType.LIMIT,
                        limit_price=plan.limit_price,
                        tif=TimeInForce.IOC,
                        account=self.name,
                        parent_id=parent.order_id,
                        expire_ns=expire_ns,
                    )
                )
            )
            self.child_timers[child_id] = call_at_wall(
                expire_ns + self.grace_ns[plan.venue], self._on_child_timeout, work.key, child_id
            )
            self._route(
                parent,
                child_id,
                plan.venue,
                plan.qty,
                plan.reason,
                plan.limit_price,
                parent.waves,
                best_price=best,
                quotes=quotes if index == 0 else [],
            )
        self.count("children.sent", len(plans))

    # ------------------------------------------------------------------ children
    def _report_handler(self, venue: str):  # type: ignore[no-untyped-def]
        def handle(_identity: bytes | None, msg: Any, _recv_ns: int) -> None:
            self._on_child_report(venue, msg)

        return handle

    def _on_child_report(self, venue: str, msg: Any) -> None:
        if self.unresponsive.pop(venue, None) is not None:
            log.info("%s: %s answers again", self.name, venue)
        if isinstance(msg, Rejected | CancelRejected | OrderAccepted):
            if not isinstance(msg, OrderAccepted):
                self.count(f"children.{type(msg).__name__}")
            return
        key = self.child_owner.get(msg.order_id)
        work = None if key is None else (self.working.get(key) or self.done.get(key))
        if work is None:
            return
        parent = work.parent
        child = parent.children[msg.order_id]
        if isinstance(msg, OrderFilled):
            self._on_child_fill(work, child, msg)
            if msg.leaves_qty == 0:
                self._child_done(work, child)
            if work.parent.remaining == 0:
                self._settle(work)
            return
        if isinstance(msg, OrderRejected) and msg.field == "expire_ns":
            # It reached the venue too late: says nothing about the venue's liquidity.
            self.count("children.expired")
            self._child_done(work, child, learn=False)
            return
        if isinstance(msg, OrderCanceled) and child.limit_price and not child.abandoned:
            # An IOC that came back short proves nothing more was there within its limit.
            self.view.on_exhausted(venue, parent.symbol, parent.side, child.limit_price)
        self._child_done(work, child)

    def _on_child_fill(self, work: Working, child: Child, msg: OrderFilled) -> None:
        parent = work.parent
        self.view.on_own_fill(
            child.venue,
            parent.symbol,
            parent.side,
            msg.exec_id,
            msg.fill_price,
            msg.fill_qty,
            time.time_ns(),
        )
        self.volume.on_own_fill(child.venue, msg.exec_id)
        if not parent.fill(child.child_id, msg.fill_qty, msg.fill_price, msg.fee):
            self.count("children.late_fills")
            log.warning(
                "%s: late fill of %d on %s for finished parent %s",
                self.name,
                msg.fill_qty,
                child.venue,
                parent.order_id,
            )
            return
        payload = encode(
            self.make(
                OrderFilled,
                order_id=parent.order_id,
                symbol=parent.symbol,
                side=parent.side,
                fill_qty=msg.fill_qty,
                fill_price=msg.fill_price,
                cum_qty=parent.cum_qty,
                leaves_qty=parent.remaining,
                venue=msg.venue,
                liquidity=msg.liquidity,
                exec_id=msg.exec_id,
                exec_ns=msg.exec_ns,
                recv_ns=msg.recv_ns,
                fee=msg.fee,
                correlation_id=child.child_id,
            )
        )
        self.reply_link(self.orders, work.identity).send(payload)
        self.tape(payload)

    def _child_done(self, work: Working, child: Child, *, learn: bool = True) -> None:
        if not child.live:
            return
        work.parent.child_done(child.child_id)
        self.child_owner.pop(child.child_id, None)
        timer = self.child_timers.pop(child.child_id, None)
        if timer is not None:
            timer.cancel()
        if learn:
            self.rates.update(child.venue, child.qty, child.cum)
            if child.kind == "dark" and child.cum < child.qty:
                work.dry.add(child.venue)
        if work.key in self.working and work.key not in self.pending_work:
            # Reallocate at once, after this batch of reports (one wave for several reports).
            self.pending_work.add(work.key)
            asyncio.get_running_loop().call_soon(self._work, work.key)

    def _on_child_timeout(self, key: str, child_id: str) -> None:
        self.child_timers.pop(child_id, None)
        work = self.working.get(key)
        if work is None:
            return
        child = work.parent.children[child_id]
        if not child.live or child.abandoned:
            return
        # The child expired at its venue and any report of it would have arrived by now: it can
        # no longer execute (short of a venue frozen between matching and reporting: late fill).
        self.count("children.timed_out")
        self.unresponsive[child.venue] = time.time_ns()
        timeout_ms = self.cfg.child_timeout_ms
        grace_ms = self.grace_ns[child.venue] / 1e6
        log.warning(
            "%s: no report from %s for %s in %d ms + %.1f ms grace: expired, rerouting",
            self.name,
            child.venue,
            child_id,
            timeout_ms,
            grace_ms,
        )
        why = (
            f"timeout: no report in {timeout_ms} ms (expired at the venue) + {grace_ms:.1f} ms"
            " grace; cancel sent, rerouting"
        )
        self._cancel_child(work, child, why)
        work.parent.abandon(child_id)
        self._work(key)

    def _cancel_child(self, work: Working, child: Child, reason: str) -> None:
        parent = work.parent
        cancel = self.make(CancelOrder, order_id=child.child_id, symbol=parent.symbol)
        self.destinations[child.venue].send(encode(cancel))
        open_qty = max(1, child.qty - child.cum)
        self._route(
            parent, child.child_id, child.venue, open_qty, reason, child.limit_price, child.wave
        )

    def _route(
        self,
        parent: ParentOrder,
        child_id: str,
        venue: str,
        qty: int,
        reason: str,
        limit_price: int | None,
        wave: int,
        **extra: Any,
    ) -> None:
        """One routing decision to the tape (the ``routes`` table)."""
        self.tape(
            self.make(
                OrderRouted,
                order_id=parent.order_id,
                child_id=child_id,
                destination=venue,
                qty=qty,
                reason=reason,
                limit_price=limit_price,
                strategy=parent.strategy,
                wave=wave,
                **extra,
            )
        )

    # ------------------------------------------------------------------ terminal
    def _settle(self, work: Working, cancel_reason: str = "canceled by client") -> bool:
        """Apply a terminal state the parent reached by itself; ``True`` if it is now terminal."""
        state = work.parent.settle()
        if state is None:
            return work.parent.state.terminal
        self._finish(work, state, "" if state is ParentState.FILLED else cancel_reason)
        return True

    def _finish(self, work: Working, state: ParentState, reason: str) -> None:
        parent = work.parent
        parent.finish(state, reason, time.time_ns())
        if work.timer is not None:
            work.timer.cancel()
        if state is ParentState.CANCELED:
            self.reply_canceled(
                self.reply_link(self.orders, work.identity),
                parent.order_id,
                parent.symbol,
                parent.remaining,
                parent.cum_qty,
                reason,
            )
        for child in parent.children.values():
            if child.open_qty > 0:  # only after a late fill from an abandoned child
                self._cancel_child(work, child, "cancel: parent filled")
        self.tape(self.make(ParentCompleted, **parent.summary()))
        self.working.pop(work.key, None)
        self.done[work.key] = work
        if len(self.done) > DONE_KEPT:
            self.done.popitem(last=False)
        self.count(f"parents.{state}")
