"""Vocabulary shared by every message domain: sides, order types, liquidity kinds, constraints."""

from __future__ import annotations

import enum
from typing import Annotated

import msgspec

# Prices and money are integer micro-dollars (1 == $0.000001). Quantities are integer shares.
# Times are integer nanoseconds since the Unix epoch.
MAX_PRICE = 1_000_000_000_000  # $1,000,000 per share is far above any stock we model
MAX_QTY = 100_000_000

Price = Annotated[int, msgspec.Meta(gt=0, le=MAX_PRICE)]
Money = Annotated[int, msgspec.Meta(ge=-(10**15), le=10**15)]  # signed: fees (+) vs rebates (-)
Qty = Annotated[int, msgspec.Meta(gt=0, le=MAX_QTY)]
QtyOrZero = Annotated[int, msgspec.Meta(ge=0, le=MAX_QTY)]
Nanos = Annotated[int, msgspec.Meta(ge=0)]
Seq = Annotated[int, msgspec.Meta(ge=0)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Symbol = Annotated[str, msgspec.Meta(min_length=1, max_length=12, pattern=r"^[A-Z][A-Z0-9.]*$")]
OrderId = Annotated[str, msgspec.Meta(min_length=1, max_length=96)]
Text = Annotated[str, msgspec.Meta(max_length=512)]


class Side(enum.StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        """+1 for buys, -1 for sells: the direction D of Rule 605 formulas."""
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(enum.StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    MIDPOINT = "midpoint"  # dark pools: pegged to the NBBO midpoint


class TimeInForce(enum.StrEnum):
    DAY = "day"
    IOC = "ioc"
    FOK = "fok"


class Urgency(enum.StrEnum):
    """How fast a parent order must be worked; the SOR's default strategy when none is named."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"


class Liquidity(enum.StrEnum):
    MAKER = "maker"
    TAKER = "taker"
    INTERNALIZED = "internalized"
    AUCTION = "auction"
    MIDPOINT = "midpoint"
