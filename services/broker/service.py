"""The retail broker: takes client orders, applies each order's routing regime, reports back.

Routing decisions come from the pure ``broker_core.RoutingTable`` (one plan of steps per regime).
The client sees one order, its fills, and exactly one terminal report. The NBBO at receipt goes to
the tape with the order (``OrderReceived``): it is the Rule 605 benchmark for the reports. Every
``scorecard_period_s`` the broker reviews its wholesalers' price improvement and sends each a
``RoutingScorecard`` (the routing pressure they respond to).

Every destination of a regime's plan gets the order as immediate-or-cancel. A DAY limit order
that none of them filled completely then *rests* at its limit on the scenario's limit venue (a
lit book), until it fills, the client cancels it, or the close (the injector cancels what is
still open). A client's cancel ends the order at the next opportunity: at once for a resting
order (the venue confirms), or when the destination working it hands the order back.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time

import zmq

from config.scenario import Regime
from protocol.codec import Decoder, encode
from protocol.common import Liquidity, OrderType, Side, TimeInForce
from protocol.control import PeerDown, PeerUp, PnlReport, Rejected
from protocol.money import to_micros
from protocol.orders import (
    BUSY,
    ORDER_REPORTS,
    CancelOrder,
    CancelRejected,
    OrderCanceled,
    OrderFilled,
    OrderReceived,
    OrderRejected,
    OrderRouted,
    RoutingScorecard,
    ScorecardEntry,
    SubmitOrder,
)
from services.auction.core import remainder_worst_price
from services.auction.rule615 import auction_exemption, is_segmented
from services.broker.core import ClientOrder, RoutingTable, WholesalerStats, admission_error
from services.broker.scorecard import Scorecard
from services.feeds import NbboView
from services.reports import prorated
from services.runtime import Service

log = logging.getLogger("services.broker.service")


class Broker(Service):
    role = "broker"

    async def _setup(self) -> None:
        cfg = self.scenario.broker
        self.enabled = set(cfg.regimes)
        self.table = self._routing_table()
        self.commission = to_micros(cfg.commission_per_order)
        self.pfof_revenue = 0
        self.commission_revenue = 0
        self.fees_paid = 0
        self.period_start = time.time_ns()
        self.clients: dict[str, ClientOrder] = {}
        self.resting_count = 0  # clients' day limits resting on the limit venue (not in routing)
        self.seen: set[str] = set()
        self.by_child: dict[str, str] = {}
        self.down: dict[str, str] = {}  # destinations the orchestrator reported down: why
        self.refs: set[str] = set()
        self.nbbo = NbboView(self)
        await self.nbbo.start()
        self.destinations = {}
        self.limit_venue = self.scenario.limit_venue
        names = [w.name for w in self.scenario.wholesalers] + [
            self.scenario.auction.name,
            self.scenario.sor.name,
            self.limit_venue,
        ]
        for name in names:
            sock = self.connect(name, "orders", zmq.DEALER)
            self.destinations[name] = self.link(sock, name)
            self.serve(
                sock, Decoder(ORDER_REPORTS), self._on_report, router=False, name=f"reports@{name}"
            )
        self.orders = self.bind("orders", zmq.ROUTER)
        self.serve(
            self.orders,
            Decoder([SubmitOrder, CancelOrder]),
            self._on_client,
            router=True,
            name="clients",
        )

    def _routing_table(self) -> RoutingTable:
        cfg = self.scenario.broker
        return RoutingTable(
            wholesalers={
                w.name: WholesalerStats(w.name, to_micros(w.pfof_per_share))
                for w in self.scenario.wholesalers
            },
            auction=self.scenario.auction.name,
            sor=self.scenario.sor.name,
            pfof_cap=to_micros(cfg.pfof_cap_per_share),
            execution_weight=cfg.execution_weight,
            balanced_weight=cfg.balanced_execution_weight,
            remainder_policy=self.scenario.auction.remainder_policy,
            pfof_routing=cfg.pfof_routing,
            scorecard=Scorecard(
                [w.name for w in self.scenario.wholesalers],
                window=cfg.scorecard_window,
                floor=cfg.scorecard_floor,
                tolerance=cfg.scorecard_tolerance,
            )
            if self.scenario.wholesalers
            else None,
            rng=random.Random(int(self.rng("flow").integers(2**63))),
        )

    async def _on_running(self) -> None:
        if self.scenario.wholesalers:
            self.spawn(self._scorecards(), "scorecards")

    # ------------------------------------------------------------------ clients
    def _on_client(self, identity: bytes | None, msg: object, recv_ns: int) -> None:
        assert identity is not None
        link = self.reply_link(self.orders, identity)
        if isinstance(msg, CancelOrder):
            self._on_client_cancel(identity, msg)
            return
        assert isinstance(msg, SubmitOrder)
        key = self._client_key(identity, msg.order_id)
        name = msg.regime or (
            self.scenario.broker.regimes[0] if self.scenario.broker.regimes else ""
        )
        symbols = self.scenario.symbol_names
        error = admission_error(
            msg,
            name,
            symbols,
            self.enabled,
            key in self.seen,
            max_qty=self.scenario.broker.max_order_qty,
            tick=self.scenario.tick(msg.symbol) if msg.symbol in symbols else None,
        )
        if error is not None:
            self.count(f"orders.rejected.{error.partition(':')[0]}")
            self.reply_rejected(link, msg.order_id, error, None)
            return
        if not self.admit(link, identity, msg, recv_ns, len(self.clients) - self.resting_count):
            return
        regime = Regime(name)
        nbbo = self.nbbo.get(msg.symbol)
        bid, ask = (nbbo.bid_px, nbbo.ask_px) if nbbo else (None, None)
        segmented = is_segmented(msg.natural_person, msg.avg_daily_trades)
        exemption = (
            auction_exemption(msg.side, msg.qty, msg.limit_price, segmented, bid, ask)
            if regime in (Regime.AUCTION, Regime.HYBRID)
            else None
        )
        self.tape(
            self.make(
                OrderReceived,
                order_id=msg.order_id,
                regime=regime,
                symbol=msg.symbol,
                side=msg.side,
                qty=msg.qty,
                order_type=msg.order_type,
                limit_price=msg.limit_price,
                recv_ns=recv_ns,
                nbbo_bid=bid,
                nbbo_ask=ask,
                created_ns=msg.ts_ns,
                tif=msg.tif,
                segmented=segmented,
                auction_exemption=exemption,
                best_bid=nbbo.best_bid_px if nbbo else None,
                best_ask=nbbo.best_ask_px if nbbo else None,
            )
        )
        plan = self.table.plan(regime, auction_exempt=exemption is not None)
        client = ClientOrder(identity, msg, regime, plan, bid, ask)
        # Child ids must be unique downstream although clients may reuse order ids.
        client.ref, uses = msg.order_id, 1
        while client.ref in self.refs:
            uses += 1
            client.ref = f"{msg.order_id}@{uses}"
        self.refs.add(client.ref)
        if regime is Regime.COMMISSION:
            client.commission_due = self.commission
        self.clients[key] = client
        self.seen.add(key)
        self.reply_accepted(link, msg.order_id, msg.symbol, msg.qty, recv_ns)
        self.count(f"orders.{regime}")
        why = f"regime {regime}" + (f"; auction exemption {exemption}" if exemption else "")
        if exemption:
            self.count(f"orders.auction_exempt.{exemption}")
        self._route_next(key, client, why)

    def _client_key(self, identity: bytes, order_id: str) -> str:
        """A client's order, scoped to the key it was sent with (under CURVE) and its routing
        id: another key reusing the routing id or the order id never reaches it."""
        user = self.user_of(self.orders, identity) or ""
        return f"{user}|{identity.decode(errors='replace')}|{order_id}"

    def _on_client_cancel(self, identity: bytes, msg: CancelOrder) -> None:
        client = self.clients.get(self._client_key(identity, msg.order_id))
        if client is None or client.cancel_requested is not None:
            reason = "unknown order or already done" if client is None else "cancel already pending"
            reply = self.make(CancelRejected, order_id=msg.order_id, reason=reason)
            self.reply_link(self.orders, identity).send(encode(reply))
            return
        client.cancel_requested = "canceled by client"
        self.count("orders.cancel_requests")
        dest = client.child_dest
        if client.child_id is not None and (client.resting or dest == self.scenario.sor.name):
            # A resting order is canceled on its venue; a parent working at the SOR is canceled
            # there (its children with it). Either way the destination's cancel ends the order.
            cancel = self.make(CancelOrder, order_id=client.child_id, symbol=client.order.symbol)
            # child_dest is set together with child_id (_send_child), so dest is a str here.
            self.destinations[dest].send(encode(cancel))  # type: ignore[index]
        # Wholesalers and the auction hand the order back within their (short) window.

    def _on_peer_down(self, msg: PeerDown) -> None:
        """Stop waiting on a lost destination: every order whose current child is there moves
        to its next step (or ends canceled, naming the destination and why); later steps skip
        it. A report it sends after all (a stall, not a death) is ignored as a stray."""
        if msg.name not in self.destinations:
            return
        why = f"{msg.name} down ({msg.reason})"
        self.down[msg.name] = why
        for key, client in list(self.clients.items()):
            if client.child_dest != msg.name or client.child_id is None:
                continue
            self.by_child.pop(client.child_id, None)
            client.reasons.append(why)
            self.count("orders.peer_down")
            if client.resting:
                self._terminal_cancel(key, client, client.cancel_requested or why)
            else:
                self._route_next(key, client, f"after {why}")

    def _on_peer_up(self, msg: PeerUp) -> None:
        """A lost destination restarted by the restart policy is ready again: later steps
        route to it (orders already moved past it stay where they went)."""
        if self.down.pop(msg.name, None) is not None:
            self.count("destinations.back")

    def _route_next(self, key: str, client: ClientOrder, reason: str) -> None:
        if client.cancel_requested is not None:
            self._terminal_cancel(key, client, client.cancel_requested)
            return
        while client.plan and client.plan[0].destination in self.down:
            client.reasons.append(self.down[client.plan.pop(0).destination])
        if not client.plan:
            if client.can_rest and self.limit_venue not in self.down:
                self._rest(key, client, reason)
                return
            self._terminal_cancel(key, client, "; ".join(client.reasons) or "no destination left")
            return
        step = client.plan.pop(0)
        order = client.order
        limit, order_type = order.limit_price, order.order_type
        if step.at_auction_price:
            # Remainder back to a wholesaler: at the auction's best price or better (or the NBBO).
            worst = self._remainder_price(client)
            if worst is not None:
                limit, order_type = worst, OrderType.LIMIT
        self.table.routed(step.destination, client.remaining)
        # every step of a plan is immediate-or-cancel; a day limit rests only after the plan
        self._send_child(
            key, client, step.destination, order_type, limit, TimeInForce.IOC, reason,
            pfof_rate=step.pfof_rate,
        )  # fmt: skip

    def _remainder_price(self, client: ClientOrder) -> int | None:
        """The worst price for an auction remainder returned to a wholesaler (the auction
        core's rule), against the NBBO now if the auction left no price."""
        order = client.order
        far = None
        if client.best_auction_price is None:
            nbbo = self.nbbo.usable(order.symbol)
            if nbbo is not None:
                far = nbbo.ask_px if order.side is Side.BUY else nbbo.bid_px
        return remainder_worst_price(order.side, order.limit_price, client.best_auction_price, far)

    def _rest(self, key: str, client: ClientOrder, reason: str) -> None:
        """Post what is left of a day limit on the limit venue, at the client's limit.

        Each resting order carries its own customer account: the venue's self-trade prevention
        must not cancel one retail customer's order because another one's meets it."""
        client.resting = True
        self.resting_count += 1
        self.count("orders.rested")
        self._send_child(
            key, client, self.limit_venue, OrderType.LIMIT, client.order.limit_price,
            TimeInForce.DAY, f"rest day limit ({reason})",
            account=f"{self.name}-r{self.counters['orders.rested']}",
        )  # fmt: skip

    def _send_child(
        self,
        key: str,
        client: ClientOrder,
        destination: str,
        order_type: OrderType,
        limit: int | None,
        tif: TimeInForce,
        reason: str,
        pfof_rate: int | None = None,
        account: str | None = None,
    ) -> None:
        """Send the order's remaining quantity to ``destination`` as its current child."""
        order = client.order
        client.children += 1
        child_id = f"{client.ref}~{client.children}"
        client.child_id, client.child_dest = child_id, destination
        self.by_child[child_id] = key
        child = self.make(
            SubmitOrder,
            order_id=child_id,
            symbol=order.symbol,
            side=order.side,
            qty=client.remaining,
            order_type=order_type,
            limit_price=limit,
            tif=tif,
            account=account or self.name,
            regime=client.regime,
            parent_id=order.order_id,
            strategy=order.strategy,
            pfof_rate=pfof_rate,
        )
        self.destinations[destination].send(encode(child))
        self.tape(
            self.make(
                OrderRouted,
                order_id=order.order_id,
                child_id=child_id,
                destination=destination,
                qty=client.remaining,
                reason=reason,
                limit_price=limit,
                regime=client.regime,
            )
        )

    # ------------------------------------------------------------------ destinations
    def _on_report(self, _identity: bytes | None, msg: object, _recv_ns: int) -> None:
        if isinstance(msg, Rejected):
            self.count("reports.protocol_rejected")
            return
        child_id = getattr(msg, "order_id", "")
        key = self.by_child.get(child_id)
        client = self.clients.get(key) if key else None
        if client is None or key is None:
            return
        match msg:
            case OrderFilled():
                self._on_fill(key, client, msg)
            case OrderCanceled() | OrderRejected():
                if isinstance(msg, OrderRejected) and msg.field == BUSY:
                    self.count(f"routes.busy.{client.child_dest}")  # its next step takes it
                self.by_child.pop(child_id, None)
                client.reasons.append(f"{client.child_dest}: {msg.reason}")
                if client.remaining > 0 and child_id == client.child_id:
                    if client.resting:  # the resting order ended: canceled, or the close
                        self._terminal_cancel(key, client, client.cancel_requested or msg.reason)
                    else:
                        self._route_next(key, client, f"after {client.child_dest}: {msg.reason}")
            case CancelRejected() if client.cancel_requested and child_id == client.child_id:
                # The destination had nothing left to cancel: the order goes on, and says so.
                client.cancel_requested = None
                refused = self.make(
                    CancelRejected,
                    order_id=client.order.order_id,
                    reason=f"too late to cancel at {client.child_dest}: {msg.reason}",
                )
                self.reply_link(self.orders, client.identity).send(encode(refused))

    def _on_fill(self, key: str, client: ClientOrder, msg: OrderFilled) -> None:
        if msg.fill_qty > client.remaining:
            # A destination executed more than the order had open (it should not: the router
            # caps what it passes on). The client gets its order's size; the excess is the
            # broker's own position, counted and logged, never an execution report that says
            # more than the order (a negative leaves quantity the client could not read).
            excess = msg.fill_qty - client.remaining
            self.count("fills.overfill_shares", excess)
            log.error(
                "%s: overfill: %d of %d shares from %s beyond order %s's size",
                self.name, excess, msg.fill_qty, client.child_dest, client.order.order_id,
            )  # fmt: skip
            if client.remaining <= 0:
                return
            msg = prorated(msg, client.remaining)
        client.cum += msg.fill_qty
        self.pfof_revenue += msg.pfof
        self.fees_paid += msg.fee
        commission, client.commission_due = client.commission_due, 0
        self.commission_revenue += commission
        if msg.liquidity is Liquidity.AUCTION and client.best_auction_price is None:
            client.best_auction_price = msg.fill_price
        if client.nbbo_bid is not None and client.nbbo_ask is not None:
            self.table.record_execution(
                client.child_dest or "", msg.side, msg.fill_qty, msg.fill_price,
                client.nbbo_bid, client.nbbo_ask, (msg.exec_ns or 0) - (msg.recv_ns or 0),
            )  # fmt: skip
        self.pass_on_fill(
            self.reply_link(self.orders, client.identity),
            msg,
            client.order.order_id,
            client.cum,
            client.remaining,
            commission=commission,
            correlation_id=client.child_dest,
        )
        if client.remaining == 0:
            if client.cancel_requested is not None:
                too_late = self.make(
                    CancelRejected,
                    order_id=client.order.order_id,
                    reason="too late to cancel: the order filled",
                )
                self.reply_link(self.orders, client.identity).send(encode(too_late))
            self._close(key, client)

    def _terminal_cancel(self, key: str, client: ClientOrder, reason: str) -> None:
        self.reply_canceled(
            self.reply_link(self.orders, client.identity),
            client.order.order_id,
            client.order.symbol,
            client.remaining,
            client.cum,
            reason,
        )
        self._close(key, client)

    def _close(self, key: str, client: ClientOrder) -> None:
        if self.clients.pop(key, None) is not None and client.resting:
            self.resting_count -= 1
        if client.child_id is not None:
            self.by_child.pop(client.child_id, None)
        self.count("orders.terminal")

    # ------------------------------------------------------------------ scorecards
    async def _scorecards(self) -> None:
        while True:
            await asyncio.sleep(self.scenario.broker.scorecard_period_s)
            self._review()

    def _review(self) -> None:
        now = time.time_ns()
        grades = self.table.review()
        best = max((g.improvement_per_share for g in grades), default=0)
        card = self.make(
            RoutingScorecard,
            broker=self.name,
            period_start_ns=self.period_start,
            period_end_ns=now,
            entries=[
                ScorecardEntry(
                    wholesaler=g.name,
                    orders=g.period_sent,
                    routed_shares=g.period_sent_shares,
                    improvement_bp=g.improvement_bp,
                    shares=g.shares,
                    improvement_per_share=g.improvement_per_share,
                    best_improvement_per_share=best,
                    demoted=g.demoted,
                    fill_rate_bp=round(g.fill_rate * 10_000),
                    flow_share_bp=round(g.share * 10_000),
                )
                for g in grades
            ],
        )
        payload = encode(card)
        for name in self.table.wholesalers:
            self.destinations[name].send(payload)
        self.tape(payload)
        self.period_start = now
        self.count("scorecards")

    async def _drain(self) -> None:
        self.tape(
            self.make(
                PnlReport,
                name=self.name,
                role=self.role,
                components={
                    "pfof_revenue": self.pfof_revenue,
                    "commission_revenue": self.commission_revenue,
                    "fees_paid": self.fees_paid,
                    "total": self.pfof_revenue + self.commission_revenue - self.fees_paid,
                },
            )
        )
