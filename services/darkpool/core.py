"""Pure core of a dark pool: midpoint-pegged orders crossing at the NBBO midpoint, and priced
orders that execute at their own price.

Orders are never displayed. Pegged orders (the default market) cross only when the NBBO is
two-sided and neither locked nor crossed, each side's optional limit (a cap) allows the midpoint,
both orders' minimum quantities are met by the execution, and the two orders belong to different
accounts. Time priority per side.

Priced orders (``pegged=False``; seeded-book scenarios) rest at their limit and trade at the
resting order's price: a priced aggressor takes priced contras within its limit (best price
first, then time) and pegged contras at the midpoint; a pegged order takes a priced contra only at
a price at or better than the midpoint (never without a usable NBBO). Priced orders are what a
pool may indicate (``indications``): aggregated price and size, no identities.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol.common import Side
from protocol.money import outside_quote

# The NBBO's (bid, ask) a pool checks an execution against; None: that side is empty.
Protect = tuple[int | None, int | None]


@dataclass(slots=True)
class DarkOrder:
    key: str
    account: str
    side: Side
    leaves: int
    limit_price: int | None
    min_qty: int
    arrival: int
    pegged: bool = True


@dataclass(frozen=True, slots=True)
class DarkFill:
    buy_key: str
    sell_key: str
    price: int
    qty: int
    buy_leaves: int
    sell_leaves: int
    aggressor: Side | None


def midpoint(bid: int | None, ask: int | None, locked: bool, crossed: bool) -> int | None:
    """The NBBO midpoint in micro-dollars, or ``None`` when no cross may happen."""
    if bid is None or ask is None or locked or crossed or bid >= ask:
        return None
    return (bid + ask) // 2


class DarkBook:
    """One symbol's resting midpoint orders."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.buys: list[DarkOrder] = []
        self.sells: list[DarkOrder] = []
        self.orders: dict[str, DarkOrder] = {}
        self._arrival = 0

    def add(
        self,
        key: str,
        account: str,
        side: Side,
        qty: int,
        limit_price: int | None,
        min_qty: int,
        *,
        pegged: bool = True,
    ) -> DarkOrder:
        """Rest an order (pegged: ``limit_price`` is an optional cap; priced: its price)."""
        if key in self.orders:
            raise KeyError(f"order_id: duplicate {key!r}")
        if not pegged and limit_price is None:
            raise ValueError("limit_price: required for a priced dark order")
        if qty <= 0:
            raise ValueError("qty: must be > 0")
        self._arrival += 1
        order = DarkOrder(key, account, side, qty, limit_price, min_qty, self._arrival, pegged)
        self.orders[key] = order
        (self.buys if side is Side.BUY else self.sells).append(order)
        return order

    def cancel(self, key: str) -> int | None:
        order = self.orders.pop(key, None)
        if order is None:
            return None
        (self.buys if order.side is Side.BUY else self.sells).remove(order)
        return order.leaves

    def cross(
        self, mid: int | None, aggressor: str | None = None, protect: Protect = (None, None)
    ) -> list[DarkFill]:
        """Match every eligible buy/sell pair in time priority (pegged pairs at ``mid``), never
        through ``protect``, the NBBO's ``(bid, ask)`` now (Reg NMS Rule 611(a))."""
        if not self.buys or not self.sells:
            return []
        fills: list[DarkFill] = []
        for buy in list(self.buys):
            for sell in list(self.sells):
                if buy.leaves == 0:
                    break
                price = _pair_price(buy, sell, mid, protect)
                if price is None:
                    continue
                agg = (
                    None if aggressor is None else (Side.BUY if aggressor == buy.key else Side.SELL)
                )
                self._execute(buy, sell, price, agg, fills)
            if buy.leaves == 0:
                self._remove(buy)
        return fills

    def match(self, key: str, mid: int | None, protect: Protect = (None, None)) -> list[DarkFill]:
        """Sweep the order ``key`` against the contra side, best price for it first, then time,
        never through ``protect`` (the NBBO's ``(bid, ask)`` now).

        Use on arrival; ``cross`` re-checks resting pairs when the midpoint moves.
        """
        order = self.orders.get(key)
        if order is None:
            return []
        is_buy = order.side is Side.BUY
        contras = self.sells if is_buy else self.buys
        sign = order.side.sign
        priced: list[tuple[int, int, DarkOrder]] = []
        for contra in contras:
            buy, sell = (order, contra) if is_buy else (contra, order)
            price = _pair_price(buy, sell, mid, protect)
            if price is not None:
                priced.append((price * sign, contra.arrival, contra))
        fills: list[DarkFill] = []
        for rank, _, contra in sorted(priced, key=lambda item: (item[0], item[1])):
            if order.leaves == 0:
                break
            buy, sell = (order, contra) if is_buy else (contra, order)
            if _pair_price(buy, sell, mid, protect) is None:  # min qty may no longer be met
                continue
            self._execute(buy, sell, rank * sign, order.side, fills)
        if order.leaves == 0:
            self._remove(order)
        return fills

    def indications(self, side: Side, levels: int = 5) -> list[tuple[int, int]]:
        """Priced resting size by price on one side, best first: ``[(price, qty), ...]``."""
        is_buy = side is Side.BUY
        by_price: dict[int, int] = {}
        for order in self.buys if is_buy else self.sells:
            if not order.pegged and order.limit_price is not None:
                by_price[order.limit_price] = by_price.get(order.limit_price, 0) + order.leaves
        return sorted(by_price.items(), key=lambda item: -item[0] if is_buy else item[0])[:levels]

    def _execute(
        self, buy: DarkOrder, sell: DarkOrder, price: int, agg: Side | None, fills: list[DarkFill]
    ) -> None:
        qty = min(buy.leaves, sell.leaves)
        buy.leaves -= qty
        sell.leaves -= qty
        fills.append(DarkFill(buy.key, sell.key, price, qty, buy.leaves, sell.leaves, agg))
        for order in (buy, sell):
            if order.leaves == 0:
                self._remove(order)

    def _remove(self, order: DarkOrder) -> None:
        self.orders.pop(order.key, None)
        resting = self.buys if order.side is Side.BUY else self.sells
        if order in resting:
            resting.remove(order)


