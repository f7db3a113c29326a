"""The auction house (proposed Rule 615): one auction per segmented retail order.

A broker's order opens an auction: a notice on PUB ``md`` to every responder, a window from the
scenario, responses on ROUTER ``responses`` validated against the increment, the order's limit and
the NBBO at start. At the window's end the clearing core allocates in price-time order; fills go
to the broker and to the winners, losing responses are canceled, the remainder is canceled back to
the broker (which applies the scenario's remainder policy), and ``AuctionCompleted`` goes to the
tape and to every subscriber.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass, field

import zmq

from protocol.auctions import (
    AuctionAllocation,
    AuctionCompleted,
    AuctionStarted,
    CancelAuctionResponse,
    SubmitAuctionResponse,
)
from protocol.codec import Decoder, encode
from protocol.common import Liquidity
from protocol.money import to_micros
from protocol.orders import (
    CancelOrder,
    CancelRejected,
    OrderCanceled,
    SubmitOrder,
)
from services.auction.core import (
    AuctionResponse,
    AuctionSpec,
    Clearing,
    admission_error,
    clear,
)
from services.auction.responses import ResponseBook
from services.auction.rule615 import exposure_limit
from services.feeds import NbboView
from services.latency import Link
from services.runtime import Service
from services.security import responder_error

# AuctionSpec's fields, copied flat into each notice (``dataclasses.asdict`` copies recursively:
# 11% of the auction house's samples at 2,500 orders/s, docs/PERFORMANCE.md)
SPEC_FIELDS = tuple(f.name for f in dataclasses.fields(AuctionSpec))


@dataclass(slots=True)
class OpenAuction:
    spec: AuctionSpec
    identity: bytes
    order: SubmitOrder
    recv_ns: int
    book: ResponseBook
    responder_ids: dict[str, bytes] = field(default_factory=dict)  # response id -> routing id


class AuctionHouse(Service):
    role = "auction"

    async def _setup(self) -> None:
        cfg = self.scenario.auction
        self.window_ns = cfg.window_ms * 1_000_000
        self.increment = to_micros(cfg.increment)
        self.order_fee = to_micros(cfg.order_fee)
        self.responder_fee = to_micros(cfg.responder_fee)
        self.open: dict[str, OpenAuction] = {}
        self.seq = 0
        self.auction_seq = 0
        self.exec_seq = 0
        self.nbbo = NbboView(self)
        await self.nbbo.start()
        self.orders = self.bind("orders", zmq.ROUTER)
        self.pub = self.bind("md", zmq.PUB)
        self.pub_link = self.link(self.pub, "*")
        self.responses = self.bind("responses", zmq.ROUTER)
        self.serve(
            self.orders,
            Decoder([SubmitOrder, CancelOrder]),
            self._on_order,
            router=True,
            name="orders",
        )
        self.serve(
            self.responses,
            Decoder([SubmitAuctionResponse, CancelAuctionResponse]),
            self._on_response,
            router=True,
            name="responses",
        )

    # ------------------------------------------------------------------ orders from brokers
    def _on_order(self, identity: bytes | None, msg: object, recv_ns: int) -> None:
        assert identity is not None
        link = self.reply_link(self.orders, identity)
        if isinstance(msg, CancelOrder):
            link.send(
                encode(
                    self.make(
                        CancelRejected, order_id=msg.order_id, reason="auctions cannot be canceled"
                    )
                )
            )
            return
        assert isinstance(msg, SubmitOrder)
        if self.refuse_expired(link, msg):
            return
        start = time.time_ns()
        error = admission_error(msg, self.scenario.symbol_names, start, self.window_ns)
        if error is not None:
            self.reply_rejected(link, msg.order_id, error, None)
            return
        if not self.admit(link, identity, msg, recv_ns, len(self.open)):
            return
        nbbo = self.nbbo.usable(msg.symbol)
        if nbbo is None or nbbo.bid_px is None or nbbo.ask_px is None:
            self.reply_canceled(
                link, msg.order_id, msg.symbol, msg.qty, 0, "no valid NBBO to start an auction"
            )
            return
        self.auction_seq += 1
        spec = AuctionSpec(
            auction_id=f"{self.name}-{self.auction_seq}",
            symbol=msg.symbol,
            side=msg.side,
            qty=msg.qty,
            # Exposed at a limit price (proposed Rule 615): a market order at the far side of
            # the NBBO at the start, so no response executes worse than that quote.
            limit_price=exposure_limit(msg.side, msg.limit_price, nbbo.bid_px, nbbo.ask_px),
            nbbo_bid=nbbo.bid_px,
            nbbo_ask=nbbo.ask_px,
            increment=self.increment,
            start_ns=start,
            end_ns=start + self.window_ns,
        )
        self.open[spec.auction_id] = OpenAuction(
            spec, identity, msg, recv_ns, ResponseBook(spec, self.scenario.auction.response_updates)
        )
        self.reply_accepted(link, msg.order_id, msg.symbol, msg.qty, recv_ns)
        self._announce(spec, msg)

    def _announce(self, spec: AuctionSpec, order: SubmitOrder) -> None:
        """``AuctionStarted`` to every responder; the auction completes when its window ends."""
        self.seq += 1
        # The notice carries the auction's spec field for field (the same names by design).
        notice = self.make(
            AuctionStarted,
            **{name: getattr(spec, name) for name in SPEC_FIELDS},
            seq=self.seq,
            broker=order.sender if self.scenario.auction.disclose_broker else None,
        )
        payload = encode(notice)
        self.pub_link.send(payload)
        self.tape(payload)
        self.count("auctions.started")
        loop = asyncio.get_running_loop()
        loop.call_later(self.window_ns / 1e9, self._complete, spec.auction_id)

    # ------------------------------------------------------------------ responses
    def _on_response(
        self,
        identity: bytes | None,
        msg: SubmitAuctionResponse | CancelAuctionResponse,
        recv_ns: int,
    ) -> None:
        """A response, its replacement or its cancel (``services.auction.responses``)."""
        assert identity is not None
        link = self.reply_link(self.responses, identity)
        reason: str | None = None
        if self.keys is not None:  # a response names its own key (docs/SECURITY.md)
            user = self.user_of(self.responses, identity)
            reason = responder_error(self.keys, msg.responder, user, self.scenario.agents.name)
            if reason is not None:
                self.count("responses.rejected.responder")
        auction = self.open.get(msg.auction_id)
        if reason is None and auction is None:
            reason = "auction_id: unknown or already closed"
        if isinstance(msg, CancelAuctionResponse):
            self._on_cancel(link, auction, msg, recv_ns, reason)
            return
        if reason is not None or auction is None:
            self._refuse_response(link, msg.response_id, reason)
            return
        response = AuctionResponse(msg.response_id, msg.responder, msg.price, msg.qty, recv_ns)
        outcome = auction.book.submit(response)
        if outcome.reason is not None:
            self._refuse_response(link, msg.response_id, outcome.reason)
            return
        auction.responder_ids[msg.response_id] = identity
        if outcome.replaced is not None:
            old = outcome.replaced
            self._response_canceled(
                auction, old.response_id, old.qty, f"replaced by {msg.response_id}"
            )
        if outcome.replaced is not None or outcome.modified:
            self.count("responses.replaced")
        self.reply_accepted(link, msg.response_id, auction.spec.symbol, msg.qty, recv_ns)

    def _on_cancel(
        self,
        link: Link,
        auction: OpenAuction | None,
        msg: CancelAuctionResponse,
        recv_ns: int,
        reason: str | None,
    ) -> None:
        qty = 0
        if reason is None and auction is not None:
            reason, qty = auction.book.cancel(msg.responder, msg.response_id, recv_ns)
        if reason is not None or auction is None:
            link.send(encode(self.make(CancelRejected, order_id=msg.response_id, reason=reason)))
            self.count("responses.cancel_rejected")
            return
        self._response_canceled(auction, msg.response_id, qty, "canceled by responder")
        self.count("responses.canceled")

    def _refuse_response(self, link: Link, response_id: str, reason: str | None) -> None:
        self.reply_rejected(link, response_id, reason or "responder: refused", None)
        self.count("responses.rejected")

    def _response_canceled(
        self, auction: OpenAuction, response_id: str, qty: int, reason: str, cum_qty: int = 0
    ) -> None:
        """``OrderCanceled`` for what is left of one response, to the responder that sent it."""
        self.reply_link(self.responses, auction.responder_ids[response_id]).send(
            encode(
                self.make(
                    OrderCanceled,
                    order_id=response_id,
                    symbol=auction.spec.symbol,
                    canceled_qty=qty,
                    cum_qty=cum_qty,
                    reason=reason,
                    venue=self.name,
                )
            )
        )

    # ------------------------------------------------------------------ clearing
    def _complete(self, auction_id: str) -> None:
        """Clear the auction: fills, canceled responses, the remainder back to the broker, and
        ``AuctionCompleted`` to the tape and every subscriber, in that order."""
        auction = self.open.get(auction_id)
        if auction is None:
            return
        # The window is stamped on the wall clock (``end_ns``) but timed on the event loop's
        # monotonic clock; the two drift apart by up to a millisecond. Never close early: an
        # auction announced as lasting ``window_ms`` lasts at least that on its own stamps.
        early_ns = auction.spec.end_ns - time.time_ns()
        if early_ns > 0:
            asyncio.get_running_loop().call_later(early_ns / 1e9, self._complete, auction_id)
            return
        del self.open[auction_id]
        spec, order = auction.spec, auction.order
        # Reg NMS Rule 611 at execution: the NBBO this auction knows now, not at its start
        # (``[auction] nbbo_check = "start"``: the quotes the responses were priced on).
        now = self.nbbo.get(spec.symbol)
        exec_nbbo = (now.bid_px, now.ask_px) if now is not None else (None, None)
        if self.scenario.auction.nbbo_check == "start":
            exec_nbbo = (spec.nbbo_bid, spec.nbbo_ask)
        clearing = clear(spec, auction.book.live(), exec_nbbo)
        if clearing.through_nbbo:
            self.count("responses.through_nbbo_at_execution", clearing.through_nbbo)
        exec_ns = time.time_ns()
        broker_link = self.reply_link(self.orders, auction.identity)
        filled = self._execute(auction, clearing, broker_link, exec_ns, exec_nbbo)
        self._cancel_responses(auction, filled)
        if clearing.remainder_qty:
            self.reply_canceled(
                broker_link,
                order.order_id,
                spec.symbol,
                clearing.remainder_qty,
                clearing.filled_qty,
                f"auction remainder ({clearing.responses} responses)",
            )
        self._publish_completed(auction, clearing, exec_ns, exec_nbbo)

    def _execute(
        self,
        auction: OpenAuction,
        clearing: Clearing,
        broker_link: Link,
        exec_ns: int,
        exec_nbbo: tuple[int | None, int | None],
    ) -> dict[str, int]:
        """Each allocation is one execution: reported to the broker (the retail order's fill)
        and to the winning responder. Returns the shares filled per response."""
        spec = auction.spec
        cum = 0
        filled_by_response: dict[str, int] = {}
        for alloc in clearing.allocations:
            cum += alloc.qty
            self.exec_seq += 1
            exec_id = f"{self.name}-{self.exec_seq}"
            self.reply_filled(
                broker_link, auction.order.order_id, spec.symbol, spec.side, alloc.qty,
                alloc.price, cum_qty=cum, leaves_qty=spec.qty - cum, venue=alloc.responder,
                liquidity=Liquidity.AUCTION, exec_id=exec_id, exec_ns=exec_ns,
                recv_ns=auction.recv_ns, nbbo=exec_nbbo, fee=self.order_fee * alloc.qty,
            )  # fmt: skip
            filled_by_response[alloc.response_id] = alloc.qty
            response_qty = next(
                r.qty for r in auction.book.live() if r.response_id == alloc.response_id
            )
            self.reply_filled(
                self.reply_link(self.responses, auction.responder_ids[alloc.response_id]),
                alloc.response_id, spec.symbol, spec.side.opposite, alloc.qty, alloc.price,
                cum_qty=alloc.qty, leaves_qty=response_qty - alloc.qty,
                liquidity=Liquidity.AUCTION, exec_id=exec_id, exec_ns=exec_ns, nbbo=exec_nbbo,
                fee=self.responder_fee * alloc.qty,
            )  # fmt: skip
        return filled_by_response

    def _cancel_responses(self, auction: OpenAuction, filled: dict[str, int]) -> None:
        """What is left of every live response is canceled: the auction is closed."""
        for response in auction.book.live():
            done = filled.get(response.response_id, 0)
            if response.qty > done:
                self._response_canceled(
                    auction, response.response_id, response.qty - done, "auction closed", done
                )

    def _publish_completed(
        self,
        auction: OpenAuction,
        clearing: Clearing,
        exec_ns: int,
        exec_nbbo: tuple[int | None, int | None],
    ) -> None:
        spec = auction.spec
        self.seq += 1
        done = self.make(
            AuctionCompleted,
            auction_id=spec.auction_id,
            symbol=spec.symbol,
            side=spec.side,
            qty=spec.qty,
            filled_qty=clearing.filled_qty,
            remainder_qty=clearing.remainder_qty,
            best_price=clearing.best_price,
            responses=clearing.responses,
            allocations=[
                AuctionAllocation(
                    response_id=a.response_id, responder=a.responder, price=a.price, qty=a.qty
                )
                for a in clearing.allocations
            ],
            nbbo_bid_start=spec.nbbo_bid,
            nbbo_ask_start=spec.nbbo_ask,
            nbbo_bid_end=exec_nbbo[0],
            nbbo_ask_end=exec_nbbo[1],
            start_ns=spec.start_ns,
            end_ns=exec_ns,
            responders=sorted({r.responder for r in auction.book.live()}),
            seq=self.seq,
            through_nbbo=clearing.through_nbbo,
        )
        payload = encode(done)
        self.pub_link.send(payload)
        self.tape(payload)
        self.count("auctions.completed")

    async def _drain(self) -> None:
        for auction_id in list(self.open):
            self._complete(auction_id)
