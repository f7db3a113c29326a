"""The seed's PFOF mini-project, offline and exactly as written (``flowlab miniproject pfof``).

The seed (shared/seeds/000_c48b12bcc88ae5be.txt, section 5, ``PFOFRoutingSimulator``) routes
retail orders to one of four destinations with fixed parameters, by one of three strategies:

- ``best_execution``: the lowest cost, where cost is the destination's *whole* spread times the
  order's price and size (``spread_bps / 10000 * price * size``);
- ``maximize_revenue``: the highest PFOF (``pfof_per_share * size``);
- ``balanced``: the lowest ``0.7 * cost - 0.3 * PFOF`` over all four destinations, the lit
  market included.

Each order: its price a random walk from $100 (``normal(0, 0.1)`` a step), its size drawn from
100 / 500 / 1,000 / 5,000 shares, then filled with the destination's fill rate. An unfilled order
costs nothing, earns nothing and leaves the per-order means (the seed averages over filled orders
only). The seed runs one "day" of 1,000 orders per strategy, each day in a fresh simulator
starting at $100, all days drawing from NumPy's one global generator; ``run_seed`` draws from a
``RandomState`` seeded once in the same order (the seed's two days, then ``balanced``), so its
first two days are what the seed's script prints after ``np.random.seed(seed)``.

Money is float dollars here, as in the seed (its figures are reproduced, not re-priced), never
on the wire. ``Assumptions`` turns the seed's shortcuts off one at a time (``shortcut_table``).
The live lab's side is ``orchestration.miniproject_live``.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

ORDER_SIZES = (100, 500, 1000, 5000)
BASE_PRICE = 100.0
PRICE_STEP_SD = 0.1
ORDERS_PER_DAY = 1000
BALANCED_COST_WEIGHT = 0.7  # balanced: 0.7 x cost - 0.3 x PFOF
BALANCED_PFOF_WEIGHT = 0.3
LIT = "lit"


class SeedStrategy(enum.StrEnum):
    """The seed's three routing strategies, in the order ``run_seed`` runs their days."""

    BEST_EXECUTION = "best_execution"
    MAXIMIZE_REVENUE = "maximize_revenue"
    BALANCED = "balanced"


@dataclass(frozen=True, slots=True)
class SeedVenue:
    """One of the seed's destinations (its ``VenueParams``)."""

    name: str
    spread_bps: float
    pfof_per_share: float  # dollars per share paid to the broker
    fill_rate: float
    speed_ms: float


# The seed's four destinations in its order (ties go to the first, as Python's min/max do). The
# seed names the three market makers after real firms; the lab calls them mm-1..mm-3, as the live
# scenario (scenarios/seed-pfof.toml) does.
SEED_VENUES: tuple[SeedVenue, ...] = (
    SeedVenue(LIT, spread_bps=0.5, pfof_per_share=0.0, fill_rate=0.99, speed_ms=80.0),
    SeedVenue("mm-1", spread_bps=1.0, pfof_per_share=0.005, fill_rate=0.98, speed_ms=5.0),
    SeedVenue("mm-2", spread_bps=1.2, pfof_per_share=0.004, fill_rate=0.97, speed_ms=3.0),
    SeedVenue("mm-3", spread_bps=0.8, pfof_per_share=0.003, fill_rate=0.96, speed_ms=2.0),
)


@dataclass(frozen=True, slots=True)
class Assumptions:
    """How the model charges and fills; the default is the seed as written.

    ``spread_charged``: the share of the spread an order pays (1.0: the seed's whole spread;
    0.5: the half-spread an investor pays against the midpoint, Rule 605's measure).
    ``order_protection``: a market maker charges at most the lit venue's spread (it cannot fill
    outside the NBBO, Reg NMS Rule 611). ``declines_rerouted``: an order a market maker declines
    goes on to the lit venue and fills there (as the live broker re-routes to its SOR), paying the
    lit cost and both delays, instead of vanishing free of charge.
    """

    label: str = "seed as written"
    spread_charged: float = 1.0
    order_protection: bool = False
    declines_rerouted: bool = False


