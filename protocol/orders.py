"""Order entry: commands clients send and the events venues, wholesalers and routers answer with."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from protocol.base import Message, Record
from protocol.common import (
    Liquidity,
    Money,
    Name,
    Nanos,
    OrderId,
    OrderType,
    Price,
    Qty,
    QtyOrZero,
    Side,
    Symbol,
    Text,
    TimeInForce,
    Urgency,
)
from protocol.control import Rejected


class SubmitOrder(Message, frozen=True):
    """A new order. ``regime`` picks the broker's routing arm; ``strategy`` the SOR's allocation."""

    order_id: OrderId
    symbol: Symbol
    side: Side
    qty: Qty
    order_type: OrderType
    account: Name
    limit_price: Price | None = None
    tif: TimeInForce = TimeInForce.DAY
    post_only: bool = False
    min_qty: QtyOrZero = 0
    regime: Name | None = None
    strategy: Name | None = None
    urgency: Urgency | None = None
    parent_id: OrderId | None = None
    created_ns: Nanos = 0
    # Broker -> wholesaler: the PFOF per share the broker takes for this order (a cap);
    # None means the wholesaler's standard rate.
    pfof_rate: Annotated[int, Meta(ge=0, le=1_000_000)] | None = None
    # Absolute expiry, ns on the ``time.time_ns()`` clock: a venue refuses the order when it
    # reaches the venue at or after this time, and cancels it if it still rests then. None: never.
    expire_ns: Nanos | None = None
    # An intermarket sweep order (Reg NMS Rule 600(b) definition, Rule 611(b)(6) exception):
    # its sender routed, at the same time, orders to every better-priced protected quote, so
    # the venue executes it without checking the other venues' quotes.
    intermarket_sweep: bool = False
    # The account attributes that make an order "segmented" (proposed Rule 600(b) definition,
    # Release No. 34-96495): a natural person's account (or held for one or a family), and its
    # average daily number of NMS-stock trades in each of the six preceding calendar months (the
    # highest of the six). None: not stated (a retail broker's own client: treated as segmented).
    natural_person: bool | None = None
    avg_daily_trades: Annotated[int, Meta(ge=0, le=10_000_000)] | None = None

    def __post_init__(self) -> None:
        if self.order_type is OrderType.LIMIT and self.limit_price is None:
            raise ValueError("limit_price: required for limit orders")
        if self.order_type is OrderType.MARKET and self.limit_price is not None:
            raise ValueError("limit_price: must be absent for market orders")
        if self.min_qty > self.qty:
            raise ValueError("min_qty: larger than qty")


class CancelOrder(Message, frozen=True):
    order_id: OrderId
    symbol: Symbol


class ReplaceOrder(Message, frozen=True):
    """Size down at the same price keeps priority; a price change or size up loses it."""

    order_id: OrderId
    symbol: Symbol
    qty: Qty
    limit_price: Price | None = None


class OrderAccepted(Message, frozen=True):
    order_id: OrderId
    symbol: Symbol
    venue: Name
    leaves_qty: QtyOrZero
    recv_ns: Nanos = 0


# ``OrderRejected.field`` of an order refused because its receiver is at one of its bounds
# (backpressure, docs/RELIABILITY.md): the reason reads ``"busy: <service> <what> (<n>/<bound>)"``.
# Retrying later may succeed; nothing about the order itself was wrong.
BUSY = "busy"
# ``OrderRejected.field`` (and ``Rejected.field``) of a message refused because its client sent
# more than its rate allows (``[limits] client_rate_per_s``): ``"rate: client 'x' over …"``.
RATE = "rate"


class OrderRejected(Message, frozen=True):
    """Terminal: the order was never live. ``field`` names what was wrong when a field was
    (``BUSY``: nothing was; its receiver was at a bound)."""

    order_id: str
    reason: Text
    field: str | None = None
    venue: str = ""


class OrderFilled(Message, frozen=True):
    """One execution. Terminal when ``leaves_qty == 0``.

    ``fee`` is what the order's owner pays per this fill (negative = rebate), ``pfof`` what the
    executing wholesaler pays the routing broker for it; both total micro-dollars, not per share.
    ``nbbo_bid``/``nbbo_ask`` are the protected quotes the executing trading centre checked the
    price against at execution (Reg NMS Rule 611); ``None``: that side was empty or unknown. A
    broker or router passing a fill on keeps them.
    """

    order_id: OrderId
    symbol: Symbol
    side: Side
    fill_qty: Qty
    fill_price: Price
    cum_qty: Qty
    leaves_qty: QtyOrZero
    venue: Name
    liquidity: Liquidity
    exec_id: str
    exec_ns: Nanos
    recv_ns: Nanos = 0
    fee: Money = 0
    pfof: Money = 0
    commission: Money = 0
    nbbo_bid: Price | None = None
    nbbo_ask: Price | None = None


class OrderCanceled(Message, frozen=True):
    """Terminal: the remaining ``canceled_qty`` will never execute."""

    order_id: OrderId
    symbol: Symbol
    canceled_qty: QtyOrZero
    cum_qty: QtyOrZero
    reason: Text
    venue: str = ""


class CancelRejected(Message, frozen=True):
    order_id: str
    reason: Text


class OrderReceived(Message, frozen=True):
    """Tape event: the broker took a client order; the NBBO it saw is the benchmark of Rule 605."""

    order_id: OrderId
    regime: Name
    symbol: Symbol
    side: Side
    qty: Qty
    order_type: OrderType
    limit_price: Price | None
    recv_ns: Nanos
    nbbo_bid: Price | None
    nbbo_ask: Price | None
    created_ns: Nanos = 0
    # the client's time in force (Rule 605's marketable IOC category); absent on older tapes
    tif: TimeInForce = TimeInForce.DAY
    # Proposed Rule 615: whether the order is segmented (its account attributes) and, in an
    # auction arm, the exception that let it skip the auction (None: it was auctioned).
    segmented: bool | None = None
    auction_exemption: Name | None = None
    # Amended Rule 605's "best available displayed price" at receipt (odd lots included), from
    # the same NBBO message as nbbo_bid/nbbo_ask; None when unknown (older tapes).
    best_bid: Price | None = None
    best_ask: Price | None = None


class RouteQuote(Record, frozen=True, array_like=True):
    """One price level a router saw when it decided: venue, price, displayed (or indicated) size."""

    venue: Name
    price: Price
    qty: Qty


class OrderRouted(Message, frozen=True):
    """Tape event: a routing decision (broker or SOR) and the reason for it.

    The SOR also records its ``strategy``, the ``wave`` of child orders the decision belongs to,
    the ``best_price`` available anywhere in its view at that moment (the benchmark for this
    child's fills) and, on the first child of each wave, the ``quotes`` it allocated over.
    """

    order_id: OrderId
    child_id: str
    destination: Name
    qty: Qty
    reason: Text
    limit_price: Price | None = None
    regime: str = ""
    strategy: str = ""
    wave: Annotated[int, Meta(ge=0)] = 0
    best_price: Price | None = None
    quotes: list[RouteQuote] = []


class ParentCompleted(Message, frozen=True):
    """Tape event: a SOR parent order reached its one terminal state (``filled``/``canceled``).

    Exact accounting: ``notional`` is the sum of fill price x qty and ``fees`` the sum of the
    children's fees (micro-dollars); ``avg_price`` is ``notional / cum_qty`` rounded half-even.
    ``arrival_bid``/``arrival_ask`` are the NBBO when the SOR received the parent;
    ``lit_shown_qty`` the shares its children sent to lit venues (pre-trade information).
    """

    order_id: OrderId
    symbol: Symbol
    side: Side
    qty: Qty
    strategy: Name
    state: Name
    cum_qty: QtyOrZero
    notional: Money
    fees: Money
    avg_price: Price | None
    limit_price: Price | None
    arrival_bid: Price | None
    arrival_ask: Price | None
    recv_ns: Nanos
    done_ns: Nanos
    children: Annotated[int, Meta(ge=0)]
    waves: Annotated[int, Meta(ge=0)]
    lit_shown_qty: QtyOrZero
    reason: Text = ""


class ScorecardEntry(Record, frozen=True):
    """One wholesaler's execution quality over a review period (per share, micro-dollars)."""

    wholesaler: Name
    orders: int  # routed to it in the period reviewed
    shares: int  # filled over the scorecard's window
    improvement_per_share: int  # share-weighted over the window
    best_improvement_per_share: int
    demoted: bool
    fill_rate_bp: int = 0  # orders filled / orders routed over the window, basis points
    flow_share_bp: int = 0  # its share of the next period's PFOF flow, basis points
    routed_shares: int = 0  # shares of the orders routed to it in the period reviewed
    # what it scored on: improvement as a share of the quoted half-spread (1 - E/Q), bp
    improvement_bp: int = 0


class RoutingScorecard(Message, frozen=True):
    """Broker -> each wholesaler: the periodic review that can move flow between them."""

    broker: Name
    period_start_ns: Nanos
    period_end_ns: Nanos
    entries: list[ScorecardEntry]


# Every report an order-taking service may answer an order or a cancel with.
ORDER_REPORTS = (OrderAccepted, OrderRejected, OrderFilled, OrderCanceled, CancelRejected, Rejected)
