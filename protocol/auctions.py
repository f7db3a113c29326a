"""Order-by-order auctions after the SEC's proposed Rule 615."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from protocol.base import Message, Record
from protocol.common import Name, Nanos, OrderId, Price, Qty, QtyOrZero, Seq, Side, Symbol


class AuctionStarted(Message, frozen=True):
    """Notice to every registered responder. ``side`` is the retail order's side."""

    auction_id: OrderId
    symbol: Symbol
    side: Side
    qty: Qty
    limit_price: Price | None
    nbbo_bid: Price
    nbbo_ask: Price
    increment: Price
    start_ns: Nanos
    end_ns: Nanos
    seq: Seq = 0
    broker: Name | None = None


class SubmitAuctionResponse(Message, frozen=True):
    """A priced response, or, while the window is open, the replacement of the sender's live
    response in that auction: a responder has at most one live response per auction. The same
    ``response_id`` modifies it in place; a new one replaces it (the old one is canceled
    ``"replaced"``). Either way it takes the time priority of its own arrival."""

    auction_id: OrderId
    response_id: OrderId
    responder: Name
    price: Price
    qty: Qty


class CancelAuctionResponse(Message, frozen=True):
    """Withdraw ``responder``'s live response ``response_id`` while the window is open:
    answered ``OrderCanceled`` (reason ``"canceled by responder"``) or ``CancelRejected``
    naming the field."""

    auction_id: OrderId
    response_id: OrderId
    responder: Name


class AuctionAllocation(Record, frozen=True):
    response_id: OrderId
    responder: Name
    price: Price
    qty: Qty


class AuctionCompleted(Message, frozen=True):
    """Everything about one auction, for responders and for the ``auctions`` table.

    ``nbbo_*_end`` is the NBBO the auction executed against; ``through_nbbo`` counts valid
    responses not executed because they would have traded through it (Reg NMS Rule 611(a)).
    """

    auction_id: OrderId
    symbol: Symbol
    side: Side
    qty: Qty
    filled_qty: QtyOrZero
    remainder_qty: QtyOrZero
    best_price: Price | None
    responses: int
    allocations: list[AuctionAllocation]
    nbbo_bid_start: Price
    nbbo_ask_start: Price
    nbbo_bid_end: Price | None
    nbbo_ask_end: Price | None
    start_ns: Nanos
    end_ns: Nanos
    responders: list[Name] = []
    seq: Seq = 0
    through_nbbo: Annotated[int, Meta(ge=0)] = 0