AS_WRITTEN = Assumptions()
SHORTCUTS_OFF: tuple[Assumptions, ...] = (
    Assumptions("cost = half spread (vs the mid)", spread_charged=0.5),
    Assumptions("market makers capped at the lit quote", order_protection=True),
    Assumptions("declines re-routed to lit", declines_rerouted=True),
    Assumptions("all three", spread_charged=0.5, order_protection=True, declines_rerouted=True),
)


@dataclass(frozen=True, slots=True)
class SeedOrder:
    """One order of a day: its price, size, strategy and the uniform draw that decides its fill."""

    price: float
    size: int
    strategy: SeedStrategy
    fill_draw: float


@dataclass(frozen=True, slots=True)
class SeedExecution:
    """One row of the seed's ``execution_results`` (plus where a re-routed order filled)."""

    strategy: SeedStrategy
    price: float
    size: int
    venue: str  # where the strategy routed it
    filled: bool
    fill_size: int
    spread_cost: float  # dollars, 0 when unfilled
    pfof_revenue: float  # dollars, 0 when unfilled
    speed_ms: float  # NaN when unfilled
    effective_spread_bps: float  # the routed venue's spread, filled or not (as the seed records)
    filled_at: str | None  # the venue that filled it (differs from venue once re-routed)


def venue_named(name: str, venues: Sequence[SeedVenue] = SEED_VENUES) -> SeedVenue:
    for venue in venues:
        if venue.name == name:
            return venue
    raise KeyError(f"venue: no venue {name!r} (known: {', '.join(v.name for v in venues)})")


def charged_spread_bps(
    venue: SeedVenue, assumptions: Assumptions, venues: Sequence[SeedVenue] = SEED_VENUES
) -> float:
    """The spread the model charges at ``venue``, in bps, before ``spread_charged``."""
    if assumptions.order_protection and venue.name != LIT:
        return min(venue.spread_bps, venue_named(LIT, venues).spread_bps)
    return venue.spread_bps


def order_cost(
    venue: SeedVenue,
    price: float,
    size: int,
    assumptions: Assumptions = AS_WRITTEN,
    venues: Sequence[SeedVenue] = SEED_VENUES,
) -> float:
    """The seed's ``net_cost_to_retail``: spread / 10,000 x price x size, in dollars."""
    spread_cost = charged_spread_bps(venue, assumptions, venues) / 10000 * price
    return assumptions.spread_charged * spread_cost * size


def order_pfof(venue: SeedVenue, size: int) -> float:
    """The seed's ``pfof_revenue_per_order``: PFOF per share x size, in dollars."""
    return venue.pfof_per_share * size


def route(
    order: SeedOrder,
    assumptions: Assumptions = AS_WRITTEN,
    venues: Sequence[SeedVenue] = SEED_VENUES,
) -> SeedVenue:
    """The seed's ``route_order``: the destination the order's strategy picks (ties: the first,
    as Python's ``min`` and ``max`` keep)."""
    price, size, strategy = order.price, order.size, order.strategy

    def cost(v: SeedVenue) -> float:
        return order_cost(v, price, size, assumptions, venues)

    match strategy:
        case SeedStrategy.BEST_EXECUTION:
            return min(venues, key=cost)
        case SeedStrategy.MAXIMIZE_REVENUE:
            return max(venues, key=lambda v: order_pfof(v, size))
        case SeedStrategy.BALANCED:
            return min(
                venues,
                key=lambda v: (
                    BALANCED_COST_WEIGHT * cost(v) + BALANCED_PFOF_WEIGHT * -order_pfof(v, size)
                ),
            )
    raise ValueError(f"strategy: unknown {strategy!r}")


