"""Market data: venue quotes and trades, the consolidated NBBO, the latent value, snapshots.

Every stream numbers its messages (``seq``) so a subscriber detects gaps; a late joiner takes a
``Snapshot`` then applies only updates newer than it (the ZeroMQ guide's Clone pattern).
"""

from __future__ import annotations

from protocol.base import Message, Record
from protocol.common import Name, Price, Qty, QtyOrZero, Seq, Side, Symbol


class Quote(Message, frozen=True):
    """A venue's best bid and offer for one symbol (full state for that key)."""

    venue: Name
    symbol: Symbol
    seq: Seq
    bid_px: Price | None
    bid_qty: QtyOrZero
    ask_px: Price | None
    ask_qty: QtyOrZero


class Level(Record, frozen=True, array_like=True):
    price: Price
    qty: Qty


class Depth(Message, frozen=True):
    venue: Name
    symbol: Symbol
    seq: Seq
    bids: list[Level]
    asks: list[Level]


class IndicationOfInterest(Message, frozen=True):
    """A dark pool's indications for one symbol: priced resting size by price, no identities.

    Full state for ``(venue, symbol)``, best price first on each side; empty lists mean nothing
    indicated. Only priced (non-pegged) dark orders are indicated.
    """

    venue: Name
    symbol: Symbol
    seq: Seq
    bids: list[Level] = []
    asks: list[Level] = []


class Trade(Message, frozen=True):
    venue: Name
    symbol: Symbol
    seq: Seq
    price: Price
    qty: Qty
    trade_id: str
    aggressor: Side | None = None


class NBBO(Message, frozen=True):
    """National best bid and offer over the lit venues' protected quotes.

    ``best_bid_px``/``best_ask_px``: the best displayed bid and offer of any size, odd-lot
    quotations included (amended Rule 605's "best available displayed price", Release No.
    34-99679); equal to the NBBO side unless an odd lot is quoted inside it. ``None`` when that
    side has no quotation at all, and on messages from before the SIP published them.
    """

    symbol: Symbol
    seq: Seq
    bid_px: Price | None
    bid_qty: QtyOrZero
    bid_venue: str
    ask_px: Price | None
    ask_qty: QtyOrZero
    ask_venue: str
    locked: bool = False
    crossed: bool = False
    best_bid_px: Price | None = None
    best_ask_px: Price | None = None

    @property
    def two_sided(self) -> bool:
        return self.bid_px is not None and self.ask_px is not None

    @property
    def mid2(self) -> int | None:
        """Twice the midpoint, exact in micro-dollars (``None`` unless two-sided)."""
        if self.bid_px is None or self.ask_px is None:
            return None
        return self.bid_px + self.ask_px


class ValueUpdate(Message, frozen=True):
    """The latent fundamental value of a symbol (seen exactly only by the value feed)."""

    symbol: Symbol
    seq: Seq
    value: Price


class SequenceHeartbeat(Message, frozen=True):
    """A publisher's last ``seq``, sent periodically: a subscriber that missed the last update
    of a quiet stream sees ``seq`` ahead of its own and re-snapshots (the Clone pattern's HUGZ)."""

    stream: Name
    seq: Seq


class SnapshotRequest(Message, frozen=True):
    stream: Name


class Snapshot(Message, frozen=True):
    """State of a stream as of ``seq``: apply it, then only updates with a larger ``seq``."""

    stream: Name
    seq: Seq
    quotes: list[Quote] = []
    nbbos: list[NBBO] = []
    values: list[ValueUpdate] = []
    depths: list[Depth] = []
    iois: list[IndicationOfInterest] = []


__all__ = [
    "NBBO",
    "Depth",
    "IndicationOfInterest",
    "Level",
    "Quote",
    "Snapshot",
    "SnapshotRequest",
    "Trade",
    "ValueUpdate",
]
_ = (Qty,)
