"""The router's child orders: sending them, their reports, timeouts and cancels.

``ChildOrders`` is a mixin of ``services.sor.service.Sor``; it owns the children's side of the
router (``child_owner``, ``child_timers``, ``unresponsive``) and hands every parent back to the
router's ``_work`` (reallocate) and ``_settle`` (terminal) once its children report.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import zmq

from protocol.codec import encode
from protocol.common import OrderType, TimeInForce
from protocol.control import Rejected
from protocol.orders import (
    CancelOrder,
    CancelRejected,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderRouted,
    RouteQuote,
    SubmitOrder,
)
from services.reports import prorated
from services.runtime import call_at_wall
from services.sor.core import VenueLevel
from services.sor.parent import Child, ParentOrder
from services.sor.strategies import ChildPlan, FillRates, Strategy

if TYPE_CHECKING:
    from config.scenario import SorConfig
    from services.latency import Link
    from services.reports import OrderReports
    from services.sor.view import BookView, MarketVolume

    _Base = OrderReports
else:
    _Base = object

log = logging.getLogger("services.sor.service")
# A timed-out child whose venue's reports wait unread is looked at again this much later
TIMEOUT_RECHECK_S = 0.005


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
    view_timer: asyncio.TimerHandle | None = None  # waiting for venues to reflect own fills
    view_overdue: bool = False  # that wait ran out: the next wave plans on the view as it is


class ChildOrders(_Base):
    """Child orders of the router's parents (see the module docstring)."""

    if TYPE_CHECKING:  # state and steps of the router (services.sor.service.Sor)
        cfg: SorConfig
        view: BookView
        volume: MarketVolume
        rates: FillRates
        orders: Any
        destinations: dict[str, Link]
        grace_ns: dict[str, int]
        lag_bound_ns: int
        child_sockets: dict[str, Any]
        working: dict[str, Working]
        done: OrderedDict[str, Working]
        child_owner: dict[str, str]
        child_timers: dict[str, asyncio.TimerHandle]
        unresponsive: dict[str, int]
        pending_work: set[str]
        child_seq: int
        counters: dict[str, int]

        def reply_link(self, sock: Any, identity: bytes) -> Link: ...
        def _work(self, key: str) -> None: ...
        def _settle(self, work: Working, cancel_reason: str = ...) -> bool: ...

    # ------------------------------------------------------------------ sending
    def _send_wave(self, work: Working, plans: list[ChildPlan], seen: list[VenueLevel]) -> None:
        """Send one wave of children, all expiring ``child_timeout_ms`` from now; the wave's
        decision, with the levels it was planned over, goes to the tape with its first child."""
        parent = work.parent
        sign = parent.side.sign
        best = min(lvl.price * sign for lvl in seen) * sign if seen else None
        quotes = [RouteQuote(venue=lvl.venue, price=lvl.price, qty=lvl.qty) for lvl in seen]
        work.rounds += 1
        parent.waves += 1
        now = time.time_ns()
        expire_ns = now + self.cfg.child_timeout_ms * 1_000_000
        for index, plan in enumerate(plans):
            child_id = self._send_child(work, plan, now, expire_ns)
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

    def _send_child(self, work: Working, plan: ChildPlan, now: int, expire_ns: int) -> str:
        """One IOC child (a midpoint probe or a limit order) to its venue, under a timer."""
        parent = work.parent
        self.child_seq += 1
        child_id = f"{parent.order_id}/{self.child_seq}"
        parent.add_child(
            Child(child_id, plan.venue, plan.kind, plan.qty, plan.limit_price, parent.waves, now)
        )
        if plan.order_type is OrderType.MIDPOINT:
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
                    order_type=plan.order_type,
                    limit_price=plan.limit_price,
                    tif=TimeInForce.IOC,
                    account=self.name,
                    parent_id=parent.order_id,
                    expire_ns=expire_ns,
                    # Each wave allocates over every lit venue's depth, best price first, and
                    # sends its children at once: the sweep of better-priced protected quotes
                    # an intermarket sweep order stands for (Reg NMS Rule 611(b)(6)).
                    intermarket_sweep=True,
                )
            )
        )
        due_ns = expire_ns + self.grace_ns[plan.venue]
        self.child_timers[child_id] = call_at_wall(
            due_ns, self._on_child_timeout, work.key, child_id, due_ns
        )
        return child_id

    # ------------------------------------------------------------------ reports
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
        taken = parent.fill(child.child_id, msg.fill_qty, msg.fill_price, msg.fee)
        if taken is not None and taken < msg.fill_qty:
            # A child given up (timed out) that executed after all, its quantity already
            # rerouted: the router keeps the excess (counted), the client gets its order's size.
            self.count("children.overfill_shares", msg.fill_qty - taken)
            log.error(
                "%s: overfill: %d of %d shares on %s beyond parent %s's size",
                self.name,
                msg.fill_qty - taken,
                msg.fill_qty,
                child.venue,
                parent.order_id,
            )
            if taken == 0:
                return
            msg = prorated(msg, taken)
        if taken is None:
            self.count("children.late_fills")
            log.warning(
                "%s: late fill of %d on %s for finished parent %s",
                self.name,
                msg.fill_qty,
                child.venue,
                parent.order_id,
            )
            return
        self.pass_on_fill(
            self.reply_link(self.orders, work.identity),
            msg,
            parent.order_id,
            parent.cum_qty,
            parent.remaining,
            correlation_id=child.child_id,
        )

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
        self._reallocate_soon(work.key)

    def _reallocate_soon(self, key: str) -> None:
        """Reallocate after this batch of reports or updates (one wave for several of them)."""
        if key in self.working and key not in self.pending_work:
            self.pending_work.add(key)
            asyncio.get_running_loop().call_soon(self._work, key)

    def _on_child_timeout(self, key: str, child_id: str, due_ns: int) -> None:
        self.child_timers.pop(child_id, None)
        work = self.working.get(key)
        if work is None:
            return
        child = work.parent.children[child_id]
        if not child.live or child.abandoned:
            return
        if self._reports_waiting(child.venue) and time.time_ns() < due_ns + self.lag_bound_ns:
            # Reports from that venue are waiting to be read: the router, not the venue, is
            # behind, and this child's report may be among them (giving it up now would
            # reroute shares it executed: an overfill). Read them first; a router further
            # behind than [limits] lag_ms is overloaded anyway and gives up as before.
            self.count("children.timeout_deferred")
            self.child_timers[child_id] = asyncio.get_running_loop().call_later(
                TIMEOUT_RECHECK_S, self._on_child_timeout, key, child_id, due_ns
            )
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

    def _reports_waiting(self, venue: str) -> bool:
        """Whether messages from ``venue`` wait unread on its socket (pyzmq's asyncio ``get``
        of ``EVENTS`` re-arms the loop's reader, so asking loses no wake-up)."""
        sock = self.child_sockets.get(venue)
        return sock is not None and bool(sock.get(zmq.EVENTS) & zmq.POLLIN)

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
