"""Pure helpers of a wholesaler that are not the dealer model.

A wholesaler prices both of its channels (the flow brokers route to it, and auctions) with the
one dealer model in ``services.dealer.core``; what is left here is its PFOF rate per order, the
PFOF mini-project's fixed-spread rule, and small NBBO helpers.
"""

from __future__ import annotations

from protocol.common import Side
from protocol.marketdata import NBBO
from services.dealer.core import ceil_to, floor_to

SUBPENNY = 100  # $0.0001: price improvement granularity of internalised fills


def pfof_rate(per_share: int, spread_share: float, bid: int, ask: int) -> int:
    """PFOF per share for one order: ``spread_share`` of the quoted spread when it is above 0,
    else the flat rate."""
    if spread_share <= 0:
        return per_share
    return round(spread_share * (ask - bid))


def fixed_spread_price(side: Side, bid: int, ask: int, spread_bps: float) -> int:
    """Mid plus/minus half a fixed spread in bps, never worse than the NBBO ($0.0001 grid)."""
    mid = (bid + ask) / 2
    half = mid * spread_bps / 2e4
    if side is Side.BUY:
        return min(ask, ceil_to(mid + half, SUBPENNY))
    return max(bid, floor_to(mid - half, SUBPENNY))


def mid_of(nbbo: NBBO | None) -> float | None:
    """The midpoint of a (usable, two-sided) NBBO, ``None`` without one."""
    if nbbo is None or nbbo.bid_px is None or nbbo.ask_px is None:
        return None
    return (nbbo.bid_px + nbbo.ask_px) / 2


def within_limit(side: Side, price: int, limit_price: int | None) -> bool:
    """Whether an execution at ``price`` respects the order's limit (none: any price does)."""
    if limit_price is None:
        return True
    return price <= limit_price if side is Side.BUY else price >= limit_price
