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
from typing import Any

import zmq

from protocol.base import Message
from protocol.codec import Decoder, encode
from protocol.common import Side
from protocol.control import PeerDown
from protocol.marketdata import Depth, IndicationOfInterest, Quote, Snapshot, Trade
from protocol.money import to_micros
from protocol.orders import (
    ORDER_REPORTS,
    CancelOrder,
    CancelRejected,
    ParentCompleted,
    SubmitOrder,
)
from services.feeds import Feed, NbboView
from services.latency import latency_for, worst_case_ns
from services.runtime import Service
from services.sor.admission import admit_parent
from services.sor.children import ChildOrders, Working
from services.sor.core import VenueLevel
from services.sor.parent import ParentOrder, ParentState
from services.sor.strategies import (
    ChildPlan,
    FillRates,
    Pool,
    Strategy,
    StrategyKind,
    WaveInput,
    plan_wave,
    protection_limit,
    schedule,
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


class Sor(ChildOrders, Service):
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
        # How long a venue's market data may take to reflect an own fill: its stream's worst
        # case plus the same slack (the update leaves the venue with the fill report).
        self.md_bound_ns = {
            name: worst_case_ns(
                latency_for(self.scenario.latency, name, self.role_of(name), "*", "client")
            )
            + cfg.child_grace_ms * 1_000_000
            for name in [*self.lit_names, *self.pool_specs]
        }
        self.view_waiters: dict[str, set[str]] = {}  # symbol -> parents waiting for its updates
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
        self.child_sockets = {}
        self.lag_bound_ns = self.scenario.limits.lag_ms * 1_000_000
        for name in [*self.lit_names, *self.pool_specs]:
            sock = self.connect(name, "orders", zmq.DEALER)
            self.child_sockets[name] = sock
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

    def _on_peer_down(self, msg: PeerDown) -> None:
        """A venue or pool died or stalled: its live children are abandoned at once (as after a
        timeout, without waiting for their expiry), the venue is shunned until it answers
        again, and their parents reroute."""
        if msg.name not in self.destinations:
            return
        self.unresponsive[msg.name] = time.time_ns()
        why = f"abandoned: {msg.name} down ({msg.reason}); rerouting"
        for work in list(self.working.values()):
            lost = [
                c for c in work.parent.children.values() if c.venue == msg.name and c.open_qty > 0
            ]
            for child in lost:
                timer = self.child_timers.pop(child.child_id, None)
                if timer is not None:
                    timer.cancel()
                self._route(
                    work.parent, child.child_id, msg.name, child.open_qty, why,
                    child.limit_price, child.wave,
                )  # fmt: skip
                work.parent.abandon(child.child_id)
                self.count("children.peer_down")
            if lost:
                self._reallocate_soon(work.key)

    # ------------------------------------------------------------------ market data
    def _on_md(self, msg: Quote | Depth | Trade | IndicationOfInterest) -> None:
        match msg:
            case Depth() | IndicationOfInterest():
                bids = [(lvl.price, lvl.qty) for lvl in msg.bids]
                asks = [(lvl.price, lvl.qty) for lvl in msg.asks]
                self.view.on_levels(msg.venue, msg.symbol, msg.seq, bids, asks)
                for key in self.view_waiters.pop(msg.symbol, ()):
                    self._reallocate_soon(key)
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
        strategy = admit_parent(msg, self.volume.by_symbol, key in self.working, self.destinations)
        link = self.reply_link(self.orders, identity)
        if not isinstance(strategy, Strategy):
            self.reply_rejected(link, msg.order_id, strategy, None)
            return
        if not self.admit(link, identity, msg, recv_ns, len(self.working)):
            return
        bid, ask = self._arrival_quote(msg.symbol)
        ref = ask if msg.side is Side.BUY else bid
        limit = protection_limit(
            msg.side,
            msg.limit_price,
            ref,
            self.cfg.market_collar_bps,
            self.scenario.tick(msg.symbol),
        )
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
        pov_closing = strategy.kind is StrategyKind.POV and work.closing
        need = 0 if pov_closing else parent.need(work.target)
        waiting = strategy.time_sliced and not work.closing
        if need > 0 and work.rounds < self.cfg.max_rounds:
            if self._await_view(work):
                return
            plans, seen = self._plan(work, need)
            if plans:
                work.view_overdue = False
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

    def _await_view(self, work: Working) -> bool:
        """Whether the next wave waits for venues' market data to reflect own fills first.

        The view nets out an own fill until the venue's next depth or indication; planning
        before that update would see less than the venue holds (a book deeper than the levels
        it publishes), and the plan would depend on whether the fill report or the update came
        first. So the wave waits for the update, at most the venue's ``md_bound_ns``; past it
        (a stalled venue) it plans on the view as it is, counted ``waves.view_overdue``.
        """
        parent = work.parent
        skip = parent.busy_venues | set(self.unresponsive)
        venues = [v for v in [*self.lit_names, *self.pool_specs] if v not in skip]
        pending = self.view.unconfirmed(parent.symbol, parent.side, venues)
        if not pending or work.view_overdue:
            if work.view_timer is not None:
                work.view_timer.cancel()
                work.view_timer = None
            return False
        self.view_waiters.setdefault(parent.symbol, set()).add(work.key)
        if work.view_timer is None:
            bound_ns = max(self.md_bound_ns[v] for v in pending)
            loop = asyncio.get_running_loop()
            work.view_timer = loop.call_later(
                bound_ns / 1e9, self._on_view_overdue, work.key, pending, bound_ns
            )
            self.count("waves.view_waits")
        return True

    def _on_view_overdue(self, key: str, venues: list[str], bound_ns: int) -> None:
        work = self.working.get(key)
        if work is None:
            return
        work.view_timer, work.view_overdue = None, True
        self.count("waves.view_overdue")
        log.warning(
            "%s: cannot confirm the view of %s on %s for %s: no update after own fills in "
            "%.1f ms; planning on the view as it is",
            self.name,
            work.parent.symbol,
            ", ".join(venues),
            work.parent.order_id,
            bound_ns / 1e6,
        )
        self._work(key)

    def _plan(self, work: Working, need: int) -> tuple[list[ChildPlan], list[VenueLevel]]:
        """The next wave's children and the levels they were planned over."""
        parent = work.parent
        busy = parent.busy_venues | set(self.unresponsive)
        lit = self.view.levels(
            parent.symbol, parent.side, [v for v in self.lit_names if v not in busy]
        )
        shown_pools = [p for p in self.pool_specs if self.view.has_levels(p, parent.symbol)]
        skip = busy | (work.dry if work.strategy.kind is StrategyKind.MIN_IMPACT else set())
        dark_ok = [p for p in shown_pools if p not in skip]
        dark = self.view.levels(parent.symbol, parent.side, dark_ok)
        # fill-aware probes every wave; the others probe a pool once per parent (or TWAP slice).
        probed = set() if work.strategy.kind is StrategyKind.FILL_AWARE else work.probed
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
        for timer in (work.timer, work.view_timer):
            if timer is not None:
                timer.cancel()
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
