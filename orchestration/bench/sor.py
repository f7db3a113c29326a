"""SOR benchmark: the allocation core (greedy and optimal) on a seeded random book, against the
1 ms aim.

Run ``python -m orchestration.bench.sor`` for a one-line report.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable

import msgspec

from protocol.common import Side
from services.sor.core import VenueLevel, allocate_greedy, allocate_optimal

BASE_PRICE = 100_000_000  # $100.00
CENT = 10_000
KINDS_AND_FEES = (("lit", 3_000), ("lit", -2_000), ("dark", 1_000), ("mm", 0))  # per share
SOR_AIM_US = 1_000.0


class AllocationTimes(msgspec.Struct, frozen=True, kw_only=True):
    """Median microseconds per call of each allocator."""

    greedy_us: float
    optimal_us: float


class SorResult(msgspec.Struct, frozen=True, kw_only=True):
    """The allocators' median µs per call and their ratio to the 1 ms aim."""

    venues: int
    levels: int
    repeats: int
    greedy_us: float
    optimal_us: float
    aim_us: float
    greedy_ratio: float
    optimal_ratio: float


def random_book(venues: int, levels: int, rng: random.Random) -> list[VenueLevel]:
    """An ask-side book: each venue starts within a few cents of $100 and steps up by cents.

    Fees are one per venue (by kind), like real fee schedules.
    """
    book: list[VenueLevel] = []
    for index in range(venues):
        kind, fee = KINDS_AND_FEES[index % len(KINDS_AND_FEES)]
        latency_ns = rng.randrange(50_000, 500_000, 1_000)
        price = BASE_PRICE + rng.randrange(0, 5) * CENT
        for _ in range(levels):
            qty = rng.randrange(1, 51) * 100
            book.append(VenueLevel(f"venue{index:02d}", price, qty, latency_ns, kind, fee))
            price += rng.randrange(1, 3) * CENT
    rng.shuffle(book)
    return book


def run_allocation_benchmark(
    *,
    venues: int = 10,
    levels: int = 10,
    repeats: int = 2000,
    seed: int = 7,
    clock: Callable[[], int] = time.perf_counter_ns,
) -> AllocationTimes:
    """Median microseconds per call of ``allocate_greedy`` and ``allocate_optimal``.

    Both allocate a buy for half the book's total depth, so they walk many levels.
    """
    if repeats <= 0:
        raise ValueError(f"repeats: must be > 0, got {repeats}")
    rng = random.Random(seed)
    book = random_book(venues, levels, rng)
    qty = max(1, sum(level.qty for level in book) // 2)
    result: dict[str, float] = {}
    for name, allocate in (("greedy_us", allocate_greedy), ("optimal_us", allocate_optimal)):
        samples: list[int] = []
        for _ in range(repeats):
            started = clock()
            allocate(Side.BUY, qty, book)
            samples.append(clock() - started)
        result[name] = round(statistics.median(samples) / 1_000, 3)
    return AllocationTimes(**result)


def bench_sor(*, repeats: int, venues: int = 10, levels: int = 10) -> SorResult:
    """``run_allocation_benchmark`` against the aim."""
    r = run_allocation_benchmark(venues=venues, levels=levels, repeats=repeats)
    return SorResult(
        venues=venues,
        levels=levels,
        repeats=repeats,
        greedy_us=float(r.greedy_us),
        optimal_us=float(r.optimal_us),
        aim_us=SOR_AIM_US,
        greedy_ratio=float(r.greedy_us) / SOR_AIM_US,
        optimal_ratio=float(r.optimal_us) / SOR_AIM_US,
    )


if __name__ == "__main__":
    print(msgspec.structs.asdict(run_allocation_benchmark()))