def _pair_price(
    buy: DarkOrder, sell: DarkOrder, mid: int | None, protect: Protect = (None, None)
) -> int | None:
    """The price ``buy`` and ``sell`` would trade at now, or ``None`` if they may not trade
    (a priced pair may not trade through the NBBO ``protect``: Reg NMS Rule 611(a))."""
    if buy.leaves == 0 or sell.leaves == 0 or buy.account == sell.account:
        return None
    qty = min(buy.leaves, sell.leaves)
    # A minimum quantity binds each execution, but never more than what the order has left:
    # otherwise a partly filled order could never trade its remainder.
    if qty < min(buy.min_qty, buy.leaves) or qty < min(sell.min_qty, sell.leaves):
        return None
    if buy.pegged and sell.pegged:
        price = mid
    elif buy.pegged or sell.pegged:
        # Mixed: at the resting (earlier) order's price -- the midpoint for a pegged one -- and
        # only at or better than the midpoint for the pegged side.
        priced = sell if buy.pegged else buy
        resting = buy if buy.arrival < sell.arrival else sell
        price = None if mid is None else (mid if resting.pegged else priced.limit_price)
        if price is not None and (price > mid if buy.pegged else price < mid):  # type: ignore[operator]
            price = None
    else:  # both priced: at the resting (earlier) order's price, if they cross
        crossing = buy.limit_price >= sell.limit_price  # type: ignore[operator]
        price = (buy if buy.arrival < sell.arrival else sell).limit_price if crossing else None
    if price is None:
        return None
    if buy.limit_price is not None and buy.limit_price < price:
        return None
    if sell.limit_price is not None and sell.limit_price > price:
        return None
    bid, ask = protect
    if outside_quote(price, bid, ask):
        return None
    return price
