"""Institutions working metaorders: the background market's source of long-memory order flow.

An institution draws a parent order — a symbol, a side and a number of child orders with a
Pareto tail, ``P(children >= l) = l^-alpha`` — and sends the children one at a time as marketable
orders, exponential gaps apart, then pauses and draws the next parent. Lillo, Mike & Farmer
(2005, Phys. Rev. E 71:066122) show that splitting parents whose sizes have tail exponent alpha
gives trade signs whose autocorrelation decays as a power law, lag^-(alpha - 1); the children's
steady pressure, absorbed by market makers that read their fills, gives an impact that grows
with the parent's size and flattens (Toth et al. 2011). A share of parents may be informed: their
side follows the institution's noisy view of the latent value against the NBBO midpoint, so
the flow carries what market makers that learn from it can learn (Kyle 1985; docs/MARKET.md
names the facts served).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from config.scenario import InstitutionalSpec
from protocol.common import Side

# Child order ids are ``institution-K.P-N``: institution K's parent P, the agents' order N.
METAORDER_PREFIX = "institution-"


def parent_of(order_id: str) -> str | None:
    """The metaorder a child order belongs to (``institution-K.P``), None for any other id."""
    if not order_id.startswith(METAORDER_PREFIX):
        return None
    parent, dash, _ = order_id.rpartition("-")
    return parent if dash and "." in parent else None


@dataclass(frozen=True, slots=True)
class Metaorder:
    symbol: str
    side: Side
    children: int


def draw_metaorder(
    rng: np.random.Generator,
    symbols: list[str],
    spec: InstitutionalSpec,
    gap_bps: Callable[[str], float | None] | None = None,
) -> Metaorder:
    """One parent: a uniform symbol, a side, ``floor(1 + Lomax(alpha))`` children (so
    ``P(children >= l) = l^-alpha`` for l >= 1), capped at ``max_children``.

    The side is a fair coin, except for the ``informed_share`` of parents whose side follows
    the institution's view: ``gap_bps(symbol)`` is how far the latent value stands above the
    NBBO midpoint, in bps of the mid (None while either is unknown: a coin then), the view is
    that gap plus a normal noise of sd ``signal_noise_bps``, and the parent buys when the view
    is above the mid. With ``informed_share`` 0 the random draws are exactly the coin's.
    """
    symbol = symbols[int(rng.integers(len(symbols)))]
    coin = rng.random()
    side = Side.BUY if coin < 0.5 else Side.SELL
    if spec.informed_share > 0.0 and gap_bps is not None:
        knows = rng.random() < spec.informed_share
        view = rng.normal(0.0, spec.signal_noise_bps)
        gap = gap_bps(symbol) if knows else None
        if gap is not None:
            side = Side.BUY if gap + view > 0.0 else Side.SELL
    children = min(spec.max_children, int(1.0 + rng.pareto(spec.size_alpha)))
    return Metaorder(symbol, side, children)
