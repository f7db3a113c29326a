"""What proposed Rule 615 decides before an order is auctioned: pure, integer-exact.

The Order Competition Rule (Release No. 34-96495, Dec 2022; withdrawn June 2025) would bar a
restricted competition trading centre (a wholesaler) from internalising a *segmented order*
unless it was first exposed in a *qualified auction* run by an open competition trading centre.
This module holds the order-level terms the lab applies:

- ``is_segmented``: the proposed Rule 600(b) definition: an order for the account of a natural
  person (or held for one or a family), whose account averaged fewer than 40 trades in NMS
  stocks per day in each of the six preceding calendar months.
- ``auction_exemption``: the exceptions of proposed Rule 615(b) the lab can meet: a market
  value of at least $200,000 (at the NBBO midpoint when received) and a customer limit price at
  or better than the midpoint. (The others — no qualified auction operating, an execution at
  the midpoint or better by the wholesaler, a fractional share — have no counterpart in the
  lab: its auction always runs, the auction arm has no wholesaler in front, and quantities
  are whole shares; docs/ECONOMICS.md.)
- ``exposure_limit``: the limit price at which the order is exposed: its own, or for a market
  order the far side of the NBBO at the auction's start, so nothing in the auction executes
  worse for the investor than the quote it was exposed against.
"""

from __future__ import annotations

import enum

from protocol.common import Side
from protocol.money import MICROS_PER_DOLLAR

# Proposed Rule 600(b) "segmented order": fewer than 40 trades a day on average, in each month.
SEGMENTED_MAX_AVG_DAILY_TRADES = 40
# Proposed Rule 615(b): orders with a market value of at least $200,000 are excepted.
LARGE_ORDER_MICROS = 200_000 * MICROS_PER_DOLLAR


class AuctionExemption(enum.StrEnum):
    """Why an order of the auction arm is not auctioned (the reason the broker tapes)."""

    NOT_SEGMENTED = "not-segmented"
    LARGE_ORDER = "large-order"  # market value >= $200,000 at the midpoint (615(b))
    LIMIT_AT_MIDPOINT = "limit-at-or-better-than-midpoint"  # customer limit (615(b))


def is_segmented(natural_person: bool | None, avg_daily_trades: int | None) -> bool:
    """The proposed definition; unstated attributes count as a retail broker's own client
    (a natural person trading less than 40 times a day)."""
    if natural_person is False:
        return False
    return avg_daily_trades is None or avg_daily_trades < SEGMENTED_MAX_AVG_DAILY_TRADES


def auction_exemption(
    side: Side,
    qty: int,
    limit_price: int | None,
    segmented: bool,
    nbbo_bid: int | None,
    nbbo_ask: int | None,
) -> AuctionExemption | None:
    """The exception that lets this order skip the auction, or ``None`` (it must be exposed).

    Without a two-sided NBBO the midpoint tests cannot apply: the order is auctioned (the
    auction house then decides whether it can start one)."""
    if not segmented:
        return AuctionExemption.NOT_SEGMENTED
    if nbbo_bid is None or nbbo_ask is None:
        return None
    mid2 = nbbo_bid + nbbo_ask  # twice the midpoint: exact in micro-dollars
    if qty * mid2 >= 2 * LARGE_ORDER_MICROS:
        return AuctionExemption.LARGE_ORDER
    if limit_price is not None:
        at_or_better = 2 * limit_price <= mid2 if side is Side.BUY else 2 * limit_price >= mid2
        if at_or_better:
            return AuctionExemption.LIMIT_AT_MIDPOINT
    return None


def exposure_limit(side: Side, limit_price: int | None, nbbo_bid: int, nbbo_ask: int) -> int:
    """The limit price the order is exposed at: its own limit, or for a market order the
    NBBO's far side at the start (the ask for a buy); never beyond its own limit."""
    far = nbbo_ask if side is Side.BUY else nbbo_bid
    if limit_price is None:
        return far
    return limit_price
