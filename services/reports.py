"""Order reports a service sends back to whoever sent it an order: one way to build each.

``OrderReports`` is a mixin of ``services.runtime.Service``: every service answers orders with
these, so each report (``OrderAccepted``, ``OrderRejected``, ``OrderCanceled``, ``OrderFilled``)
is assembled in one place, stamped by ``Service.make`` and, when terminal or an execution,
taped right after it is sent.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from protocol.base import Message
from protocol.codec import encode
from protocol.common import Liquidity, Side
from protocol.errors import excerpt
from protocol.money import round_div
from protocol.orders import OrderAccepted, OrderCanceled, OrderFilled, OrderRejected, SubmitOrder
from services.latency import Link
from services.venue.book_rules import expiry_error

M = TypeVar("M", bound=Message)


def prorated(fill: OrderFilled, qty: int) -> OrderFilled:
    """``fill`` cut to ``qty`` of its shares (an overfill's part that counts for an order): its
    fee and PFOF shared pro rata, rounded half-even; everything else as reported."""
    if qty == fill.fill_qty:
        return fill
    return msgspec.structs.replace(
        fill,
        fill_qty=qty,
        fee=round_div(fill.fee * qty, fill.fill_qty) or 0,
        pfof=round_div(fill.pfof * qty, fill.fill_qty) or 0,
    )


class OrderReports:
    """Replies to orders: accepted, rejected, canceled, filled (see the module docstring)."""

    if TYPE_CHECKING:  # provided by Service
        name: str

        def make(self, cls: type[M], **fields: Any) -> M: ...
        def tape(self, payload: bytes | Message, recv_ns: int = 0) -> None: ...
        def count(self, key: str, n: int = 1) -> None: ...

    def reply_accepted(
        self, link: Link, order_id: str, symbol: str, leaves_qty: int, recv_ns: int
    ) -> None:
        """``OrderAccepted`` from this service (not taped: the terminal report is)."""
        accepted = self.make(
            OrderAccepted,
            order_id=order_id,
            symbol=symbol,
            venue=self.name,
            leaves_qty=leaves_qty,
            recv_ns=recv_ns,
        )
        link.send(encode(accepted))

    def reply_rejected(self, link: Link, order_id: str, reason: str, field: str | None) -> None:
        """A terminal ``OrderRejected`` naming the field, sent and taped.

        ``reason`` may be ``"<field>: <why>"`` (as the pure cores word it) with ``field`` None:
        the field is then split off. Both are cut to an ``excerpt`` (they may quote the order).
        """
        if field is None:
            head, sep, tail = reason.partition(": ")
            if sep and head.isidentifier():
                field, reason = head, tail
        rejected = self.make(
            OrderRejected,
            order_id=order_id,
            reason=excerpt(reason),
            field=None if field is None else excerpt(field),
            venue=self.name,
        )
        payload = encode(rejected)
        link.send(payload)
        self.tape(payload)
        self.count("orders.rejected")

    def refuse_expired(self, link: Link, msg: SubmitOrder) -> bool:
        """Reject ``msg`` (field ``expire_ns``) if it reaches this service at or after its
        expiry; ``True`` if it did. Call it before the order can touch a book or execute."""
        if msg.expire_ns is None:
            return False
        reason = expiry_error(msg.expire_ns, time.time_ns())
        if reason is None:
            return False
        self.reply_rejected(link, msg.order_id, reason, None)
        self.count("orders.expired")
        return True

    def reply_canceled(
        self, link: Link, order_id: str, symbol: str, canceled_qty: int, cum_qty: int, reason: str
    ) -> None:
        """A terminal ``OrderCanceled`` for the part that will never execute, sent and taped."""
        canceled = self.make(
            OrderCanceled,
            order_id=order_id,
            symbol=symbol,
            canceled_qty=canceled_qty,
            cum_qty=cum_qty,
            reason=reason,
            venue=self.name,
        )
        payload = encode(canceled)
        link.send(payload)
        self.tape(payload)

    def reply_filled(
        self,
        link: Link,
        order_id: str,
        symbol: str,
        side: Side,
        qty: int,
        price: int,
        *,
        cum_qty: int,
        leaves_qty: int,
        liquidity: Liquidity,
        exec_id: str,
        exec_ns: int,
        recv_ns: int = 0,
        venue: str | None = None,
        fee: int = 0,
        pfof: int = 0,
        commission: int = 0,
        correlation_id: str | None = None,
        nbbo: tuple[int | None, int | None] = (None, None),
    ) -> None:
        """One execution of ``order_id`` (``OrderFilled``), sent and taped.

        ``venue`` is where it executed (this service unless named); ``fee``, ``pfof`` and
        ``commission`` are totals for the fill in micro-dollars, not per share. ``nbbo`` is the
        ``(bid, ask)`` the executing centre checked the price against (Reg NMS Rule 611).
        """
        filled = self.make(
            OrderFilled,
            order_id=order_id,
            symbol=symbol,
            side=side,
            fill_qty=qty,
            fill_price=price,
            cum_qty=cum_qty,
            leaves_qty=leaves_qty,
            venue=self.name if venue is None else venue,
            liquidity=liquidity,
            exec_id=exec_id,
            exec_ns=exec_ns,
            recv_ns=recv_ns,
            fee=fee,
            pfof=pfof,
            commission=commission,
            correlation_id=correlation_id,
            nbbo_bid=nbbo[0],
            nbbo_ask=nbbo[1],
        )
        payload = encode(filled)
        link.send(payload)
        self.tape(payload)

    def pass_on_fill(
        self,
        link: Link,
        fill: OrderFilled,
        order_id: str,
        cum_qty: int,
        leaves_qty: int,
        *,
        commission: int = 0,
        correlation_id: str | None = None,
    ) -> None:
        """A child's execution reported to the parent's owner as an execution of ``order_id``
        (broker and router): the same venue, price, fees and times, the parent's quantities."""
        self.reply_filled(
            link,
            order_id,
            fill.symbol,
            fill.side,
            fill.fill_qty,
            fill.fill_price,
            cum_qty=cum_qty,
            leaves_qty=leaves_qty,
            liquidity=fill.liquidity,
            exec_id=fill.exec_id,
            exec_ns=fill.exec_ns,
            recv_ns=fill.recv_ns,
            venue=fill.venue,
            fee=fill.fee,
            pfof=fill.pfof,
            commission=commission,
            correlation_id=correlation_id,
            nbbo=(fill.nbbo_bid, fill.nbbo_ask),
        )
