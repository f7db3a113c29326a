"""The retail broker: takes client orders, applies each order's routing regime, reports back.

Regimes (``SubmitOrder.regime``; the scenario lists which are enabled):
- ``pfof``: to the wholesaler paying the most PFOF per share;
- ``auction``: to the auction house; any remainder follows the scenario's remainder policy
  (the SOR, or back to the top-paying wholesaler at the auction's best price or better);
- ``best-ex``: to the SOR.
A destination that declines or leaves a remainder hands over to the next step of the plan,
ending with the SOR; the client sees one order, its fills, and exactly one terminal report.
The NBBO at receipt goes to the tape with the order (``OrderReceived``): it is the Rule 605
benchmark for everything the reports compute.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import zmq

from protocol.codec import Decoder, encode
from protocol.common import OrderType, Side
from protocol.control import PnlReport, Rejected
from protocol.money import to_micros
from protocol.orders import (
    CancelOrder,
    CancelRejected,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderReceived,
    OrderRejected,
    OrderRouted,
    SubmitOrder,
)
from services.feeds import NbboView
from services.runtime import Service

REPORTS = (OrderAccepted, OrderRejected, OrderFilled, OrderCanceled, CancelRejected, Rejected)


@dataclass(slots=True)
class ClientOrder:
    identity: bytes
    order: SubmitOrder
    regime: str
    plan: list[str]
    cum: int = 0
    child_id: str | None = None
    child_dest: str | None = None
    children: int = 0
    best_auction_price: int | None = None
    done: bool = False
    reasons: list[str] = field(default_factory=list)

    @property
    def remaining(self) -> int:
        return self.order.qty - self.cum


class Broker(Service):
    role = "broker"

    async def _setup(self) -> None:
        self.enabled = set(self.scenario.broker.regimes)
        wholesalers = sorted(self.scenario.wholesalers, key=lambda w: (-to_micros(w.pfof_per_share), w.name))
        self.top_wholesaler = wholesalers[0].name if wholesalers else None
        self.pfof_revenue = 0
        self.fees_paid = 0
        self.clients: dict[str, ClientOrder] = {}
        self.seen: set[str] = set()
        self.by_child: dict[str, str] = {}
        self.nbbo = NbboView(self)
        await self.nbbo.start()
        self.destinations = {}
        names = [w.name for w in self.scenario.wholesalers] + [self.scenario.auction.name, self.scenario.sor.name]
        for name in names:
            sock = self.connect(name, "orders", zmq.DEALER)
            self.destinations[name] = self.link(sock, name)
            self.serve(sock, Decoder(REPORTS), self._on_report, router=False, name=f"reports@{name}")
        self.orders = self.bind("orders", zmq.ROUTER)
        self.serve(self.orders, Decoder([SubmitOrder, CancelOrder]), self._on_client, router=True, name="clients")

    # ------------------------------------------------------------------ clients
    def _plan(self, regime: str) -> list[str]:
        sor, auction = self.scenario.sor.name, self.scenario.auction.name
        wholesaler = [self.top_wholesaler] if self.top_wholesaler else []
        if regime == "pfof":
            return [*wholesaler, sor]
        if regime == "auction":
            if self.scenario.auction.remainder_policy == "return_to_wholesaler":
                return [auction, *wholesaler, sor]
            return [auction, sor]
        return [sor]

    def _on_client(self, identity: bytes | None, msg: object, recv_ns: int) -> None:
        assert identity is not None
        link = self.reply_link(self.orders, identity)
        key_prefix = identity.decode(errors="replace")
        if isinstance(msg, CancelOrder):
            # Retail orders here are marketable and live for milliseconds; cancel is best effort.
            link.send(encode(self.make(CancelRejected, order_id=msg.order_id, reason="too late to cancel: order is being executed")))
            return
        assert isinstance(msg, SubmitOrder)
        key = f"{key_prefix}|{msg.order_id}"
        regime = msg.regime or (self.scenario.broker.regimes[0] if self.scenario.broker.regimes else "")
        reason = field_name = None
        if msg.symbol not in self.scenario.symbol_names:
            reason, field_name = f"unknown symbol {msg.symbol!r}", "symbol"
        elif regime not in self.enabled:
            reason, field_name = f"regime {regime!r} is not enabled (enabled: {', '.join(sorted(self.enabled))})", "regime"
        elif msg.order_type is OrderType.MIDPOINT:
            reason, field_name = "retail orders are market or limit", "order_type"
        elif key in self.seen:
            reason, field_name = "duplicate order_id", "order_id"
        if reason is not None:
            payload = encode(self.make(OrderRejected, order_id=msg.order_id, reason=reason, field=field_name, venue=self.name))
            link.send(payload)
            self.tape(payload)
            self.count("orders.rejected")
            return
        nbbo = self.nbbo.get(msg.symbol)
        self.tape(self.make(
            OrderReceived, order_id=msg.order_id, regime=regime, symbol=msg.symbol, side=msg.side,
            qty=msg.qty, order_type=msg.order_type, limit_price=msg.limit_price, recv_ns=recv_ns,
            nbbo_bid=nbbo.bid_px if nbbo else None, nbbo_ask=nbbo.ask_px if nbbo else None,
            created_ns=msg.ts_ns,
        ))
        client = ClientOrder(identity, msg, regime, self._plan(regime))
        self.clients[key] = client
        self.seen.add(key)
        link.send(encode(self.make(OrderAccepted, order_id=msg.order_id, symbol=msg.symbol, venue=self.name, leaves_qty=msg.qty, recv_ns=recv_ns)))
        self.count(f"orders.{regime}")
        self._route_next(key, client, "regime " + regime)

    def _route_next(self, key: str, client: ClientOrder, reason: str) -> None:
        if not client.plan:
            self._terminal_cancel(key, client, "; ".join(client.reasons) or "no destination left")
            return
        dest = client.plan.pop(0)
        order = client.order
        limit = order.limit_price
        order_type = order.order_type
        if client.best_auction_price is not None and dest != self.scenario.sor.name:
            # Remainder back to a wholesaler: at the auction's best price or better.
            better = min if order.side is Side.BUY else max
            limit = client.best_auction_price if limit is None else better(limit, client.best_auction_price)
            order_type = OrderType.LIMIT
        client.children += 1
        child_id = f"{order.order_id}~{client.children}"
        client.child_id, client.child_dest = child_id, dest
        self.by_child[child_id] = key
        child = self.make(
            SubmitOrder, order_id=child_id, symbol=order.symbol, side=order.side, qty=client.remaining,
            order_type=order_type, limit_price=limit, tif=order.tif, account=self.name,
            regime=client.regime, parent_id=order.order_id, strategy=order.strategy,
        )
        self.destinations[dest].send(encode(child))
        self.tape(self.make(OrderRouted, order_id=order.order_id, child_id=child_id, destination=dest, qty=client.remaining, reason=reason, limit_price=limit, regime=client.regime))

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
                client.cum += msg.fill_qty
                self.pfof_revenue += msg.pfof
                self.fees_paid += msg.fee
                if msg.liquidity == "auction":
                    if client.best_auction_price is None:
                        client.best_auction_price = msg.fill_price
                payload = encode(self.make(
                    OrderFilled, order_id=client.order.order_id, symbol=msg.symbol, side=msg.side,
                    fill_qty=msg.fill_qty, fill_price=msg.fill_price, cum_qty=client.cum,
                    leaves_qty=client.remaining, venue=msg.venue, liquidity=msg.liquidity,
                    exec_id=msg.exec_id, exec_ns=msg.exec_ns, recv_ns=msg.recv_ns, fee=msg.fee,
                    pfof=msg.pfof, correlation_id=client.child_dest,
                ))
                self.reply_link(self.orders, client.identity).send(payload)
                self.tape(payload)
                if client.remaining == 0:
                    self._close(key, client)
            case OrderCanceled() | OrderRejected():
                self.by_child.pop(child_id, None)
                client.reasons.append(f"{client.child_dest}: {msg.reason}")
                if client.remaining > 0 and child_id == client.child_id:
                    self._route_next(key, client, f"after {client.child_dest}: {msg.reason}")

    def _terminal_cancel(self, key: str, client: ClientOrder, reason: str) -> None:
        payload = encode(self.make(
            OrderCanceled, order_id=client.order.order_id, symbol=client.order.symbol,
            canceled_qty=client.remaining, cum_qty=client.cum, reason=reason, venue=self.name,
        ))
        self.reply_link(self.orders, client.identity).send(payload)
        self.tape(payload)
        self._close(key, client)

    def _close(self, key: str, client: ClientOrder) -> None:
        client.done = True
        self.clients.pop(key, None)
        if client.child_id is not None:
            self.by_child.pop(client.child_id, None)
        self.count("orders.terminal")

    async def _drain(self) -> None:
        self.tape(self.make(
            PnlReport, name=self.name, role=self.role,
            components={"pfof_revenue": self.pfof_revenue, "fees_paid": self.fees_paid},
        ))
