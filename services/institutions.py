"""Institutions working metaorders: the background market's source of long-memory order flow.

An institution draws a parent order — a symbol, a side and a number of child orders with a
Pareto tail, ``P(children >= l) = l^-alpha`` — and sends the children one at a time as marketable
orders, exponential gaps apart, then pauses and draws the next parent. Lillo, Mike & Farmer
(2005, Phys. Rev. E 71:066122) show that splitting parents whose sizes have tail exponent alpha
gives trade signs whose autocorrelation decays as a power law, lag^-(alpha - 1); the children's
steady pressure, absorbed by market makers that read their fills, gives an impact that grows
with the parent's size and flattens (Toth et al. 2011). docs/MARKET.md names the facts served.
"""

from __future__ import annotations

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
    rng: np.random.Generator, symbols: list[str], spec: InstitutionalSpec
) -> Metaorder:
    """One parent: a uniform symbol, a fair coin for the side, ``floor(1 + Lomax(alpha))``
    children (so ``P(children >= l) = l^-alpha`` for l >= 1), capped at ``max_children``."""
    symbol = symbols[int(rng.integers(len(symbols)))]
    side = Side.BUY if rng.random() < 0.5 else Side.SELL
    children = min(spec.max_children, int(1.0 + rng.pareto(spec.size_alpha)))
    return Metaorder(symbol, side, children)
