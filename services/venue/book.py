"""Price-time priority matching core of a lit venue: pure, synchronous, integer-only.

The venue service owns sockets and clocks; this module only answers "what happened" as plain
records (``SubmitResult``, ``Fill``) and a ``bbo_version`` the service compares to publish quotes
only on change. Prices are integer micro-dollars, quantities integer shares, times integer ns.

Semantics, each covered by ``tests/unit/test_book.py``:

- Price-time priority; every fill is at the resting order's price; an aggressor never trades
  through its limit.
- ``LIMIT`` + ``DAY`` rests its remainder; ``IOC`` cancels it; ``FOK`` first checks that the whole
  quantity is available within the limit (net of self-trade orders) and otherwise cancels it
  all without touching the book.
- ``MARKET`` never rests (any TIF acts as IOC, FOK stays all-or-none). It trades no worse than a
  collar of ``collar_bps`` around the opposite best at arrival (buys up to ``ref + ref*bps//1e4``,
  sells down to ``ref - ref*bps//1e4``, both rounded towards the reference). With an empty
  opposite side the reference would be ``reference_price``, but there is nothing to trade, so
  the order is canceled in full.
- Post-only: a limit whose price reaches the opposite best (of any account) is rejected.
- Self-trade prevention by account, "cancel resting": a resting order of the taker's account met
  while matching is removed and reported in ``SubmitResult.stp_canceled``; the taker goes on.
- ``replace(order_id, new_qty, new_price)`` takes the new *leaves*: same price and not larger
  keeps priority (and never trades); anything else is a cancel plus a new ``DAY`` aggressor with
  the same id, account, side and post-only flag.
- Rejects read ``"<field>: <why>"`` and leave the book untouched; a live ``order_id`` may not be
  reused, a finished one may.
- Order protection (Reg NMS Rule 611(a)): ``protect=(bid, ask)`` are the best protected quotes
  of the *other* venues as this venue knows them at execution. A buy never executes above that
  ask, a sell never below that bid (at it is fine); what the order could only fill through it is
  canceled; a post-only order that would cross it is rejected. ``SubmitResult.protected_price``
  names the quote that stopped it.
- Locked and crossed markets (Reg NMS Rule 610(d), 17 CFR 242.610(d)): a venue may not display
  a quotation that locks or crosses another venue's protected quotation. A day limit (the only
  order that rests) priced at or through ``protect``'s opposite side executes what it can up to
  that quote and its remainder is canceled, not displayed (``locks_quote`` when it was only the
  lock); a post-only order that would lock or cross is rejected naming the quote. The lab takes
  the exchanges' cancel-back (reject) behaviour rather than price sliding (re-pricing the order
  one tick away and displaying it there, a price its sender never chose): the sender learns at
  once, keeps control of its price, and locking and crossing get one rule, the one crossing
  orders already had. Orders that never rest (IOC, FOK, market) may still execute at the quote.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterator

from protocol.common import OrderType, Side, TimeInForce
from services.venue.book_rules import limit_price_error, qty_error, submit_error
from services.venue.book_types import (
    CANCELED,
    FILLED,
    PARTIALLY_FILLED_RESTED,
    RESTED,
    BookLevel,
    BookOrder,
    BookSide,
    Fill,
    SubmitResult,
    rejected,
)

__all__ = ["BookOrder", "Fill", "OrderBook", "SubmitResult"]

_BUY = Side.BUY
_DAY = TimeInForce.DAY
_FOK = TimeInForce.FOK
BPS_DENOMINATOR = 10_000


class OrderBook:
    """One symbol's lit book. ``bbo_version`` increases (by one or more) whenever the best bid
    or ask price or size changes, so a publisher compares it instead of the quotes."""

    __slots__ = (
        "_asks",
        "_bids",
        "_orders",
        "_seq",
        "bbo_version",
        "collar_bps",
        "last_trade_price",
        "reference_price",
        "symbol",
        "tick",
    )

    def __init__(
        self,
        symbol: str,
        *,
        collar_bps: int = 500,
        reference_price: int | None = None,
        tick: int | None = None,
    ) -> None:
        if type(collar_bps) is not int or not 0 <= collar_bps < BPS_DENOMINATOR:
            raise ValueError(
                f"collar_bps: must be an int in [0, {BPS_DENOMINATOR}), got {collar_bps!r}"
            )
        if reference_price is not None and limit_price_error(reference_price) is not None:
            raise ValueError(f"reference_price: must be a valid price, got {reference_price!r}")
        self.symbol = symbol
        # The symbol's Rule 612 increment when it is not the price's (a half-penny stock).
        self.tick = tick
        self.collar_bps = collar_bps
        self.reference_price = reference_price
        self.last_trade_price: int | None = None
        self.bbo_version = 0
        self._bids = BookSide(_BUY)
        self._asks = BookSide(Side.SELL)
        self._orders: dict[str, BookOrder] = {}
        self._seq = 0

    # ------------------------------------------------------------------ commands
    def submit(
        self,
        order_id: str,
        account: str,
        side: Side,
        qty: int,
        order_type: OrderType,
        limit_price: int | None,
        tif: TimeInForce,
        ts_ns: int,
        *,
        post_only: bool = False,
        protect: tuple[int | None, int | None] = (None, None),
    ) -> SubmitResult:
        """Match a new order against the book and rest, cancel or reject what is left; never
        through ``protect``, the other venues' protected ``(bid, ask)`` (module docstring)."""
        reason = submit_error(
            order_id, account, side, qty, order_type, limit_price, tif, post_only, self.tick
        )
        if reason is not None:
            return rejected(reason)
        if order_id in self._orders:
            return rejected("order_id: duplicate")
        if side is _BUY:
            own, opp = self._bids, self._asks
        else:
            own, opp = self._asks, self._bids
        away = protect[1] if side is _BUY else protect[0]
        if limit_price is not None:  # a limit: validation ties the price to the order type
            if away is not None and _reaches(side, limit_price, away, tif):
                locks = limit_price == away
                if post_only:
                    return rejected(_lock_or_cross(locks, away))
                result = self._execute_limit(
                    order_id, account, own, opp, qty, away, _no_rest(tif), ts_ns, False
                )
                return _protected(result, away, locks)
            return self._execute_limit(
                order_id, account, own, opp, qty, limit_price, tif, ts_ns, post_only
            )
        return self._execute_market(order_id, account, side, opp, qty, tif, away)

    def cancel(self, order_id: str) -> int | None:
        """Remove a live order; return its leaves, or ``None`` if unknown or already done."""
        order = self._orders.pop(order_id, None)
        if order is None:
            return None
        self._unlink(order)
        leaves = order.qty
        order.qty = 0
        return leaves

    def replace(
        self,
        order_id: str,
        new_qty: int,
        new_price: int | None,
        ts_ns: int,
        protect: tuple[int | None, int | None] = (None, None),
    ) -> SubmitResult:
        """Change a live order's leaves to ``new_qty`` and its price to ``new_price`` (``None``:
        keep). Same price and not larger keeps priority; otherwise it re-enters as an aggressor,
        protected like a new order. On reject the original order is untouched."""
        order = self._orders.get(order_id)
        if order is None:
            return rejected("order_id: unknown or no longer live")
        reason = qty_error(new_qty)
        if reason is not None:
            return rejected(reason)
        price = order.price if new_price is None else new_price
        if new_price is not None:
            reason = limit_price_error(new_price, self.tick)
            if reason is not None:
                return rejected(reason)
        if price == order.price and new_qty <= order.qty:
            self._reduce(order, new_qty)
            return SubmitResult(RESTED, [], new_qty, 0, None, [])
        if order.side is _BUY:
            own, opp = self._bids, self._asks
        else:
            own, opp = self._asks, self._bids
        if order.post_only and opp.keys and opp.keys[-1] >= opp.sign * price:
            return rejected("post_only: order would take liquidity")
        away = protect[1] if order.side is _BUY else protect[0]
        clipped = away is not None and _reaches(order.side, price, away, _DAY)
        if clipped and order.post_only and away is not None:
            return rejected(_lock_or_cross(price == away, away))
        del self._orders[order_id]
        self._unlink(order)
        if clipped and away is not None:
            result = self._execute_limit(
                order_id, order.account, own, opp, new_qty, away, TimeInForce.IOC, ts_ns, False
            )
            return _protected(result, away, price == away)
        return self._execute_limit(
            order_id, order.account, own, opp, new_qty, price, _DAY, ts_ns, order.post_only
        )

    # ------------------------------------------------------------------ queries
    def best_bid(self) -> tuple[int, int] | None:
        """``(price, total qty at that level)`` of the best bid, or ``None``."""
        keys = self._bids.keys
        if not keys:
            return None
        level = self._bids.levels[keys[-1]]
        return level.price, level.total

    def best_ask(self) -> tuple[int, int] | None:
        """``(price, total qty at that level)`` of the best ask, or ``None``."""
        keys = self._asks.keys
        if not keys:
            return None
        level = self._asks.levels[keys[-1]]
        return level.price, level.total

    def depth(self, side: Side, levels: int = 5) -> list[tuple[int, int]]:
        """Up to ``levels`` ``(price, total qty)`` of one side, best first."""
        book = self._bids if side is _BUY else self._asks
        by_key = book.levels
        return [(by_key[k].price, by_key[k].total) for k in book.keys[: -levels - 1 : -1]]

    def get(self, order_id: str) -> BookOrder | None:
        """The live order with this id (read-only), or ``None``."""
        return self._orders.get(order_id)

    def level_orders(self, side: Side, price: int) -> list[BookOrder]:
        """Live orders resting at one price, in time priority."""
        book = self._bids if side is _BUY else self._asks
        level = book.levels.get(book.sign * price)
        return [] if level is None else list(level)

    def orders(self, side: Side) -> Iterator[BookOrder]:
        """Every live order of one side in matching order: best price first, then time."""
        book = self._bids if side is _BUY else self._asks
        for key in reversed(book.keys):
            yield from book.levels[key]

    def __len__(self) -> int:
        return len(self._orders)

    def __repr__(self) -> str:
        bid, ask = self.best_bid(), self.best_ask()
        return f"OrderBook({self.symbol!r}, bid={bid}, ask={ask}, live={len(self)})"

    # ------------------------------------------------------------------ matching
    def _execute_limit(
        self,
        order_id: str,
        account: str,
        own: BookSide,
        opp: BookSide,
        qty: int,
        price: int,
        tif: TimeInForce,
        ts_ns: int,
        post_only: bool,
    ) -> SubmitResult:
        limit_key = opp.sign * price
        opp_keys = opp.keys
        if not opp_keys or opp_keys[-1] < limit_key:  # does not cross: the common, passive case
            if tif is not _DAY:
                return SubmitResult(CANCELED, [], 0, qty, None, [])
            self._rest(order_id, account, own, price, qty, ts_ns, post_only)
            return SubmitResult(RESTED, [], qty, 0, None, [])
        if post_only:
            return rejected("post_only: order would take liquidity")
        if tif is _FOK and not opp.can_fill(limit_key, account, qty):
            return SubmitResult(CANCELED, [], 0, qty, None, [])
        fills: list[Fill] = []
        stp: list[tuple[str, int]] = []
        remaining = self._match(opp, limit_key, order_id, account, qty, own.side, fills, stp)
        if remaining == 0:
            return SubmitResult(FILLED, fills, 0, 0, None, stp)
        if tif is not _DAY:
            return SubmitResult(CANCELED, fills, 0, remaining, None, stp)
        self._rest(order_id, account, own, price, remaining, ts_ns, post_only)
        status = PARTIALLY_FILLED_RESTED if fills else RESTED
        return SubmitResult(status, fills, remaining, 0, None, stp)

    def _execute_market(
        self,
        order_id: str,
        account: str,
        side: Side,
        opp: BookSide,
        qty: int,
        tif: TimeInForce,
        away: int | None = None,
    ) -> SubmitResult:
        if not opp.keys:
            return SubmitResult(CANCELED, [], 0, qty, None, [])
        reference = opp.levels[opp.keys[-1]].price
        collar = reference * self.collar_bps // BPS_DENOMINATOR
        cap = reference + collar if side is _BUY else reference - collar
        clipped = away is not None and _through(side, cap, away)
        if clipped:
            assert away is not None
            cap = away
        limit_key = opp.sign * cap
        if tif is _FOK and not opp.can_fill(limit_key, account, qty):
            result = SubmitResult(CANCELED, [], 0, qty, None, [])
        else:
            fills: list[Fill] = []
            stp: list[tuple[str, int]] = []
            remaining = self._match(opp, limit_key, order_id, account, qty, side, fills, stp)
            status = FILLED if remaining == 0 else CANCELED
            result = SubmitResult(status, fills, 0, remaining, None, stp)
        return _protected(result, away) if clipped and away is not None else result

    def _match(
        self,
        opp: BookSide,
        limit_key: int,
        order_id: str,
        account: str,
        qty: int,
        aggressor: Side,
        fills: list[Fill],
        stp: list[tuple[str, int]],
    ) -> int:
        """Take liquidity from ``opp`` down to ``limit_key``; return the unfilled quantity.

        Every maker visited is either removed (filled or self-trade) or partially filled, which
        ends the sweep, so the maker in hand is always its level's head.
        """
        keys = opp.keys
        levels = opp.levels
        orders = self._orders
        remaining = qty
        price = 0
        while remaining and keys:
            key = keys[-1]
            if key < limit_key:
                break
            level = levels[key]
            price = level.price
            maker = level.head
            while maker is not None:
                maker_qty = maker.qty
                if maker.account == account:
                    stp.append((maker.order_id, maker_qty))
                elif maker_qty > remaining:
                    maker.qty = maker_qty - remaining
                    level.total -= remaining
                    fills.append(
                        Fill(
                            maker.order_id,
                            maker.account,
                            order_id,
                            account,
                            price,
                            remaining,
                            maker_qty - remaining,
                            0,
                            aggressor,
                        )
                    )
                    remaining = 0
                    break
                else:
                    remaining -= maker_qty
                    fills.append(
                        Fill(
                            maker.order_id,
                            maker.account,
                            order_id,
                            account,
                            price,
                            maker_qty,
                            0,
                            remaining,
                            aggressor,
                        )
                    )
                level.total -= maker_qty
                maker.qty = 0
                del orders[maker.order_id]
                maker = maker.next
                level.head = maker
                if maker is None:
                    level.tail = None
                else:
                    maker.prev = None
                    if remaining == 0:
                        break
            if level.head is None:
                keys.pop()
                del levels[key]
        if price:
            self.bbo_version += 1
            if fills:
                self.last_trade_price = fills[-1].price
        return remaining

    # ------------------------------------------------------------------ bookkeeping
    def _rest(
        self,
        order_id: str,
        account: str,
        own: BookSide,
        price: int,
        qty: int,
        ts_ns: int,
        post_only: bool,
    ) -> None:
        key = own.sign * price
        level = own.levels.get(key)
        if level is None:
            level = own.levels[key] = BookLevel(own, price, key)
            insort(own.keys, key)
        self._seq += 1
        tail = level.tail
        order = BookOrder(
            order_id, account, own.side, price, qty, self._seq, ts_ns, post_only, level, tail
        )
        if tail is None:
            level.head = order
        else:
            tail.next = order
        level.tail = order
        level.total += qty
        self._orders[order_id] = order
        if own.keys[-1] == key:
            self.bbo_version += 1

    def _unlink(self, order: BookOrder) -> None:
        """Take a live order out of its level (and the level out of its side when emptied)."""
        level = order.level
        prev, nxt = order.prev, order.next
        if prev is None:
            level.head = nxt
        else:
            prev.next = nxt
        if nxt is None:
            level.tail = prev
        else:
            nxt.prev = prev
        level.total -= order.qty
        book = level.book
        keys = book.keys
        key = level.key
        if key == keys[-1]:
            self.bbo_version += 1
            if level.head is None:
                keys.pop()
                del book.levels[key]
        elif level.head is None:
            del keys[bisect_left(keys, key)]
            del book.levels[key]

    def _reduce(self, order: BookOrder, new_qty: int) -> None:
        level = order.level
        removed = order.qty - new_qty
        if removed == 0:
            return
        order.qty = new_qty
        level.total -= removed
        if level.key == level.book.keys[-1]:
            self.bbo_version += 1


def _through(side: Side, price: int, away: int) -> bool:
    """True if ``price`` on ``side`` is beyond the other venues' protected quote ``away``."""
    return price > away if side is _BUY else price < away


def _reaches(side: Side, price: int, away: int, tif: TimeInForce) -> bool:
    """True if a limit at ``price`` would trade through ``away``, or, for a day order (the one
    that may rest), would lock it if displayed (Rule 610(d))."""
    return _through(side, price, away) or (price == away and tif is _DAY)


def _lock_or_cross(locks: bool, away: int) -> str:
    return f"limit_price: would {'lock' if locks else 'cross'} the protected quote at {away}"


def _no_rest(tif: TimeInForce) -> TimeInForce:
    """An order stopped at a protected quote does not rest (FOK stays all-or-none)."""
    return tif if tif is _FOK else TimeInForce.IOC


def _protected(result: SubmitResult, away: int, locks: bool = False) -> SubmitResult:
    """Mark the canceled part of ``result`` as stopped by the protected quote ``away`` (only
    from resting at it, if ``locks``)."""
    if result.canceled_qty:
        result.protected_price = away
        result.locks_quote = locks
    return result
