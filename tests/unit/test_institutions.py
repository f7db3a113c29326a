"""Metaorder draws: Pareto-tailed parent sizes, fair sides, the cap."""

from __future__ import annotations

import math

import numpy as np

from config.scenario import InstitutionalSpec
from protocol.common import Side
from services.institutions import draw_metaorder


def test_parent_sizes_have_the_pareto_tail_they_are_drawn_with() -> None:
    # P(children >= l) = l^-alpha: with alpha 1.5, P(>= 4) = 1/8 and P(>= 16) = 1/64; each
    # share estimated from 40,000 draws to within 4 binomial standard errors.
    spec = InstitutionalSpec(traders=1, size_alpha=1.5, max_children=10**9)
    rng = np.random.default_rng(5)
    n = 40_000
    children = np.array([draw_metaorder(rng, ["A", "B"], spec).children for _ in range(n)])
    assert children.min() == 1
    for size, p in ((4, 4**-1.5), (16, 16**-1.5)):
        share = float((children >= size).mean())
        assert abs(share - p) < 4 * math.sqrt(p * (1 - p) / n), (size, share, p)


def test_sides_and_symbols_are_fair_and_sizes_capped() -> None:
    spec = InstitutionalSpec(traders=1, size_alpha=1.1, max_children=50)
    rng = np.random.default_rng(9)
    parents = [draw_metaorder(rng, ["A", "B"], spec) for _ in range(20_000)]
    buys = sum(p.side is Side.BUY for p in parents) / len(parents)
    a_share = sum(p.symbol == "A" for p in parents) / len(parents)
    assert abs(buys - 0.5) < 4 * 0.5 / math.sqrt(len(parents))
    assert abs(a_share - 0.5) < 4 * 0.5 / math.sqrt(len(parents))
    # alpha 1.1: P(>= 50) = 50^-1.1 ~ 1.3%, all of them held at the cap
    assert max(p.children for p in parents) == 50
    assert sum(p.children == 50 for p in parents) > 0
