"""A wholesaler: internalises the retail orders brokers send it (paying PFOF), answers auction
notices, hedges its inventory on lit venues, and keeps its P&L decomposed. See ``wholesaler_core``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace

import zmq

from config.scenario import WholesalerPricing, WholesalerSpec
from protocol.auctions import AuctionCompleted, AuctionStarted, SubmitAuctionResponse
from protocol.codec import Decoder, encode
from protocol.common import Liquidity, OrderType, Side, TimeInForce
from protocol.control import PnlReport, Rejected
from protocol.marketdata import NBBO
from protocol.money import to_micros
from protocol.orders import (
    CancelOrder,
    CancelRejected,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    RoutingScorecard,
    SubmitOrder,
)
from services.feeds import Feed, NbboView
from services.latency import Link
from services.runtime import Service
from services.wholesaler.core import (
    Accounts,
    Economics,
    Ewma,
    MarkoutEstimate,
    auction_price,
    fixed_spread_price,
    internalization_price,
    mid_of,
    within_limit,
)


@dataclass(slots=True)
class PendingResponse:
    auction_id: str
    symbol: str
    side: Side  # the retail order's
    mid: float


def economics(spec: WholesalerSpec) -> Economics:
    """The pricing core's parameters from the scenario's dollars (micro-dollars)."""
    return Economics(
        pfof_per_share=to_micros(spec.pfof_per_share),
        target_margin_share=spec.target_margin_share,
        min_margin=to_micros(spec.min_margin_per_share),
        auction_margin=to_micros(spec.auction_margin_per_share),
        max_order_qty=spec.max_order_qty,
        inventory_limit=spec.inventory_limit,
        inventory_cost_per_1k=to_micros(spec.inventory_cost_per_1k),
    )


class Wholesaler(Service):
    role = "wholesaler"

    async def _setup(self) -> None:
        spec = next(w for w in self.scenario.wholesalers if w.name == self.name)
        self.spec_w = spec
        self.econ = economics(spec)
        self.accounts = Accounts()
        # Adverse selection is learned per channel: internalised flow, and auctions won (whose
        # price was set against the NBBO at the auction's start: the window's drift and the
        # winner's curse land there).
        self.adverse = {s: MarkoutEstimate() for s in self.scenario.symbol_names}
        self.auction_adverse = {s: MarkoutEstimate() for s in self.scenario.symbol_names}
        self.rivals = Ewma(0.1)
        self.responses: dict[str, PendingResponse] = {}
        self.participation_rng = self.rng("participation")
        self.fill_rng = self.rng("fill-rate")
        self.exec_seq = 0
        self.hedge_seq = 0
        self.hedging: set[str] = set()
        self.nbbo = NbboView(self)
        await self.nbbo.start()
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
        self.serve(
            self.auction_out,
            Decoder([OrderAccepted, OrderRejected, OrderFilled, OrderCanceled, Rejected]),
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

    # ------------------------------------------------------------------ internalisation
    def _mid(self, symbol: str) -> float | None:
        return mid_of(self.nbbo.usable(symbol))

    def _on_order(self, identity: bytes | None, msg: object, recv_ns: int) -> None:
        assert identity is not None
        link = self.reply_link(self.orders, identity)
        if isinstance(msg, RoutingScorecard):
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
        """Fill the whole order at our price, or cancel it if its limit does not reach it."""
        assert nbbo.bid_px is not None and nbbo.ask_px is not None
        rate = (
            self.econ.pfof_per_share
            if msg.pfof_rate is None
            else min(self.econ.pfof_per_share, msg.pfof_rate)
        )
        price = self._price(msg, rate, nbbo.bid_px, nbbo.ask_px)
        if not within_limit(msg.side, price, msg.limit_price):
            self.reply_canceled(
                link, msg.order_id, msg.symbol, msg.qty, 0, "limit not marketable at our price"
            )
            return
        mid = (nbbo.bid_px + nbbo.ask_px) / 2
        pfof = rate * msg.qty
        signed = -msg.qty if msg.side is Side.BUY else msg.qty  # we take the other side
        self.accounts.trade(msg.symbol, signed, price, mid, hedge=False, pfof=pfof)
        self.exec_seq += 1
        self.reply_filled(
            link, msg.order_id, msg.symbol, msg.side, msg.qty, price,
            cum_qty=msg.qty, leaves_qty=0, liquidity=Liquidity.INTERNALIZED,
            exec_id=f"{self.name}-{self.exec_seq}", exec_ns=time.time_ns(), recv_ns=recv_ns,
            pfof=pfof,
        )  # fmt: skip
        self.count("orders.internalized")
        self._after_trade(msg.symbol, signed, nbbo)

    def _price(self, msg: SubmitOrder, rate: int, bid: int, ask: int) -> int:
        """Our price for the order, with the broker's PFOF ``rate`` (at most our standard one)."""
        if self.spec_w.pricing == WholesalerPricing.FIXED_SPREAD:
            return fixed_spread_price(msg.side, bid, ask, self.spec_w.fixed_spread_bps)
        econ = (
            self.econ
            if rate == self.econ.pfof_per_share
            else replace(self.econ, pfof_per_share=rate)
        )
        return internalization_price(
            econ,
            msg.side,
            bid,
            ask,
            self.adverse[msg.symbol].charge,
            self.accounts.inventory.get(msg.symbol, 0),
        )

    def _on_scorecard(self, card: RoutingScorecard) -> None:
        """Routing pressure: a poor review costs margin; a good one lets it recover."""
        entry = next((e for e in card.entries if e.wholesaler == self.name), None)
        if entry is None:
            return
        target = self.spec_w.target_margin_share
        share = self.econ.target_margin_share
        if entry.demoted or (
            entry.orders and entry.improvement_per_share < entry.best_improvement_per_share
        ):
            share *= 1.0 - self.spec_w.margin_cut_on_demotion
            self.count("scorecards.pressured")
        else:
            share += self.spec_w.margin_recovery * (target - share)
        self.econ = replace(self.econ, target_margin_share=share)
        self.count("scorecards")

    def _decline_reason(self, msg: SubmitOrder, nbbo: NBBO | None) -> tuple[str | None, str] | None:
        """``(field, reason)`` to reject (a field) or decline (no field) the order, else None."""
        if msg.symbol not in self.adverse:
            return "symbol", f"unknown symbol {msg.symbol!r}"
        if msg.order_type is OrderType.MIDPOINT:
            return "order_type", "midpoint orders are not internalised"
        if nbbo is None:
            return None, "no valid NBBO (one-sided, locked or crossed)"
        if self.spec_w.fill_rate < 1.0 and self.fill_rng.random() >= self.spec_w.fill_rate:
            return None, "declined (fill rate)"
        if msg.qty > self.econ.max_order_qty:
            return None, f"above capacity of {self.econ.max_order_qty} shares per order"
        position = self.accounts.inventory.get(msg.symbol, 0) + (
            -msg.qty if msg.side is Side.BUY else msg.qty
        )
        if abs(position) > self.econ.inventory_limit:
            return None, "inventory limit"
        return None

    def _after_trade(
        self, symbol: str, signed_qty: int, nbbo: NBBO | None, auction_mid: float | None = None
    ) -> None:
        """Schedule the fill's markout and hedge if needed (``nbbo``: the usable NBBO now). An
        auction fill (``auction_mid``: the mid its bid was priced against) is marked from that
        mid, in the auction channel."""
        mid = mid_of(nbbo) if auction_mid is None else auction_mid
        if mid is not None:
            asyncio.get_running_loop().call_later(
                self.spec_w.markout_horizon_ms / 1e3,
                self._markout,
                symbol,
                signed_qty,
                mid,
                auction_mid is not None,
            )
        self._maybe_hedge(symbol, nbbo)

    def _markout(self, symbol: str, signed_qty: int, mid_before: float, auction: bool) -> None:
        """Adverse selection: how far the mid moved against the position after the fill.

        Signed, so uninformed flow averages to zero; the pricing uses it only when positive.
        """
        mid = self._mid(symbol)
        if mid is None:
            return
        moved_against = (mid_before - mid) * (1 if signed_qty > 0 else -1)
        estimates = self.auction_adverse if auction else self.adverse
        estimate = estimates[symbol].update(moved_against)
        prefix = "auction_" if auction else ""
        self.counters[f"{prefix}adverse_micros.{symbol}"] = round(estimate)
        self.counters[f"{prefix}markout_mean_micros.{symbol}"] = round(estimates[symbol].mean)
        self.count(f"{prefix}markouts")

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
        if venue not in self.venues or price is None:
            return
        self.hedge_seq += 1
        order = self.make(
            SubmitOrder,
            order_id=f"{self.name}-h{self.hedge_seq}",
            symbol=symbol,
            side=side,
            qty=qty,
            order_type=OrderType.LIMIT,
            limit_price=price,
            tif=TimeInForce.IOC,
            account=self.name,
        )
        self.hedging.add(symbol)
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
                    self.hedging.discard(msg.symbol)
            case OrderCanceled() | OrderRejected():
                symbol = getattr(msg, "symbol", None)
                self.hedging.discard(symbol) if symbol else self.hedging.clear()
            case Rejected():
                self.hedging.clear()

    # ------------------------------------------------------------------ auctions
    def _on_notice(self, msg: AuctionStarted | AuctionCompleted) -> None:
        if isinstance(msg, AuctionCompleted):
            rivals = msg.responses - (1 if self.name in msg.responders else 0)
            self.rivals.update(max(0, rivals))
            return
        if self.participation_rng.random() > self.spec_w.auction_participation:
            return
        signed = -msg.qty if msg.side is Side.BUY else msg.qty
        position = self.accounts.inventory.get(msg.symbol, 0) + signed
        if msg.symbol not in self.adverse or abs(position) > self.econ.inventory_limit:
            return
        qty = min(msg.qty, self.econ.max_order_qty)
        price = auction_price(
            self.econ,
            msg.side,
            msg.nbbo_bid,
            msg.nbbo_ask,
            msg.increment,
            self.rivals.value,
            msg.limit_price,
            self.auction_adverse[msg.symbol].charge,
            self.accounts.inventory.get(msg.symbol, 0),
        )
        if price is None:
            self.count("auctions.declined")
            return
        response_id = f"{self.name}-r{msg.auction_id}"
        self.responses[response_id] = PendingResponse(
            msg.auction_id, msg.symbol, msg.side, (msg.nbbo_bid + msg.nbbo_ask) / 2
        )
        response = self.make(
            SubmitAuctionResponse,
            auction_id=msg.auction_id,
            response_id=response_id,
            responder=self.name,
            price=price,
            qty=qty,
        )
        self.auction_link.send(encode(response))
        self.count("auctions.responded")

    def _on_auction_report(self, _identity: bytes | None, msg: object, _recv_ns: int) -> None:
        match msg:
            case OrderFilled():
                pending = self.responses.get(msg.order_id)
                nbbo = self.nbbo.usable(msg.symbol)
                mid = mid_of(nbbo) or (pending.mid if pending else float(msg.fill_price))
                signed = msg.fill_qty if msg.side is Side.BUY else -msg.fill_qty
                self.accounts.trade(
                    msg.symbol, signed, msg.fill_price, mid, hedge=False, fee=msg.fee
                )
                self.count("auctions.won_shares", msg.fill_qty)
                if msg.leaves_qty == 0:
                    self.responses.pop(msg.order_id, None)
                self._after_trade(
                    msg.symbol, signed, nbbo, auction_mid=pending.mid if pending else mid
                )
            case OrderCanceled():
                self.responses.pop(msg.order_id, None)
            case OrderRejected():
                self.responses.pop(msg.order_id, None)
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
        mids = {s: self._last_mid(s) for s in self.scenario.symbol_names}
        report = self.make(
            PnlReport,
            name=self.name,
            role=self.role,
            components=self.accounts.components(mids),
            inventory=dict(self.accounts.inventory),
        )
        self.tape(report)
