"""A wholesaler: internalises the retail orders brokers send it (paying PFOF), answers auction
notices, hedges its inventory on lit venues, and keeps its P&L decomposed.

Both channels are priced by one dealer model (``services.dealer``): the same cost model, the same
private noisy view of value, the same markup learner — one per channel, each rewarded by the
profit the channel earns per retail order competed for. The flow it gets in the internalisation
channel depends on the broker's scorecard (price improvement x fill rate against its rivals);
in the auction channel, on beating the other responders. See docs/ECONOMICS.md.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time

import msgspec
import zmq

from config.scenario import PfofRouting, WholesalerPricing, WholesalerSpec
from protocol.auctions import AuctionCompleted, AuctionStarted
from protocol.codec import Decoder, encode
from protocol.common import Liquidity, OrderType, Side, TimeInForce
from protocol.control import PeerDown, Rejected
from protocol.dealers import DealerState
from protocol.errors import ProtocolError
from protocol.marketdata import NBBO, ValueUpdate
from protocol.money import outside_quote, to_micros
from protocol.orders import (
    ORDER_REPORTS,
    CancelOrder,
    CancelRejected,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    RoutingScorecard,
    SubmitOrder,
)
from services.dealer.desk import AUCTION, INTERNALIZE, Desk
from services.dealer.responder import AuctionResponder
from services.feeds import Feed, NbboView
from services.latency import Link
from services.runtime import Service
from services.snapshots import (
    SNAPSHOT_INTERVAL_S,
    Journal,
    read_journal,
    read_state,
    snapshot_dir,
    write_state,
)
from services.wholesaler.core import (
    SUBPENNY,
    fixed_spread_price,
    mid_of,
    pfof_rate,
    within_limit,
)

log = logging.getLogger(__name__)


class Wholesaler(Service):
    role = "wholesaler"

    async def _setup(self) -> None:
        spec: WholesalerSpec = next(w for w in self.scenario.wholesalers if w.name == self.name)
        self.spec_w = spec
        self.pfof_per_share = to_micros(spec.pfof_per_share)
        self.symbols = set(self.scenario.symbol_names)
        # Adverse selection and the markup are learned per channel: internalised flow, and
        # auctions won (priced against the NBBO at the auction's start: the window's drift and
        # the winner's curse land there).
        self.desk = Desk.build(
            self.name,
            self.role,
            spec.dealer_spec(self.scenario.dealers),
            (INTERNALIZE, AUCTION),
            self.rng("dealer"),
            self,
            self._mid,
            # The broker's scorecard answers a new price after its window of reviews (a
            # top-payer broker does not look at prices at all).
            credit_delay_s={
                INTERNALIZE: self.scenario.broker.scorecard_window
                * self.scenario.broker.scorecard_period_s
                if self.scenario.broker.pfof_routing is PfofRouting.SCORECARD
                else 0.0
            },
            # An auction's fill arrives a window (and links) after its notice.
            settle_grace_s={AUCTION: self.scenario.auction.window_ms / 1e3 + 0.5},
        )
        if self.scenario.dealers.warm_start and self.desk.restore(self.scenario.dealers.warm_start):
            self.count("dealer.warm_started")
        self.accounts = self.desk.accounts
        # The restart policy (docs/RELIABILITY.md): a wholesaler it names journals its trades
        # and snapshots its learning; started again, it rejoins from them. Ids it makes carry
        # the restart (``wh-a~1-…``) so none repeats one its earlier process sent.
        self.restartable = self.name in self.scenario.restart.services
        self.id_prefix = self.name if not self.restarts else f"{self.name}~{self.restarts}"
        if self.restartable:
            self._rejoin()
        self.auction_responder: AuctionResponder | None = None
        self.participation_rng = self.rng("participation")
        self.fill_rng = self.rng("fill-rate")
        self.exec_seq = 0
        self.hedge_seq = 0
        self.hedging: dict[str, str] = {}  # symbol -> the venue of its hedge in flight
        self.down: set[str] = set()  # venues the orchestrator reported down
        self.nbbo = NbboView(self, self._on_nbbo)
        await self.nbbo.start()
        await Feed(self, self.scenario.value.name, "values", [ValueUpdate], self._on_value).start()
        self.orders = self.bind("orders", zmq.ROUTER)
        self.serve(
            self.orders,
            Decoder([SubmitOrder, CancelOrder, RoutingScorecard]),
            self._on_order,
            router=True,
            name="orders",
        )
        auction = self.scenario.auction.name
        self.auction_out = self.connect(auction, "responses", zmq.DEALER)
        self.auction_link = self.link(self.auction_out, auction, extra_us=spec.decision_us)
        self.auction_responder = AuctionResponder(
            self,
            self.auction_link,
            {self.name: self.desk},
            self._quote,
            "auctions",
            self.scenario.auction.response_updates,
        )
        self.serve(
            self.auction_out,
            Decoder(ORDER_REPORTS),  # with CancelRejected: a withdrawal may come too late
            self._on_auction_report,
            router=False,
            name="auction-reports",
        )
        notices = Feed(
            self,
            auction,
            "auctions",
            [AuctionStarted, AuctionCompleted],
            self._on_notice,
            snapshot_endpoint=None,
        )
        await notices.start()
        self.venues = {}
        for venue in self.scenario.venues:
            sock = self.connect(venue.name, "orders", zmq.DEALER)
            self.venues[venue.name] = (sock, self.link(sock, venue.name))
            self.serve(
                sock,
                Decoder([OrderAccepted, OrderRejected, OrderFilled, OrderCanceled, Rejected]),
                self._on_hedge_report,
                router=False,
                name=f"hedge@{venue.name}",
            )

    # ------------------------------------------------------------------ restart policy
    def _rejoin(self) -> None:
        """Open the trade journal; a restarted process first resumes its learning from the last
        state snapshot and replays the journal into its accounts (services/snapshots.py)."""
        where = snapshot_dir(self.config.run_dir)
        self.state_path = where / f"{self.name}.state"
        journal_path = where / f"{self.name}.journal"
        if self.restarts:
            saved = read_state(self.state_path)
            if saved is not None:
                state = msgspec.msgpack.decode(saved, type=DealerState)
                self.desk.restore_state(state, f"snapshot {self.state_path}")
                self.count("restart.state_restored")
            entries, torn = read_journal(journal_path)
            for entry in entries:
                self.accounts.replay(entry)
            self.count("restart.trades_replayed", len(entries))
            if torn:  # the last entry was cut short by the death: drop it before appending
                os.truncate(journal_path, journal_path.stat().st_size - torn)
                self.count("restart.journal_torn")
            log.info(
                "%s: rejoined (restart %d): %d trades replayed, learning from %s",
                self.name, self.restarts, len(entries),
                "its last snapshot" if saved is not None else "the start (no snapshot yet)",
            )  # fmt: skip
        self.journal = Journal(journal_path)
        self.accounts.on_trade = self.journal.append

    async def _snapshots(self) -> None:
        while True:
            await asyncio.sleep(SNAPSHOT_INTERVAL_S)
            state = self.make(DealerState, **self.desk.state_fields())
            write_state(self.state_path, encode(state))

    # ------------------------------------------------------------------ internalisation
    def _mid(self, symbol: str) -> float | None:
        return mid_of(self.nbbo.usable(symbol))

    def _on_order(self, identity: bytes | None, msg: object, recv_ns: int) -> None:
        assert identity is not None
        link = self.reply_link(self.orders, identity)
        if isinstance(msg, RoutingScorecard):
            if identity != self.scenario.broker.name.encode():  # under CURVE: the broker's key
                self.count("scorecards.refused")
                why = ProtocolError("sender", "only the broker reviews wholesalers")
                self._reject_frame(self.orders, identity, why, "RoutingScorecard")
                return
            self._on_scorecard(msg)
            return
        if isinstance(msg, CancelOrder):
            # Internalisation is immediate: nothing of ours is ever left to cancel.
            link.send(
                encode(self.make(CancelRejected, order_id=msg.order_id, reason="already done"))
            )
            return
        assert isinstance(msg, SubmitOrder)
        if self.refuse_expired(link, msg):  # internalisation is immediate: receipt is enough
            return
        # Nothing waits here (internalisation is immediate): only the lag and the send queues
        # can refuse an order busy; the broker then moves it to its plan's next step.
        if not self.admit(link, identity, msg, recv_ns, pending=0):
            return
        nbbo = self.nbbo.usable(msg.symbol)  # the one NBBO this order is priced and marked on
        decline = self._decline_reason(msg, nbbo)
        if decline is not None:
            field, reason = decline
            if field is not None:
                self.reply_rejected(link, msg.order_id, reason, field)
                return
            self.reply_canceled(link, msg.order_id, msg.symbol, msg.qty, 0, reason)
            self.count("orders.declined")
            return
        assert nbbo is not None
        self._internalize(link, msg, nbbo, recv_ns)

    def _internalize(self, link: Link, msg: SubmitOrder, nbbo: NBBO, recv_ns: int) -> None:
        """Fill the whole order at our price; decline it when the NBBO does not cover our cost,
        or cancel it when its limit does not reach our price."""
        assert nbbo.bid_px is not None and nbbo.ask_px is not None
        bid, ask = nbbo.bid_px, nbbo.ask_px
        rate = pfof_rate(self.pfof_per_share, self.spec_w.pfof_spread_share, bid, ask)
        if msg.pfof_rate is not None:
            rate = min(rate, msg.pfof_rate)
        price = self._price(msg, rate, bid, ask)
        if price is None:
            self.reply_canceled(
                link, msg.order_id, msg.symbol, msg.qty, 0, "declined: the NBBO does not cover cost"
            )
            self.count("orders.declined")
            return
        if not within_limit(msg.side, price, msg.limit_price):
            self.reply_canceled(
                link, msg.order_id, msg.symbol, msg.qty, 0, "limit not marketable at our price"
            )
            return
        if outside_quote(price, bid, ask):
            # Reg NMS Rule 611(a): never through either side of the NBBO known at execution
            # (internalisation executes on receipt: the NBBO this order was priced on).
            self.reply_canceled(
                link, msg.order_id, msg.symbol, msg.qty, 0,
                f"declined: {price} would trade through the NBBO {bid}-{ask}",
            )  # fmt: skip
            self.count("orders.through_nbbo")
            return
        mid = (bid + ask) / 2
        pfof = rate * msg.qty
        self.desk.filled(INTERNALIZE, msg.symbol, msg.side, msg.qty, price, mid, pfof=pfof)
        self.exec_seq += 1
        self.reply_filled(
            link, msg.order_id, msg.symbol, msg.side, msg.qty, price,
            cum_qty=msg.qty, leaves_qty=0, liquidity=Liquidity.INTERNALIZED,
            exec_id=f"{self.id_prefix}-{self.exec_seq}", exec_ns=time.time_ns(), recv_ns=recv_ns,
            pfof=pfof, nbbo=(bid, ask),
        )  # fmt: skip
        self.count("orders.internalized")
        self._maybe_hedge(msg.symbol, nbbo)

    def _price(self, msg: SubmitOrder, rate: int, bid: int, ask: int) -> int | None:
        """Our price for the order paying the broker ``rate`` per share (None: decline)."""
        if self.spec_w.pricing == WholesalerPricing.FIXED_SPREAD:
            return fixed_spread_price(msg.side, bid, ask, self.spec_w.fixed_spread_bps)
        return self.desk.price(
            INTERNALIZE, msg.symbol, msg.side, bid, ask, SUBPENNY, pfof_per_share=rate
        )

    def _on_scorecard(self, card: RoutingScorecard) -> None:
        """The broker's review: the flow it routed to all its wholesalers is what this channel
        competed for (its learner is rewarded per share of it)."""
        self.desk.saw_flow(INTERNALIZE, sum(e.routed_shares for e in card.entries))
        entry = next((e for e in card.entries if e.wholesaler == self.name), None)
        if entry is not None and entry.demoted:
            self.count("scorecards.demoted")
        self.count("scorecards")

    def _on_value(self, msg: ValueUpdate) -> None:
        self.desk.observe(msg.symbol, msg.value)

    async def _on_running(self) -> None:
        self.spawn(self._learning_clock(), "learning-clock")
        if self.restartable:
            self.spawn(self._snapshots(), "snapshots")

    async def _learning_clock(self) -> None:
        """Close learning periods on time, whether or not an order arrives."""
        period = self.scenario.dealers.learning_period_s
        while True:
            await asyncio.sleep(period / 4)
            self.desk.tick()

    def _decline_reason(self, msg: SubmitOrder, nbbo: NBBO | None) -> tuple[str | None, str] | None:
        """``(field, reason)`` to reject (a field) or decline (no field) the order, else None."""
        if msg.symbol not in self.symbols:
            return "symbol", f"unknown symbol {msg.symbol!r}"
        if msg.order_type is OrderType.MIDPOINT:
            return "order_type", "midpoint orders are not internalised"
        if nbbo is None:
            return None, "no valid NBBO (one-sided, locked or crossed)"
        if self.spec_w.fill_rate < 1.0 and self.fill_rng.random() >= self.spec_w.fill_rate:
            return None, "declined (fill rate)"
        if msg.qty > self.spec_w.max_order_qty:
            return None, f"above capacity of {self.spec_w.max_order_qty} shares per order"
        position = self.accounts.inventory.get(msg.symbol, 0) + (
            -msg.qty if msg.side is Side.BUY else msg.qty
        )
        if abs(position) > self.spec_w.inventory_limit:
            return None, "inventory limit"
        return None

    # ------------------------------------------------------------------ hedging
    def _maybe_hedge(self, symbol: str, nbbo: NBBO | None) -> None:
        position = self.accounts.inventory.get(symbol, 0)
        if abs(position) <= self.spec_w.hedge_threshold or symbol in self.hedging:
            return
        if nbbo is None:
            return
        qty = abs(position) - self.spec_w.hedge_threshold // 2
        side = Side.SELL if position > 0 else Side.BUY
        venue = nbbo.bid_venue if side is Side.SELL else nbbo.ask_venue
        price = nbbo.bid_px if side is Side.SELL else nbbo.ask_px
        if venue not in self.venues or venue in self.down or price is None:
            return
        self.hedge_seq += 1
        order = self.make(
            SubmitOrder,
            order_id=f"{self.id_prefix}-h{self.hedge_seq}",
            symbol=symbol,
            side=side,
            qty=qty,
            order_type=OrderType.LIMIT,
            limit_price=price,
            tif=TimeInForce.IOC,
            account=self.name,
        )
        self.hedging[symbol] = venue
        self.venues[venue][1].send(encode(order))
        self.count("hedges.sent")

    def _on_hedge_report(self, _identity: bytes | None, msg: object, _recv_ns: int) -> None:
        match msg:
            case OrderFilled():
                mid = self._mid(msg.symbol) or float(msg.fill_price)
                signed = msg.fill_qty if msg.side is Side.BUY else -msg.fill_qty
                self.accounts.trade(
                    msg.symbol, signed, msg.fill_price, mid, hedge=True, fee=msg.fee
                )
                if msg.leaves_qty == 0:
                    self.hedging.pop(msg.symbol, None)
            case OrderCanceled() | OrderRejected():
                symbol = getattr(msg, "symbol", None)
                self.hedging.pop(symbol, None) if symbol else self.hedging.clear()
            case Rejected():
                self.hedging.clear()

    def _on_peer_down(self, msg: PeerDown) -> None:
        """A venue lost: a hedge in flight there will not be answered, so its symbol may hedge
        again (elsewhere: no more hedges go to a venue reported down)."""
        if msg.name not in self.venues:
            return
        self.down.add(msg.name)
        for symbol in [s for s, venue in self.hedging.items() if venue == msg.name]:
            del self.hedging[symbol]
            self.count("hedges.abandoned")

    # ------------------------------------------------------------------ auctions
    def _on_notice(self, msg: AuctionStarted | AuctionCompleted) -> None:
        if isinstance(msg, AuctionCompleted):
            if self.auction_responder is not None:
                self.auction_responder.closed(msg.auction_id)
            return
        if msg.symbol not in self.symbols or self.auction_responder is None:
            return
        if self.spec_w.auction_participation <= 0:
            return
        token = self.desk.saw_flow(AUCTION, msg.qty)
        if self.participation_rng.random() > self.spec_w.auction_participation:
            return
        signed = -msg.qty if msg.side is Side.BUY else msg.qty
        position = self.accounts.inventory.get(msg.symbol, 0) + signed
        if abs(position) > self.spec_w.inventory_limit:
            return
        qty = min(msg.qty, self.spec_w.max_order_qty)
        response_id = f"{self.name}-r{msg.auction_id}"
        if not self.auction_responder.respond(self.name, msg, qty, token, response_id):
            self.count("auctions.declined")
            return
        self.count("auctions.responded")

    def _on_nbbo(self, nbbo: NBBO) -> None:
        if self.auction_responder is not None:
            self.auction_responder.on_nbbo(nbbo)

    def _quote(self, symbol: str) -> tuple[int, int] | None:
        nbbo = self.nbbo.usable(symbol)
        if nbbo is None or nbbo.bid_px is None or nbbo.ask_px is None:
            return None
        return nbbo.bid_px, nbbo.ask_px

    def _on_auction_report(self, _identity: bytes | None, msg: object, _recv_ns: int) -> None:
        if self.auction_responder is None:
            return
        pending = self.auction_responder.report(msg)
        match msg:
            case OrderFilled():
                # Marked from the mid its price was set on (the auction's start, or the NBBO
                # it was last re-priced on).
                mid = pending.mid if pending else float(msg.fill_price)
                investor = Side.SELL if msg.side is Side.BUY else Side.BUY
                self.desk.filled(
                    AUCTION, msg.symbol, investor, msg.fill_qty, msg.fill_price, mid,
                    fee=msg.fee, token=pending.token if pending else -1,
                )  # fmt: skip
                self.count("auctions.won_shares", msg.fill_qty)
                self._maybe_hedge(msg.symbol, self.nbbo.usable(msg.symbol))
            case OrderRejected():
                self.count("auctions.rejected")

    def _last_mid(self, symbol: str) -> float:
        """The usable mid, else the last two-sided NBBO's mid, else the reference price."""
        mid = self._mid(symbol)
        if mid is not None:
            return mid
        nbbo = self.nbbo.get(symbol)
        if nbbo is not None and nbbo.bid_px is not None and nbbo.ask_px is not None:
            return (nbbo.bid_px + nbbo.ask_px) / 2
        return float(next(s.price_micros for s in self.scenario.symbols if s.symbol == symbol))

    async def _drain(self) -> None:
        if not hasattr(self, "nbbo"):  # start-up failed before the market view existed
            return
        mids = {s: self._last_mid(s) for s in self.scenario.symbol_names}
        self.desk.report(mids)
        if self.restartable:
            self.journal.close()
