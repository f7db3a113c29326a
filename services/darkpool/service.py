"""A dark pool: no pre-trade display, trades reported after the fact.

Midpoint-pegged orders (``MIDPOINT``/``MARKET``) cross at the NBBO midpoint; crossing is re-checked
on every arrival and on every NBBO change from the SIP, and nothing pegged trades while the NBBO is
one-sided, locked or crossed. ``LIMIT`` orders are priced: they rest at their price and trade at
the resting order's price (seeded-book scenarios load such orders at start-up). A pool with
``publish_ioi`` publishes an ``IndicationOfInterest`` (aggregated priced size by price, no
identities) whenever it changes, and serves it in snapshots on its ``orders`` port. IOC orders
cancel whatever did not execute at once. An order with ``expire_ns`` is refused if it arrives at
or after it, and canceled (``"expired"``) if it still rests then.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import zmq

from protocol.codec import Decoder, encode
from protocol.common import Liquidity, OrderType, Side, TimeInForce
from protocol.marketdata import NBBO, IndicationOfInterest, Level, Snapshot, SnapshotRequest, Trade
from protocol.money import to_micros
from protocol.orders import (
    CancelOrder,
    CancelRejected,
    SubmitOrder,
)
from services.darkpool.core import DarkBook, DarkFill, midpoint
from services.feeds import NbboView
from services.runtime import Service, call_at_wall

SEED_ACCOUNT = "seed"


@dataclass(slots=True)
class DarkOwner:
    identity: bytes
    order_id: str
    symbol: str
    side: Side
    cum_qty: int = 0
    recv_ns: int = 0


class DarkPool(Service):
    role = "darkpool"

    async def _setup(self) -> None:
        spec = next(d for d in self.scenario.darkpools if d.name == self.name)
        self.min_qty = spec.min_qty
        self.fee = to_micros(spec.fee)
        self.publish_ioi = spec.publish_ioi
        self.books = {s: DarkBook(s) for s in self.scenario.symbol_names}
        for index, seed in enumerate(spec.book):  # priced resting orders owned by nobody
            for symbol in self.books if seed.symbol == "*" else [seed.symbol]:
                self.books[symbol].add(
                    f"seed|{index}|{symbol}",
                    SEED_ACCOUNT,
                    seed.side,
                    seed.qty,
                    to_micros(seed.price),
                    0,
                    pegged=False,
                )
        self.iois: dict[str, IndicationOfInterest] = {}
        self.owners: dict[str, DarkOwner] = {}
        self.seq = 0
        self.exec_seq = 0
        self.orders = self.bind("orders", zmq.ROUTER)
        self.pub = self.bind("md", zmq.PUB)
        self.pub_link = self.link(self.pub, "*")
        self.publish_sequence(self.pub_link, "trades", lambda: self.seq)
        for book in self.books.values():
            self._publish_ioi_if_changed(book)
        self.nbbo = NbboView(self, self._on_nbbo)
        await self.nbbo.start()
        accepts = Decoder([SubmitOrder, CancelOrder, SnapshotRequest])
        self.serve(self.orders, accepts, self._on_message, router=True, name="orders")

    def _mid(self, symbol: str) -> int | None:
        n = self.nbbo.get(symbol)
        return None if n is None else midpoint(n.bid_px, n.ask_px, n.locked, n.crossed)

    def _protect(self, symbol: str) -> tuple[int | None, int | None]:
        """The NBBO's ``(bid, ask)`` now: what an execution may not trade through."""
        n = self.nbbo.get(symbol)
        return (None, None) if n is None else (n.bid_px, n.ask_px)

    def _on_nbbo(self, nbbo: NBBO) -> None:
        book = self.books.get(nbbo.symbol)
        if book is not None and book.orders:
            protect = (nbbo.bid_px, nbbo.ask_px)
            self._report(book, book.cross(self._mid(nbbo.symbol), protect=protect), protect)

    def _on_message(self, identity: bytes | None, msg: object, recv_ns: int) -> None:
        assert identity is not None
        match msg:
            case SubmitOrder():
                self._on_submit(identity, msg, recv_ns)
            case CancelOrder():
                key = f"{identity.decode(errors='replace')}|{msg.order_id}"
                book = self.books.get(msg.symbol)
                leaves = book.cancel(key) if book is not None and key in self.owners else None
                if leaves is None or book is None:
                    reply = self.make(
                        CancelRejected, order_id=msg.order_id, reason="unknown or already done"
                    )
                    self.reply_link(self.orders, identity).send(encode(reply))
                else:
                    self._cancel(key, leaves, "canceled by owner")
                    self._publish_ioi_if_changed(book)
            case SnapshotRequest():
                iois = list(self.iois.values())
                snap = self.make(Snapshot, stream=msg.stream, seq=self.seq, iois=iois)
                self.reply_link(self.orders, identity).send(encode(snap))

    def _on_submit(self, identity: bytes, msg: SubmitOrder, recv_ns: int) -> None:
        link = self.reply_link(self.orders, identity)
        if self.refuse_expired(link, msg):
            return
        book = self.books.get(msg.symbol)
        reason = field = None
        if book is None:
            reason, field = f"unknown symbol {msg.symbol!r} on {self.name}", "symbol"
        elif msg.tif is TimeInForce.FOK:
            reason, field = "FOK is not supported in the dark pool", "tif"
        elif max(msg.min_qty, self.min_qty) > msg.qty:
            reason, field = f"qty below the pool's minimum of {self.min_qty}", "qty"
        key = f"{identity.decode(errors='replace')}|{msg.order_id}"
        if reason is None and key in self.owners:
            reason, field = "duplicate of a live order", "order_id"
        if reason is not None or book is None:
            self.reply_rejected(link, msg.order_id, reason or "", field)
            return
        # Backpressure: as at a lit venue, only the lag and the send queues refuse busy.
        if not self.admit(link, identity, msg, recv_ns, pending=0):
            return
        owner = DarkOwner(identity, msg.order_id, msg.symbol, msg.side, recv_ns=recv_ns)
        self.owners[key] = owner
        pegged = msg.order_type is not OrderType.LIMIT
        book.add(
            key,
            msg.account,
            msg.side,
            msg.qty,
            msg.limit_price,
            max(msg.min_qty, self.min_qty),
            pegged=pegged,
        )
        self.reply_accepted(link, msg.order_id, msg.symbol, msg.qty, recv_ns)
        # An intermarket sweep (the SOR's children) is not checked against the NBBO: its sender
        # routed to the better-priced protected quotes at the same time (Rule 611(b)(6)).
        protect = (None, None) if msg.intermarket_sweep else self._protect(msg.symbol)
        self._report(book, book.match(key, self._mid(msg.symbol), protect), protect)
        if msg.tif is TimeInForce.IOC:
            leaves = book.cancel(key)
            if leaves:
                why = "no midpoint contra (IOC)" if pegged else "no contra within the limit (IOC)"
                self._cancel(key, leaves, why)
        elif msg.expire_ns is not None and self.owners.get(key) is owner:  # rests until expiry
            call_at_wall(msg.expire_ns, self._expire, key, owner)
        self._publish_ioi_if_changed(book)

    def _expire(self, key: str, owner: DarkOwner) -> None:
        """A resting order reached its ``expire_ns``: cancel what is left of it."""
        if self.owners.get(key) is not owner:
            return  # done already (a new order may reuse the id: it is not this one)
        book = self.books[owner.symbol]
        self._cancel(key, book.cancel(key) or 0, "expired")
        self._publish_ioi_if_changed(book)
        self.count("orders.expired")

    def _report(
        self, book: DarkBook, fills: list[DarkFill], protect: tuple[int | None, int | None]
    ) -> None:
        exec_ns = time.time_ns()
        for fill in fills:
            self.exec_seq += 1
            exec_id = f"{self.name}-{self.exec_seq}"
            for key, leaves in ((fill.buy_key, fill.buy_leaves), (fill.sell_key, fill.sell_leaves)):
                owner = self.owners.get(key)
                if owner is None:
                    continue  # a seeded order: nobody to tell
                owner.cum_qty += fill.qty
                self.reply_filled(
                    self.reply_link(self.orders, owner.identity),
                    owner.order_id,
                    book.symbol,
                    owner.side,
                    fill.qty,
                    fill.price,
                    cum_qty=owner.cum_qty,
                    leaves_qty=leaves,
                    liquidity=Liquidity.MIDPOINT,
                    exec_id=exec_id,
                    exec_ns=exec_ns,
                    recv_ns=owner.recv_ns,
                    fee=self.fee * fill.qty,
                    nbbo=protect,
                )
                if leaves == 0:
                    del self.owners[key]
            self.seq += 1
            trade = self.make(
                Trade,
                venue=self.name,
                symbol=book.symbol,
                seq=self.seq,
                price=fill.price,
                qty=fill.qty,
                trade_id=exec_id,
                aggressor=fill.aggressor,
            )
            payload = encode(trade)
            self.pub_link.send(payload)
            self.tape(payload)
            self.count("fills")
        if fills:
            self._publish_ioi_if_changed(book)

    def _publish_ioi_if_changed(self, book: DarkBook) -> None:
        if not self.publish_ioi:
            return
        bids = [Level(price=p, qty=q) for p, q in book.indications(Side.BUY)]
        asks = [Level(price=p, qty=q) for p, q in book.indications(Side.SELL)]
        last = self.iois.get(book.symbol)
        if last is not None and last.bids == bids and last.asks == asks:
            return
        self.seq += 1
        ioi = self.make(
            IndicationOfInterest,
            venue=self.name,
            symbol=book.symbol,
            seq=self.seq,
            bids=bids,
            asks=asks,
        )
        self.iois[book.symbol] = ioi
        payload = encode(ioi)
        self.pub_link.send(payload)
        self.tape(payload)

    def _cancel(self, key: str, leaves: int, reason: str) -> None:
        owner = self.owners.pop(key, None)
        if owner is None:
            return
        link = self.reply_link(self.orders, owner.identity)
        self.reply_canceled(link, owner.order_id, owner.symbol, leaves, owner.cum_qty, reason)
