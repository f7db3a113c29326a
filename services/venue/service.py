"""A lit exchange: one price-time priority book per symbol behind a ROUTER, BBO and trades on PUB.

Clients' order ids are scoped by their identity, so two clients may reuse an id. Every fill is
encoded once and sent to its owner and to the tape; quotes are published only when a book's top
of book changes. Fees: takers pay ``taker_fee`` per share, makers receive ``maker_rebate``. An
order with ``expire_ns`` is refused if it arrives at or after it, and canceled (``"expired"``) if it
still rests then.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import zmq

from protocol.codec import Decoder, encode
from protocol.common import Liquidity, OrderType, Side, TimeInForce
from protocol.marketdata import Depth, Level, Quote, Snapshot, SnapshotRequest, Trade
from protocol.money import to_micros
from protocol.orders import (
    CancelOrder,
    CancelRejected,
    ReplaceOrder,
    SubmitOrder,
)
from services.runtime import Service, call_at_wall
from services.venue.away import AwayQuotes
from services.venue.book import Fill, OrderBook, SubmitResult

ACCEPTS = (SubmitOrder, CancelOrder, ReplaceOrder, SnapshotRequest)


@dataclass(slots=True)
class Owner:
    """Who owns a live order on this venue and how much of it has executed."""

    identity: bytes
    order_id: str
    symbol: str
    side: Side
    qty: int
    cum_qty: int = 0
    recv_ns: int = 0


class Venue(Service):
    role = "venue"

    async def _setup(self) -> None:
        spec = next(v for v in self.scenario.venues if v.name == self.name)
        self.taker_fee = to_micros(spec.taker_fee)
        self.maker_rebate = to_micros(spec.maker_rebate)
        self.books = {
            s.symbol: OrderBook(
                s.symbol,
                collar_bps=spec.collar_bps,
                reference_price=s.price_micros,
                tick=self.scenario.tick(s.symbol),
            )
            for s in self.scenario.symbols
        }
        for index, seed in enumerate(spec.book):  # a seeded book: resting orders owned by nobody
            for symbol in self.books if seed.symbol == "*" else [seed.symbol]:
                self.books[symbol].submit(
                    f"seed|{index}|{symbol}",
                    "seed",
                    seed.side,
                    seed.qty,
                    OrderType.LIMIT,
                    to_micros(seed.price),
                    TimeInForce.DAY,
                    0,
                )
        self.bbo_versions = dict.fromkeys(self.books, -1)
        self.depth_levels = spec.depth_levels
        self.quotes: dict[str, Quote] = {}
        self.depths: dict[str, Depth] = {}
        self.depth_dirty: set[str] = set()
        self.owners: dict[str, Owner] = {}
        self.seq = 0
        self.exec_seq = 0
        self.orders = self.bind("orders", zmq.ROUTER)
        self.pub = self.bind("md", zmq.PUB)
        self.pub_link = self.link(self.pub, "*")
        self.publish_sequence(self.pub_link, "quotes", lambda: self.seq)
        self.serve(self.orders, Decoder(ACCEPTS), self._on_message, router=True, name="orders")
        for symbol in self.books:
            self._publish_quote_if_changed(symbol)
        self.away = AwayQuotes(self, list(self.books), [v.name for v in self.scenario.venues])

    async def _on_running(self) -> None:
        # The other venues' quotes (order protection): started once running, since every venue
        # snapshots every other and none may wait for the others to come up in its set-up.
        for feed in self.away.feeds():
            self.spawn(feed.start(), f"away-quotes@{feed.publisher}")

    # ------------------------------------------------------------------ dispatch
    def _on_message(self, identity: bytes | None, msg: object, recv_ns: int) -> None:
        assert identity is not None
        match msg:
            case SubmitOrder():
                self._on_submit(identity, msg, recv_ns)
            case CancelOrder():
                self._on_cancel(identity, msg)
            case ReplaceOrder():
                self._on_replace(identity, msg, recv_ns)
            case SnapshotRequest():
                snap = self.make(
                    Snapshot,
                    stream=msg.stream,
                    seq=self.seq,
                    quotes=list(self.quotes.values()),
                    depths=list(self.depths.values()),
                )
                self.reply_link(self.orders, identity).send(encode(snap))

    def _send(self, identity: bytes, payload: bytes, tape: bool = False) -> None:
        self.reply_link(self.orders, identity).send(payload)
        if tape:
            self.tape(payload)

    def _reject(self, identity: bytes, order_id: str, reason: str, field: str | None) -> None:
        self.reply_rejected(self.reply_link(self.orders, identity), order_id, reason, field)

    # ------------------------------------------------------------------ orders
    def _on_submit(self, identity: bytes, msg: SubmitOrder, recv_ns: int) -> None:
        link = self.reply_link(self.orders, identity)
        if self.refuse_expired(link, msg):
            return
        book = self.books.get(msg.symbol)
        if book is None:
            self._reject(
                identity, msg.order_id, f"unknown symbol {msg.symbol!r} on {self.name}", "symbol"
            )
            return
        if msg.order_type is OrderType.MIDPOINT:
            self._reject(
                identity,
                msg.order_id,
                "midpoint orders go to dark pools, not lit venues",
                "order_type",
            )
            return
        key = f"{identity.decode(errors='replace')}|{msg.order_id}"
        if key in self.owners:
            self._reject(identity, msg.order_id, "duplicate of a live order", "order_id")
            return
        # Backpressure (docs/RELIABILITY.md): a book works what it takes at once, so only the
        # lag and the send queues can refuse a new order busy (an accepted one always ends).
        if not self.admit(link, identity, msg, recv_ns, pending=0):
            return
        # Read once: the book and the fills use it. An intermarket sweep is not checked against
        # the other venues (Rule 611(b)(6)): its sender swept them at the same time.
        protect = (None, None) if msg.intermarket_sweep else self.away.protect(msg.symbol)
        result = book.submit(
            key,
            msg.account,
            msg.side,
            msg.qty,
            msg.order_type,
            msg.limit_price,
            msg.tif,
            recv_ns,
            post_only=msg.post_only,
            protect=protect,
        )
        if result.status == "rejected":
            reason = result.reject_reason or "rejected by the book"
            self._reject(identity, msg.order_id, reason, None)
            return
        self.count("orders.accepted")
        owner = Owner(identity, msg.order_id, msg.symbol, msg.side, msg.qty, recv_ns=recv_ns)
        self.owners[key] = owner
        self.reply_accepted(link, msg.order_id, msg.symbol, msg.qty, recv_ns)
        self._apply_result(book, key, result, protect)
        if msg.expire_ns is not None and self.owners.get(key) is owner:  # it rests: until expiry
            call_at_wall(msg.expire_ns, self._expire, key, owner)

    def _expire(self, key: str, owner: Owner) -> None:
        """A resting order reached its ``expire_ns``: cancel what is left of it."""
        if self.owners.get(key) is not owner:
            return  # done already (a new order may reuse the id: it is not this one)
        self._cancel_owner(key, self.books[owner.symbol].cancel(key) or 0, "expired")
        self._publish_quote_if_changed(owner.symbol)
        self.count("orders.expired")

    def _apply_result(
        self,
        book: OrderBook,
        key: str,
        result: SubmitResult,
        protect: tuple[int | None, int | None],
    ) -> None:
        exec_ns = time.time_ns()
        # Stamped on each fill: the protected quotes this venue checked it against (the other
        # venues'; sweeping its own book past its own best is no trade-through).
        for fill in result.fills:
            self._on_fill(book.symbol, fill, exec_ns, protect)
        for resting_key, qty in getattr(result, "stp_canceled", ()) or ():
            self._cancel_owner(resting_key, qty, "self-trade prevention")
        if result.protected_price is not None and result.locks_quote:
            self.count("orders.lock_refused")
            self._cancel_owner(
                key,
                result.canceled_qty,
                f"would lock the protected quote at {result.protected_price} on another venue "
                "if displayed (Reg NMS Rule 610(d))",
            )
        elif result.protected_price is not None:
            self.count("orders.protected")
            self._cancel_owner(
                key,
                result.canceled_qty,
                f"would trade through the protected quote at {result.protected_price} on "
                "another venue (Reg NMS Rule 611)",
            )
        elif result.canceled_qty:
            self._cancel_owner(key, result.canceled_qty, "unfilled remainder (IOC/market/FOK)")
        self._publish_quote_if_changed(book.symbol)

    def _on_fill(
        self, symbol: str, fill: Fill, exec_ns: int, nbbo: tuple[int | None, int | None]
    ) -> None:
        self.exec_seq += 1
        exec_id = f"{self.name}-{self.exec_seq}"
        self.count("fills")
        for key, leaves, liquidity, fee_per_share in (
            (fill.taker_order_id, fill.taker_leaves, Liquidity.TAKER, self.taker_fee),
            (fill.maker_order_id, fill.maker_leaves, Liquidity.MAKER, -self.maker_rebate),
        ):
            owner = self.owners.get(key)
            if owner is None:
                continue
            owner.cum_qty += fill.qty
            self.reply_filled(
                self.reply_link(self.orders, owner.identity),
                owner.order_id,
                symbol,
                owner.side,
                fill.qty,
                fill.price,
                cum_qty=owner.cum_qty,
                leaves_qty=leaves,
                liquidity=liquidity,
                exec_id=exec_id,
                exec_ns=exec_ns,
                recv_ns=owner.recv_ns,
                fee=fee_per_share * fill.qty,
                nbbo=nbbo,
            )
            if leaves == 0:
                del self.owners[key]
        self.seq += 1
        trade = self.make(
            Trade,
            venue=self.name,
            symbol=symbol,
            seq=self.seq,
            price=fill.price,
            qty=fill.qty,
            trade_id=exec_id,
            aggressor=fill.aggressor,
        )
        payload = encode(trade)
        self.pub_link.send(payload)
        self.tape(payload)

    def _cancel_owner(self, key: str, qty: int, reason: str) -> None:
        owner = self.owners.pop(key, None)
        if owner is None:
            return
        link = self.reply_link(self.orders, owner.identity)
        self.reply_canceled(link, owner.order_id, owner.symbol, qty, owner.cum_qty, reason)

    def _on_cancel(self, identity: bytes, msg: CancelOrder) -> None:
        key = f"{identity.decode(errors='replace')}|{msg.order_id}"
        book = self.books.get(msg.symbol)
        leaves = book.cancel(key) if book is not None and key in self.owners else None
        if leaves is None:
            reply = self.make(
                CancelRejected, order_id=msg.order_id, reason="unknown or already done"
            )
            self._send(identity, encode(reply))
            return
        self._cancel_owner(key, leaves, "canceled by owner")
        self._publish_quote_if_changed(msg.symbol)

    def _on_replace(self, identity: bytes, msg: ReplaceOrder, recv_ns: int) -> None:
        key = f"{identity.decode(errors='replace')}|{msg.order_id}"
        book = self.books.get(msg.symbol)
        owner = self.owners.get(key)
        if book is None or owner is None:
            reply = self.make(
                CancelRejected, order_id=msg.order_id, reason="replace: unknown or already done"
            )
            self._send(identity, encode(reply))
            return
        # The replace's qty is the new total order size; the book works in leaves.
        new_leaves = msg.qty - owner.cum_qty
        if new_leaves <= 0:
            self._cancel_owner(key, book.cancel(key) or 0, "replaced down to executed size")
            return
        owner.qty = msg.qty
        protect = self.away.protect(msg.symbol)
        result = book.replace(key, new_leaves, msg.limit_price, recv_ns, protect)
        if result.status == "rejected":
            reply = self.make(
                CancelRejected, order_id=msg.order_id, reason=f"replace: {result.reject_reason}"
            )
            self._send(identity, encode(reply))
            return
        self._apply_result(book, key, result, protect)

    # ------------------------------------------------------------------ market data
    def _publish_quote_if_changed(self, symbol: str) -> None:
        """Publish the BBO if it changed; schedule one coalesced depth update per loop pass."""
        if not self.depth_dirty:
            asyncio.get_running_loop().call_soon(self._publish_depths)
        self.depth_dirty.add(symbol)
        book = self.books[symbol]
        if book.bbo_version == self.bbo_versions[symbol]:
            return
        self.bbo_versions[symbol] = book.bbo_version
        bid, ask = book.best_bid(), book.best_ask()
        self.seq += 1
        quote = self.make(
            Quote,
            venue=self.name,
            symbol=symbol,
            seq=self.seq,
            bid_px=bid[0] if bid else None,
            bid_qty=bid[1] if bid else 0,
            ask_px=ask[0] if ask else None,
            ask_qty=ask[1] if ask else 0,
        )
        self.quotes[symbol] = quote
        payload = encode(quote)
        self.pub_link.send(payload)
        self.tape(payload)

    def _publish_depths(self) -> None:
        for symbol in sorted(self.depth_dirty):
            book = self.books[symbol]
            bids = [Level(price=p, qty=q) for p, q in book.depth(Side.BUY, self.depth_levels)]
            asks = [Level(price=p, qty=q) for p, q in book.depth(Side.SELL, self.depth_levels)]
            last = self.depths.get(symbol)
            if last is not None and last.bids == bids and last.asks == asks:
                continue
            self.seq += 1
            depth = self.make(
                Depth, venue=self.name, symbol=symbol, seq=self.seq, bids=bids, asks=asks
            )
            self.depths[symbol] = depth
            self.pub_link.send(encode(depth))
        self.depth_dirty.clear()
