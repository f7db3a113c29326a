"""Property tests for the SOR allocation core on random books."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.common import Side
from services.sor.core import (
    ChildOrder,
    VenueAllocation,
    VenueLevel,
    all_in_price,
    allocate_greedy,
    allocate_optimal,
)

BASE_PRICE = 50_000_000  # $50.00
STEP = 1_000  # $0.001


@st.composite
def books(
    draw: st.DrawFn, max_venues: int, max_levels: int, max_size: int, per_level_fees: bool
) -> list[VenueLevel]:
    """A flat random book; levels come in random order, sizes may be zero."""
    book: list[VenueLevel] = []
    for index in range(draw(st.integers(1, max_venues))):
        latency_ns = draw(st.integers(0, 3)) * 1_000
        venue_fee = draw(st.integers(-3, 3)) * STEP
        for _ in range(draw(st.integers(1, max_levels))):
            price = BASE_PRICE + draw(st.integers(-10, 10)) * STEP
            fee = draw(st.integers(-3, 3)) * STEP if per_level_fees else venue_fee
            qty = draw(st.integers(0, max_size))
            book.append(VenueLevel(f"v{index}", price, qty, latency_ns, "lit", fee))
    return draw(st.permutations(book))


limit_offsets = st.none() | st.integers(-12, 12).map(lambda ticks: BASE_PRICE + ticks * STEP)


def within(side: Side, price: int, limit: int | None) -> bool:
    return limit is None or price * side.sign <= limit * side.sign


def venue_book(side: Side, book: Sequence[VenueLevel], venue: str) -> list[VenueLevel]:
    """A venue's levels as its matching engine sees them: best displayed price first."""
    levels = [lvl for lvl in book if lvl.venue == venue and lvl.qty > 0]
    return sorted(levels, key=lambda lvl: lvl.price * side.sign)


def sweep(
    side: Side, levels: Sequence[VenueLevel], qty: int, limit: int | None
) -> tuple[int, int, int]:
    """What an IOC for ``qty`` limited at ``limit`` gets: (filled, all-in cost, levels touched)."""
    filled = cost = touched = 0
    for lvl in levels:
        if filled == qty or not within(side, lvl.price, limit):
            break
        taken = min(lvl.qty, qty - filled)
        filled, cost, touched = filled + taken, cost + taken * all_in_price(side, lvl), touched + 1
    return filled, cost, touched


def check_executable(
    side: Side, qty: int, book: Sequence[VenueLevel], limit: int | None, allocation: VenueAllocation
) -> None:
    """Every child is one IOC that gets exactly what the allocation expects of it."""
    assert allocation.allocated_qty + allocation.unallocated_qty == qty
    assert 0 <= allocation.allocated_qty <= qty
    assert allocation.allocated_qty == sum(c.qty for c in allocation.children)
    assert allocation.expected_cost == sum(c.expected_cost for c in allocation.children)
    assert len({c.venue for c in allocation.children}) == len(allocation.children)
    for child in allocation.children:
        assert child.qty > 0
        assert within(side, child.limit_price, limit)
        levels = venue_book(side, book, child.venue)
        assert sweep(side, levels, child.qty, child.limit_price) == (
            child.qty,
            child.expected_cost,
            child.levels,
        )
        # The limit is the worst price actually taken, not a looser one.
        assert sweep(side, levels, child.qty, child.limit_price - side.sign)[0] < child.qty


def cost_rank(side: Side, allocation: VenueAllocation) -> int:
    """Smaller is better: cost for buys, minus net proceeds for sells."""
    return allocation.expected_cost * side.sign


def eligible_depth(side: Side, book: Sequence[VenueLevel], limit: int | None) -> int:
    return sum(lvl.qty for lvl in book if within(side, lvl.price, limit))