def execute(
    order: SeedOrder,
    assumptions: Assumptions = AS_WRITTEN,
    venues: Sequence[SeedVenue] = SEED_VENUES,
) -> SeedExecution:
    """The seed's ``execute_order`` on the destination ``route`` picks for ``order``."""
    venue = route(order, assumptions, venues)
    filled_at: SeedVenue | None = venue if order.fill_draw < venue.fill_rate else None
    speed_ms = venue.speed_ms
    if filled_at is None and assumptions.declines_rerouted and venue.name != LIT:
        filled_at = venue_named(LIT, venues)
        speed_ms += filled_at.speed_ms  # the decline's round trip, then the lit venue's
    filled = filled_at is not None
    return SeedExecution(
        strategy=order.strategy,
        price=order.price,
        size=order.size,
        venue=venue.name,
        filled=filled,
        fill_size=order.size if filled else 0,
        spread_cost=order_cost(filled_at, order.price, order.size, assumptions, venues)
        if filled_at
        else 0.0,
        pfof_revenue=order_pfof(filled_at, order.size) if filled_at else 0.0,
        speed_ms=speed_ms if filled else math.nan,
        effective_spread_bps=venue.spread_bps,
        filled_at=filled_at.name if filled_at else None,
    )


def draw_day(
    rng: np.random.RandomState,
    n_orders: int,
    strategies: Sequence[SeedStrategy],
    start_price: float = BASE_PRICE,
) -> list[SeedOrder]:
    """The seed's ``simulate_trading_day`` draws, in its order: per order a price step, a size,
    a strategy, then (in ``execute_order``) the fill draw; routing itself draws nothing."""
    names = [str(s) for s in strategies]
    base_price = start_price
    orders = []
    for _ in range(n_orders):
        price = base_price + rng.normal(0, PRICE_STEP_SD)
        size = rng.choice(list(ORDER_SIZES))
        strategy = SeedStrategy(str(rng.choice(names)))
        orders.append(SeedOrder(float(price), int(size), strategy, float(rng.random())))
        base_price = price
    return orders


def run_seed(
    seed: int, n_orders: int = ORDERS_PER_DAY, start_price: float = BASE_PRICE
) -> dict[SeedStrategy, list[SeedOrder]]:
    """One day per strategy, in ``SeedStrategy`` order, from one generator seeded once; each
    day's prices walk from ``start_price`` (the seed's $100; the live lab's stock is dearer)."""
    rng = np.random.RandomState(seed)
    return {s: draw_day(rng, n_orders, [s], start_price) for s in SeedStrategy}


def execute_days(
    days: dict[SeedStrategy, list[SeedOrder]],
    assumptions: Assumptions = AS_WRITTEN,
    venues: Sequence[SeedVenue] = SEED_VENUES,
) -> list[SeedExecution]:
    return [execute(o, assumptions, venues) for orders in days.values() for o in orders]


def balanced_break_even_price(
    assumptions: Assumptions = AS_WRITTEN, venues: Sequence[SeedVenue] = SEED_VENUES
) -> float:
    """The share price below which ``balanced`` leaves the lit venue for a market maker.

    Per share, a market maker beats the lit venue when 0.7 x (its spread - lit's) x price / 1e4
    < 0.3 x (its PFOF - lit's): below 0.3 x dPFOF x 1e4 / (0.7 x dspread). ``inf`` when some
    market maker is no dearer than the lit venue (then it always wins on PFOF); 0 when none pays.
    """
    lit = venue_named(LIT, venues)
    lit_spread = assumptions.spread_charged * charged_spread_bps(lit, assumptions, venues)
    best = 0.0
    for venue in venues:
        if venue.name == LIT or venue.pfof_per_share <= lit.pfof_per_share:
            continue
        extra_spread = (
            assumptions.spread_charged * charged_spread_bps(venue, assumptions, venues) - lit_spread
        )
        if extra_spread <= 0:
            return math.inf
        extra_pfof = venue.pfof_per_share - lit.pfof_per_share
        best = max(
            best, BALANCED_PFOF_WEIGHT * extra_pfof * 1e4 / (BALANCED_COST_WEIGHT * extra_spread)
        )
    return best
