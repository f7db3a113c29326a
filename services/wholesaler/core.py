"""Pure core of a wholesaler: how it prices retail flow, bids in auctions, and keeps its books.

Prices are set against the NBBO midpoint. Selling to a retail buyer at ``p`` earns ``p - mid``
per share of spread capture, minus the PFOF paid to the routing broker, minus expected adverse
selection (the markout of its own fills, learned online). The wholesaler asks for a margin of
``target_margin_share`` of the quoted half-spread (at least ``min_margin``) on top of those costs,
and passes the rest to the investor as price improvement; it never fills worse than the NBBO.

In an auction there is no PFOF. Its reservation is ``auction_margin`` plus adverse selection; how
much of the room between that and the NBBO it gives away depends on the competition it has seen
in recent auctions (responses per auction, learned from ``AuctionCompleted``): alone it bids at
the NBBO, against ``k`` expected rivals it keeps ``1 / (1 + k)`` of the room. Nothing here knows
which regime should win; outcomes come from these incentives meeting in the live market.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from protocol.common import Side
from protocol.marketdata import NBBO

SUBPENNY = 100  # $0.0001: price improvement granularity of internalised fills


@dataclass(frozen=True, slots=True)
class Economics:
    pfof_per_share: int
    target_margin_share: float
    min_margin: int
    auction_margin: int
    max_order_qty: int
    inventory_limit: int
    inventory_cost_per_1k: int = 0  # micro-dollars per share per 1,000 shares of position


def inventory_charge(econ: Economics, side: Side, position: int) -> float:
    """Per-share charge for the inventory risk a trade adds (negative when it reduces risk).

    ``side`` is the investor's side: an investor buy makes the wholesaler sell.
    """
    wholesaler_buys = side is Side.SELL
    return (1 if wholesaler_buys else -1) * position * econ.inventory_cost_per_1k / 1000.0


def _ceil_to(value: float, step: int) -> int:
    return math.ceil(value / step - 1e-9) * step


def _floor_to(value: float, step: int) -> int:
    return math.floor(value / step + 1e-9) * step


def internalization_price(
    econ: Economics,
    side: Side,
    bid: int,
    ask: int,
    adverse_per_share: float = 0.0,
    position: int = 0,
) -> int:
    """Execution price for a retail order (``side``: the investor's): NBBO or better."""
    mid = (bid + ask) / 2
    half = (ask - bid) / 2
    margin = max(econ.min_margin, econ.target_margin_share * half)
    required = (
        margin
        + econ.pfof_per_share
        + max(0.0, adverse_per_share)
        + inventory_charge(econ, side, position)
    )
    if side is Side.BUY:
        return min(ask, _ceil_to(mid + required, SUBPENNY))
    return max(bid, _floor_to(mid - required, SUBPENNY))


def auction_price(
    econ: Economics,
    side: Side,
    bid: int,
    ask: int,
    increment: int,
    expected_rivals: float,
    limit_price: int | None = None,
    adverse_per_share: float = 0.0,
    position: int = 0,
) -> int | None:
    """The response price for an auction of a retail order, or ``None`` to decline."""
    mid = (bid + ask) / 2
    reservation = (
        econ.auction_margin + max(0.0, adverse_per_share) + inventory_charge(econ, side, position)
    )
    keep = 1.0 / (1.0 + max(0.0, expected_rivals))
    if side is Side.BUY:  # we sell to the investor: lower is better for them
        floor = mid + reservation
        worst = ask if limit_price is None else min(ask, limit_price)
        if floor > worst:
            return None
        price = _ceil_to(floor + (worst - floor) * keep, increment)
        price = min(price, worst - worst % increment)
        return price if price >= floor - 1e-9 and price > 0 else None
    floor = mid - reservation
    worst = bid if limit_price is None else max(bid, limit_price)
    if floor < worst:
        return None
    price = _floor_to(floor - (floor - worst) * keep, increment)
    worst_on_grid = worst if worst % increment == 0 else worst + increment - worst % increment
    price = max(price, worst_on_grid)
    return price if price <= floor + 1e-9 else None


@dataclass(slots=True)
class Accounts:
    """Cash, inventory and P&L components in micro-dollars (floats only for mark-to-mid)."""

    cash: int = 0
    inventory: dict[str, int] = field(default_factory=dict)
    spread_capture: float = 0.0
    pfof_paid: int = 0
    fees: int = 0
    hedge_cost: float = 0.0

    def trade(
        self,
        symbol: str,
        signed_qty: int,
        price: int,
        mid: float,
        *,
        hedge: bool,
        fee: int = 0,
        pfof: int = 0,
    ) -> None:
        """Record a trade: ``signed_qty`` > 0 when the wholesaler buys."""
        self.cash -= signed_qty * price + fee + pfof
        self.inventory[symbol] = self.inventory.get(symbol, 0) + signed_qty
        edge = (mid - price) * signed_qty  # bought below / sold above mid: positive
        if hedge:
            self.hedge_cost += -edge
        else:
            self.spread_capture += edge
        self.fees += fee
        self.pfof_paid += pfof

    def total(self, mids: dict[str, float]) -> float:
        return self.cash + sum(q * mids.get(s, 0.0) for s, q in self.inventory.items())

    def components(self, mids: dict[str, float]) -> dict[str, int]:
        """P&L decomposition; ``inventory_and_adverse_selection`` is what the market did to the
        positions after each trade (the residual), so the components add up to ``total``."""
        total = round(self.total(mids))
        spread_capture = round(self.spread_capture)
        hedge_cost = round(self.hedge_cost)
        known = spread_capture - self.pfof_paid - self.fees - hedge_cost
        return {
            "total": total,
            "spread_capture": spread_capture,
            "pfof_paid": self.pfof_paid,
            "fees": self.fees,
            "hedge_cost": hedge_cost,
            "inventory_and_adverse_selection": total - known,
        }


@dataclass(slots=True)
class Ewma:
    alpha: float
    value: float = 0.0
    seen: int = 0

    def update(self, x: float) -> float:
        self.seen += 1
        self.value = x if self.seen == 1 else self.value + self.alpha * (x - self.value)
        return self.value


@dataclass(slots=True)
class MarkoutEstimate:
    """Adverse selection learned from markouts, charged only where the evidence is clear.

    An exponentially weighted mean and variance of the per-share markouts (how far the mid moved
    against each fill), every markout weighted ``(1 - alpha)^age``. The charge is the mean less
    ``confidence`` standard errors, floored at zero: uninformed flow (markouts that average zero
    but are noisy) costs nothing, while a consistently toxic stream is charged nearly its full
    mean. The standard error uses the effective sample size of the weights,
    ``(sum w)^2 / sum w^2``, so early on (few markouts) it is wide, and no single markout
    dominates the mean: seeding the average with the first markout and decaying from there
    would keep one unlucky early markout in the price for dozens of fills.
    """

    alpha: float = 0.02
    confidence: float = 2.0
    seen: int = 0
    _w: float = 0.0  # sum of weights
    _w2: float = 0.0  # sum of squared weights
    _s: float = 0.0  # weighted sum of markouts
    _q: float = 0.0  # weighted sum of squared markouts

    def update(self, markout: float) -> float:
        keep = 1.0 - self.alpha
        self.seen += 1
        self._w = keep * self._w + 1.0
        self._w2 = keep * keep * self._w2 + 1.0
        self._s = keep * self._s + markout
        self._q = keep * self._q + markout * markout
        return self.charge

    @property
    def mean(self) -> float:
        return self._s / self._w if self._w else 0.0

    @property
    def effective_n(self) -> float:
        return self._w * self._w / self._w2 if self._w2 else 0.0

    @property
    def charge(self) -> float:
        if self.seen < 2:
            return 0.0
        mean = self.mean
        n = self.effective_n
        # Weighted variance with the reliability-weights correction (unbiased for i.i.d. data).
        variance = max(0.0, self._q / self._w - mean * mean) * n / max(n - 1.0, 1e-9)
        return max(0.0, mean - self.confidence * math.sqrt(variance / n))


def fixed_spread_price(side: Side, bid: int, ask: int, spread_bps: float) -> int:
    """Mid plus/minus half a fixed spread in bps, never worse than the NBBO ($0.0001 grid)."""
    mid = (bid + ask) / 2
    half = mid * spread_bps / 2e4
    if side is Side.BUY:
        return min(ask, _ceil_to(mid + half, SUBPENNY))
    return max(bid, _floor_to(mid - half, SUBPENNY))


def mid_of(nbbo: NBBO | None) -> float | None:
    """The midpoint of a (usable, two-sided) NBBO, ``None`` without one."""
    if nbbo is None:
        return None
    return (nbbo.bid_px + nbbo.ask_px) / 2  # type: ignore[operator]


def within_limit(side: Side, price: int, limit_price: int | None) -> bool:
    """Whether an execution at ``price`` respects the order's limit (none: any price does)."""
    if limit_price is None:
        return True
    return price <= limit_price if side is Side.BUY else price >= limit_price