@settings(max_examples=300, deadline=None)
@given(
    side=st.sampled_from(Side),
    qty=st.integers(1, 30_000),
    book=books(max_venues=6, max_levels=6, max_size=5_000, per_level_fees=True),
    limit=limit_offsets,
)
def test_allocate_any_book_children_are_executable_iocs_within_limit(
    side: Side, qty: int, book: list[VenueLevel], limit: int | None
) -> None:
    for allocate in (allocate_greedy, allocate_optimal):
        allocation = allocate(side, qty, book, limit)

        check_executable(side, qty, book, limit, allocation)
        assert allocation.allocated_qty == min(qty, eligible_depth(side, book, limit))


@settings(max_examples=300, deadline=None)
@given(
    side=st.sampled_from(Side),
    qty=st.integers(1, 30_000),
    book=books(max_venues=6, max_levels=6, max_size=5_000, per_level_fees=False)
    | books(max_venues=4, max_levels=4, max_size=5_000, per_level_fees=True),
    limit=limit_offsets,
)
def test_allocate_optimal_any_book_never_worse_than_greedy(
    side: Side, qty: int, book: list[VenueLevel], limit: int | None
) -> None:
    greedy = allocate_greedy(side, qty, book, limit)
    optimal = allocate_optimal(side, qty, book, limit)

    assert optimal.allocated_qty >= greedy.allocated_qty
    if optimal.allocated_qty == greedy.allocated_qty:
        assert cost_rank(side, optimal) <= cost_rank(side, greedy)


def brute_force_best_cost_rank(
    side: Side, qty: int, book: Sequence[VenueLevel], limit: int | None
) -> int:
    """Try every per-venue quantity; each venue is swept top-down like an IOC would."""
    venues = sorted({lvl.venue for lvl in book})
    books_by_venue = [
        [lvl for lvl in venue_book(side, book, venue) if within(side, lvl.price, limit)]
        for venue in venues
    ]
    target = min(qty, sum(lvl.qty for levels in books_by_venue for lvl in levels))
    depths = [range(sum(lvl.qty for lvl in levels) + 1) for levels in books_by_venue]
    best: int | None = None
    for split in itertools.product(*depths):
        if sum(split) != target:
            continue
        cost = sum(
            sweep(side, levels, part, None)[1]
            for levels, part in zip(books_by_venue, split, strict=True)
        )
        if best is None or cost * side.sign < best:
            best = cost * side.sign
    assert best is not None
    return best


@settings(max_examples=300, deadline=None)
@given(
    side=st.sampled_from(Side),
    qty=st.integers(1, 16),
    book=books(max_venues=3, max_levels=3, max_size=4, per_level_fees=True),
    limit=limit_offsets,
)
def test_allocate_optimal_tiny_book_matches_brute_force(
    side: Side, qty: int, book: list[VenueLevel], limit: int | None
) -> None:
    allocation = allocate_optimal(side, qty, book, limit)

    assert cost_rank(side, allocation) == brute_force_best_cost_rank(side, qty, book, limit)


@settings(max_examples=200, deadline=None)
@given(
    side=st.sampled_from(Side),
    qty=st.integers(1, 30_000),
    book=books(max_venues=6, max_levels=6, max_size=5_000, per_level_fees=False),
)
def test_allocate_optimal_zero_fees_costs_the_displayed_price_sort(
    side: Side, qty: int, book: list[VenueLevel]
) -> None:
    no_fees = [VenueLevel(lvl.venue, lvl.price, lvl.qty, lvl.latency_ns, lvl.kind) for lvl in book]
    remaining, expected = qty, 0
    for lvl in sorted(no_fees, key=lambda lvl: lvl.price * side.sign):
        taken = min(lvl.qty, remaining)
        remaining, expected = remaining - taken, expected + taken * lvl.price

    assert allocate_optimal(side, qty, no_fees).expected_cost == expected


def test_child_order_is_hashable_value() -> None:
    child = ChildOrder("a", 1, 1, 1, 1)

    assert {child: 1}[ChildOrder("a", 1, 1, 1, 1)] == 1
