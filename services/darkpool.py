"""A dark pool: midpoint-pegged orders, no pre-trade display, trades reported after the fact.

Crossing is re-checked on every arrival and on every NBBO change from the SIP; nothing trades
while the NBBO is one-sided, locked or crossed. IOC orders cancel whatever did not cross at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import zmq

from protocol.codec import Decoder, encode
from protocol.common import Liquidity, Side, TimeInForce
from protocol.marketdata import NBBO, Trade
from protocol.money import to_micros
from protocol.orders import (
    CancelOrder,
    CancelRejected,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    SubmitOrder,
)
from services.dark_core import DarkBook, DarkFill, midpoint
from services.feeds import NbboView
from services.runtime import Service


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
        self.books = {s: DarkBook(s) for s in self.scenario.symbol_names}
        self.owners: dict[str, DarkOwner] = {}
        self.seq = 0
        self.exec_seq = 0
        self.orders = self.bind("orders", zmq.ROUTER)
        self.pub = self.bind("md", zmq.PUB)
        self.pub_link = self.link(self.pub, "*")
        self.nbbo = NbboView(self, self._on_nbbo)
        await self.nbbo.start()
        self.serve(self.orders, Decoder([SubmitOrder, CancelOrder]), self._on_message, router=True, name="orders")

    def _mid(self, symbol: str) -> int | None:
        n = self.nbbo.get(symbol)
        return None if n is None else midpoint(n.bid_px, n.ask_px, n.locked, n.crossed)

    def _on_nbbo(self, nbbo: NBBO) -> None:
        book = self.books.get(nbbo.symbol)
        if book is not None and book.orders:
            self._report(book, book.cross(self._mid(nbbo.symbol)))

    def _on_message(self, identity: bytes | None, msg: object, recv_ns: int) -> None:
        assert identity is not None
        match msg:
            case SubmitOrder():
                self._on_submit(identity, msg, recv_ns)
            case CancelOrder():
                key = f"{identity.decode(errors='replace')}|{msg.order_id}"
                book = self.books.get(msg.symbol)
                leaves = book.cancel(key) if book is not None else None
                if leaves is None:
                    reply = self.make(CancelRejected, order_id=msg.order_id, reason="unknown or already done")
                    self.reply_link(self.orders, identity).send(encode(reply))
                else:
                    self._cancel(key, leaves, "canceled by owner")

    def _on_submit(self, identity: bytes, msg: SubmitOrder, recv_ns: int) -> None:
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
            rej = self.make(OrderRejected, order_id=msg.order_id, reason=reason or "", field=field, venue=self.name)
            payload = encode(rej)
            self.reply_link(self.orders, identity).send(payload)
            self.tape(payload)
            return
        self.owners[key] = DarkOwner(identity, msg.order_id, msg.symbol, msg.side, recv_ns=recv_ns)
        book.add(key, msg.account, msg.side is Side.BUY, msg.qty, msg.limit_price, max(msg.min_qty, self.min_qty))
        accepted = self.make(
            OrderAccepted, order_id=msg.order_id, symbol=msg.symbol, venue=self.name,
            leaves_qty=msg.qty, recv_ns=recv_ns,
        )
        self.reply_link(self.orders, identity).send(encode(accepted))
        self._report(book, book.cross(self._mid(msg.symbol), aggressor=key))
        if msg.tif is TimeInForce.IOC:
            leaves = book.cancel(key)
            if leaves:
                self._cancel(key, leaves, "no midpoint contra (IOC)")

    def _report(self, book: DarkBook, fills: list[DarkFill]) -> None:
        exec_ns = time.time_ns()
        for fill in fills:
            self.exec_seq += 1
            exec_id = f"{self.name}-{self.exec_seq}"
            for key, leaves in ((fill.buy_key, fill.buy_leaves), (fill.sell_key, fill.sell_leaves)):
                owner = self.owners[key]
                owner.cum_qty += fill.qty
                filled = self.make(
                    OrderFilled, order_id=owner.order_id, symbol=book.symbol, side=owner.side,
                    fill_qty=fill.qty, fill_price=fill.price, cum_qty=owner.cum_qty,
                    leaves_qty=leaves, venue=self.name, liquidity=Liquidity.MIDPOINT,
                    exec_id=exec_id, exec_ns=exec_ns, recv_ns=owner.recv_ns, fee=self.fee * fill.qty,
                )
                payload = encode(filled)
                self.reply_link(self.orders, owner.identity).send(payload)
                self.tape(payload)
                if leaves == 0:
                    del self.owners[key]
            self.seq += 1
            aggressor = None if fill.aggressor_is_buy is None else (Side.BUY if fill.aggressor_is_buy else Side.SELL)
            trade = self.make(
                Trade, venue=self.name, symbol=book.symbol, seq=self.seq, price=fill.price,
                qty=fill.qty, trade_id=exec_id, aggressor=aggressor,
            )
            payload = encode(trade)
            self.pub_link.send(payload)
            self.tape(payload)
            self.count("fills")

    def _cancel(self, key: str, leaves: int, reason: str) -> None:
        owner = self.owners.pop(key, None)
        if owner is None:
            return
        canceled = self.make(
            OrderCanceled, order_id=owner.order_id, symbol=owner.symbol, canceled_qty=leaves,
            cum_qty=owner.cum_qty, reason=reason, venue=self.name,
        )
        payload = encode(canceled)
        self.reply_link(self.orders, owner.identity).send(payload)
        self.tape(payload)
