"""Data structures of the lit matching core (``services.venue.book``): orders, levels, fills.

All are ``__slots__`` classes with positional constructors because the book builds them on its
hot path. ``BookLevel`` and ``BookSide`` are the book's internals; ``BookOrder`` (read-only to
callers), ``Fill`` and ``SubmitResult`` are what it hands out.
"""

from __future__ import annotations

from collections.abc import Iterator

from protocol.common import Side

REJECTED = "rejected"
RESTED = "rested"
FILLED = "filled"
PARTIALLY_FILLED_RESTED = "partially_filled_rested"
CANCELED = "canceled"


class BookOrder:
    """A live resting order. ``qty`` is its leaves; ``arrival_seq`` orders time priority.

    ``prev``/``next``/``level`` link it into its price level (an intrusive FIFO list), so a cancel
    from the middle of a queue is O(1). Callers must treat instances as read-only.
    """

    __slots__ = (
        "account",
        "arrival_seq",
        "level",
        "next",
        "order_id",
        "post_only",
        "prev",
        "price",
        "qty",
        "side",
        "ts_ns",
    )

    def __init__(
        self,
        order_id: str,
        account: str,
        side: Side,
        price: int,
        qty: int,
        arrival_seq: int,
        ts_ns: int,
        post_only: bool,
        level: BookLevel,
        prev: BookOrder | None,
    ) -> None:
        self.order_id = order_id
        self.account = account
        self.side = side
        self.price = price
        self.qty = qty
        self.arrival_seq = arrival_seq
        self.ts_ns = ts_ns
        self.post_only = post_only
        self.level = level
        self.prev = prev
        self.next: BookOrder | None = None

    def __repr__(self) -> str:
        return (
            f"BookOrder({self.order_id!r}, {self.account!r}, {self.side.value}, "
            f"price={self.price}, qty={self.qty}, seq={self.arrival_seq})"
        )


class BookLevel:
    """One price level of one side: a FIFO of orders and their total leaves.

    ``key`` is the price signed so that a larger key is always a better price for this side
    (``+price`` for bids, ``-price`` for asks); ``book`` is the side that holds the level.
    """

    __slots__ = ("book", "head", "key", "price", "tail", "total")

    def __init__(self, book: BookSide, price: int, key: int) -> None:
        self.book = book
        self.price = price
        self.key = key
        self.head: BookOrder | None = None
        self.tail: BookOrder | None = None
        self.total = 0

    def __iter__(self) -> Iterator[BookOrder]:
        order = self.head
        while order is not None:
            yield order
            order = order.next


class BookSide:
    """Levels of one side by signed key, and the keys sorted ascending (best is ``keys[-1]``).

    A sorted list with ``bisect`` rather than a heap with lazy deletion: peeking the best is a
    plain index, emptied levels leave at once, and new levels mostly land near the touch, so
    insertion moves few pointers (on a synthetic trace of ~80 levels: ~37 vs ~76 ns per op).
    """

    __slots__ = ("keys", "levels", "side", "sign")

    def __init__(self, side: Side) -> None:
        self.side = side
        self.sign = side.sign
        self.levels: dict[int, BookLevel] = {}
        self.keys: list[int] = []

    def can_fill(self, limit_key: int, account: str, qty: int) -> bool:
        """Whether ``qty`` can trade here within ``limit_key``, not counting ``account``'s own
        orders (self-trade prevention would remove rather than fill them)."""
        needed = qty
        levels = self.levels
        for key in reversed(self.keys):
            if key < limit_key:
                return False
            for order in levels[key]:
                if order.account != account:
                    needed -= order.qty
                    if needed <= 0:
                        return True
        return False


class Fill:
    """One execution, always at the maker's (resting) price; leaves are after this fill."""

    __slots__ = (
        "aggressor",
        "maker_account",
        "maker_leaves",
        "maker_order_id",
        "price",
        "qty",
        "taker_account",
        "taker_leaves",
        "taker_order_id",
    )

    def __init__(
        self,
        maker_order_id: str,
        maker_account: str,
        taker_order_id: str,
        taker_account: str,
        price: int,
        qty: int,
        maker_leaves: int,
        taker_leaves: int,
        aggressor: Side,
    ) -> None:
        self.maker_order_id = maker_order_id
        self.maker_account = maker_account
        self.taker_order_id = taker_order_id
        self.taker_account = taker_account
        self.price = price
        self.qty = qty
        self.maker_leaves = maker_leaves
        self.taker_leaves = taker_leaves
        self.aggressor = aggressor

    def __repr__(self) -> str:
        return (
            f"Fill(maker={self.maker_order_id!r}, taker={self.taker_order_id!r}, "
            f"price={self.price}, qty={self.qty}, maker_leaves={self.maker_leaves}, "
            f"taker_leaves={self.taker_leaves}, aggressor={self.aggressor.value})"
        )


class SubmitResult:
    """What one submit or replace did.

    ``status`` is one of ``rested``, ``filled``, ``partially_filled_rested``, ``canceled`` (some
    or all of the order was canceled: IOC, FOK, market remainder; ``fills`` may be non-empty) or
    ``rejected`` (nothing happened; ``reject_reason`` reads ``"<field>: <why>"``). Unless
    rejected, ``filled_qty + resting_qty + canceled_qty`` equals the order's quantity.
    ``stp_canceled`` lists ``(order_id, leaves)`` of resting orders of the same account that
    self-trade prevention removed from the book. ``protected_price`` is set when part of the
    order was canceled because executing or resting it would trade through (or cross) a
    protected quote of another venue at that price (Reg NMS Rule 611(a)); ``locks_quote`` when
    only resting it was refused, because it would have locked that quote (Rule 610(d)).
    """

    __slots__ = (
        "canceled_qty",
        "fills",
        "locks_quote",
        "protected_price",
        "reject_reason",
        "resting_qty",
        "status",
        "stp_canceled",
    )

    def __init__(
        self,
        status: str,
        fills: list[Fill],
        resting_qty: int,
        canceled_qty: int,
        reject_reason: str | None,
        stp_canceled: list[tuple[str, int]],
    ) -> None:
        self.status = status
        self.fills = fills
        self.resting_qty = resting_qty
        self.canceled_qty = canceled_qty
        self.reject_reason = reject_reason
        self.stp_canceled = stp_canceled
        self.protected_price: int | None = None
        self.locks_quote = False

    @property
    def filled_qty(self) -> int:
        """Total quantity executed by this order across ``fills``."""
        return sum(fill.qty for fill in self.fills)

    def __repr__(self) -> str:
        return (
            f"SubmitResult({self.status!r}, fills={len(self.fills)}, filled={self.filled_qty}, "
            f"resting={self.resting_qty}, canceled={self.canceled_qty}, "
            f"reason={self.reject_reason!r}, stp={self.stp_canceled!r})"
        )


def rejected(reason: str) -> SubmitResult:
    """A result for an order that never touched the book."""
    return SubmitResult(REJECTED, [], 0, 0, reason, [])
