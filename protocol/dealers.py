"""Dealer learning on the tape: each settled learning period, and the learned state at stop.

Every dealer (wholesalers, and market makers answering auctions) learns its markup per channel
(``internalize``: the flow a broker routes to it; ``auction``: order-by-order auctions). These
messages go to the tape only: the reports show how markups evolved and whether they settled,
and ``flowlab calibrate`` turns the states at stop into a warm start for later runs.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from protocol.base import Message, Record
from protocol.common import Money, Name

# A markup as a fraction of the quoted half-spread, in basis points of it (10_000 = the whole
# half-spread: a price at the touch). Integers on the wire, like every other number.
ShareBp = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]


class MarkupSettled(Message, frozen=True):
    """One learning period of one channel, accounted: the markup played (a fraction of the
    quoted half-spread), its profit per 100 shares of retail flow competed for (spread
    captured, less PFOF, fees, operating cost and the channel's expected adverse selection),
    and the markup the learner holds now. Markups are in basis points of the half-spread
    (``ShareBp``)."""

    dealer: Name
    channel: Name
    period: int
    markup_bp: ShareBp
    shares: int  # shares of retail flow it could compete for in the period
    reward: Money  # micro-dollars per 100 shares competed for
    held_bp: ShareBp


class ChannelState(Record, frozen=True):
    """A channel's learned state: the markup learner's estimates (micro-dollars per order, per
    arm) and, per symbol, the markout estimate's sums: ``[seen, w, w2, s, q]`` with the weight
    sums ``w``, ``w2`` in millionths and ``s``, ``q`` in micro-dollars and micro-dollars²."""

    channel: Name
    periods: int
    position: int
    values: list[int]
    plays: list[int]
    adverse: dict[str, list[int]] = {}


class DealerState(Message, frozen=True):
    """Tape event at stop: what a dealer has learned, per channel (a warm start's content)."""

    dealer: Name
    role: Name
    arms: list[ShareBp]
    channels: list[ChannelState]
