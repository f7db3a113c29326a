"""Pure core of a dark pool: midpoint-pegged orders crossing at the NBBO midpoint.

Orders are never displayed. A cross happens only when the NBBO is two-sided and neither locked
nor crossed, each side's optional limit allows the midpoint, both orders' minimum quantities are
met by the execution, and the two orders belong to different accounts. Time priority per side.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class DarkOrder:
    key: str
    account: str
    is_buy: bool
    leaves: int
    limit_price: int | None
    min_qty: int
    arrival: int


@dataclass(frozen=True, slots=True)
class DarkFill:
    buy_key: str
    sell_key: str
    price: int
    qty: int
    buy_leaves: int
    sell_leaves: int
    aggressor_is_buy: bool | None


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
        self, key: str, account: str, is_buy: bool, qty: int, limit_price: int | None, min_qty: int
    ) -> DarkOrder:
        if key in self.orders:
            raise KeyError(f"order_id: duplicate {key!r}")
        self._arrival += 1
        order = DarkOrder(key, account, is_buy, qty, limit_price, min_qty, self._arrival)
        self.orders[key] = order
        (self.buys if is_buy else self.sells).append(order)
        return order

    def cancel(self, key: str) -> int | None:
        order = self.orders.pop(key, None)
        if order is None:
            return None
        (self.buys if order.is_buy else self.sells).remove(order)
        return order.leaves

    def cross(self, mid: int | None, aggressor: str | None = None) -> list[DarkFill]:
        """Match every eligible buy/sell pair at ``mid`` in time priority."""
        if mid is None or not self.buys or not self.sells:
            return []
        fills: list[DarkFill] = []
        for buy in list(self.buys):
            if buy.limit_price is not None and buy.limit_price < mid:
                continue
            for sell in list(self.sells):
                if buy.leaves == 0:
                    break
                if sell.leaves == 0 or sell.account == buy.account:
                    continue
                if sell.limit_price is not None and sell.limit_price > mid:
                    continue
                qty = min(buy.leaves, sell.leaves)
                if qty < buy.min_qty or qty < sell.min_qty:
                    continue
                buy.leaves -= qty
                sell.leaves -= qty
                agg = None if aggressor is None else aggressor == buy.key
                fills.append(DarkFill(buy.key, sell.key, mid, qty, buy.leaves, sell.leaves, agg))
                if sell.leaves == 0:
                    self._remove(sell)
            if buy.leaves == 0:
                self._remove(buy)
        return fills

    def _remove(self, order: DarkOrder) -> None:
        self.orders.pop(order.key, None)
        side = self.buys if order.is_buy else self.sells
        if order in side:
            side.remove(order)
