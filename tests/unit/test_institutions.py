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


def _buy_share(spec: InstitutionalSpec, gap: float | None, n: int = 40_000) -> float:
    rng = np.random.default_rng(17)
    parents = [draw_metaorder(rng, ["A"], spec, lambda _symbol: gap) for _ in range(n)]
    return sum(p.side is Side.BUY for p in parents) / n


def test_informed_parents_lean_with_the_value_as_the_normal_law_says() -> None:
    # The value 1 bp above the mid, a view with 2 bps of noise: an informed parent buys with
    # probability Phi(1/2) = 0.691462 (normal table); with 60% of parents informed and the rest
    # a fair coin, P(buy) = 0.4 x 0.5 + 0.6 x 0.691462 = 0.614877. 40,000 draws: within 4
    # binomial standard errors (0.0097).
    spec = InstitutionalSpec(traders=1, informed_share=0.6, signal_noise_bps=2.0)
    expected = 0.4 * 0.5 + 0.6 * 0.691462
    share = _buy_share(spec, 1.0)
    assert abs(share - expected) < 4 * math.sqrt(expected * (1 - expected) / 40_000), share
    # the value below the mid: the mirror image
    assert abs(_buy_share(spec, -1.0) - (1 - expected)) < 0.0097
    # fully informed with a noiseless view: every parent on the value's side
    exact = InstitutionalSpec(traders=1, informed_share=1.0, signal_noise_bps=0.0)
    assert _buy_share(exact, 0.5, n=500) == 1.0 and _buy_share(exact, -0.5, n=500) == 0.0


def test_a_parent_that_cannot_see_the_value_or_the_mid_takes_the_coin() -> None:
    spec = InstitutionalSpec(traders=1, informed_share=1.0, signal_noise_bps=0.0)
    assert abs(_buy_share(spec, None) - 0.5) < 4 * 0.5 / math.sqrt(40_000)


def test_uninformed_institutions_draw_exactly_what_they_drew_before() -> None:
    # informed_share 0 (the default): one uniform for the coin, one Pareto for the size — the
    # same numbers, in the same order, as the draws before informed parents existed.
    spec = InstitutionalSpec(traders=1, size_alpha=1.5)
    rng, ref = np.random.default_rng(3), np.random.default_rng(3)
    for _ in range(200):
        parent = draw_metaorder(rng, ["A", "B"], spec, lambda _symbol: 5.0)
        symbol = ["A", "B"][int(ref.integers(2))]
        side = Side.BUY if ref.random() < 0.5 else Side.SELL
        children = min(spec.max_children, int(1.0 + ref.pareto(spec.size_alpha)))
        assert (parent.symbol, parent.side, parent.children) == (symbol, side, children)
