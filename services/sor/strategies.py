"""SOR strategies: what each parent's next wave of child orders is, from what the router knows.

Pure and synchronous (the service in ``services/sor/service.py`` owns sockets and clocks). A wave is
planned from the levels the router sees -- lit depth (``Depth``), dark indications of interest
(``IndicationOfInterest``) -- plus the dark pools it can only probe (midpoint-pegged, nothing shown)
and the fill rates it has learned from its own children. Which information each strategy uses is
in ``docs/SOR.md``.

Strategy names (``SubmitOrder.strategy``): ``greedy``, ``optimal``, ``min-impact``, ``fill-aware``,
``twap`` / ``twap:<horizon_ms>`` / ``twap:<horizon_ms>:<slices>``, ``pov`` / ``pov:<percent>``,
and ``direct:<venue>`` (everything to one venue: the single-venue baseline).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from protocol.common import OrderType, Side, Urgency
from protocol.money import round_to_tick, tick_size
from services.sor.core import (
    VenueAllocation,
    VenueLevel,
    all_in_price,
    allocate_greedy,
    allocate_optimal,
)

if TYPE_CHECKING:
    from config.scenario import SorConfig


class StrategyKind(enum.StrEnum):
    """The head of a strategy name (``twap`` in ``twap:2000:4``): how a parent is worked."""

    GREEDY = "greedy"
    OPTIMAL = "optimal"
    MIN_IMPACT = "min-impact"
    FILL_AWARE = "fill-aware"
    TWAP = "twap"
    POV = "pov"
    DIRECT = "direct"


KINDS = tuple(StrategyKind)
TIME_SLICED = (StrategyKind.TWAP, StrategyKind.POV)


@dataclass(frozen=True, slots=True)
class Strategy:
    """A parsed strategy name; ``horizon_ms``/``slices``/``rate`` are 0 for 'the config default'."""

    name: str
    kind: StrategyKind
    venue: str | None = None
    horizon_ms: int = 0
    slices: int = 0
    rate: float = 0.0

    @property
    def time_sliced(self) -> bool:
        return self.kind in TIME_SLICED


URGENCY_STRATEGIES: dict[str, StrategyKind] = {
    Urgency.HIGH: StrategyKind.OPTIMAL,
    Urgency.NORMAL: StrategyKind.GREEDY,
    Urgency.LOW: StrategyKind.TWAP,
}


def strategy_for(name: str | None, urgency: str | None) -> str | None:
    """The named strategy, else the default for the parent's urgency.

    ``high``: take what is there now at the lowest all-in cost (``optimal``); ``normal`` (or
    none): ``greedy``; ``low``: slice over the scenario's TWAP horizon (``twap``).
    """
    if name:
        return name
    kind = URGENCY_STRATEGIES.get(str(urgency)) if urgency is not None else None
    return None if kind is None else kind.value


def parse_strategy(name: str | None, destinations: Iterable[str]) -> Strategy:
    """Parse a strategy name; raises ``ValueError`` naming what is wrong (``greedy`` if None)."""
    if not name:
        return Strategy("greedy", StrategyKind.GREEDY)
    head, _, rest = name.partition(":")
    known = f"known: {', '.join(KINDS[:-1])}, direct:<venue>"
    if head not in KINDS:
        raise ValueError(f"unknown strategy {name!r} ({known})")
    kind = StrategyKind(head)
    if kind is StrategyKind.DIRECT:
        if rest not in set(destinations):
            raise ValueError(f"{name!r}: no venue or dark pool named {rest!r}")
        return Strategy(name, kind, venue=rest)
    if not rest:
        return Strategy(name, kind)
    try:
        numbers = [int(part) for part in rest.split(":")]
    except ValueError:
        raise ValueError(f"{name!r}: parameters must be integers") from None
    if kind is StrategyKind.TWAP and len(numbers) <= 2 and all(n > 0 for n in numbers):
        return Strategy(
            name, kind, horizon_ms=numbers[0], slices=numbers[1] if len(numbers) > 1 else 0
        )
    if kind is StrategyKind.POV and len(numbers) == 1 and 0 < numbers[0] < 100:
        return Strategy(name, kind, rate=numbers[0] / 100)
    raise ValueError(f"{name!r}: expected twap:<horizon_ms>[:<slices>] or pov:<percent 1-99>")


class FillRates:
    """Fill rates per venue learned from the router's own children (a Beta prior, updated by the
    filled fraction of every child), shared by every parent of the router."""

    def __init__(self, prior: float, weight: float = 2.0) -> None:
        if not 0.0 < prior <= 1.0:
            raise ValueError(f"prior: must be in (0, 1], got {prior}")
        self.prior = prior
        self._weight = weight
        self._counts: dict[str, tuple[float, float]] = {}

    def rate(self, venue: str) -> float:
        filled, missed = self._counts.get(
            venue, (self.prior * self._weight, (1 - self.prior) * self._weight)
        )
        return filled / (filled + missed)

    def update(self, venue: str, sent: int, filled: int) -> None:
        if sent <= 0:
            return
        fraction = min(1.0, filled / sent)
        a, b = self._counts.get(venue, (self.prior * self._weight, (1 - self.prior) * self._weight))
        self._counts[venue] = (a + fraction, b + 1.0 - fraction)

    def as_dict(self) -> dict[str, float]:
        return {venue: round(self.rate(venue), 4) for venue in self._counts}


@dataclass(frozen=True, slots=True)
class ChildPlan:
    """One child: an IOC ``limit`` order, or a ``midpoint`` probe capped at ``limit_price``."""

    venue: str
    qty: int
    limit_price: int | None
    order_type: OrderType
    kind: str
    reason: str


@dataclass(frozen=True, slots=True)
class Pool:
    """A dark pool the router can only probe (it shows nothing)."""

    name: str
    min_qty: int = 0


@dataclass(frozen=True, slots=True)
class WaveInput:
    """What the router knows when it plans a wave for ``need`` shares of one parent."""

    side: Side
    need: int
    lit: Sequence[VenueLevel]
    dark: Sequence[VenueLevel]  # indicated (IOI) dark levels, kind "dark"
    probe: Sequence[Pool]  # pegged pools it may probe in this wave
    limit_price: int | None
    probe_share: float
    first_wave: bool


def protection_limit(
    side: Side, limit_price: int | None, ref: int | None, collar_bps: int, tick: int | None = None
) -> int | None:
    """A parent's limit: its own, or for a market order a collar of ``collar_bps`` through the far
    touch ``ref`` on the tick grid (``tick``: the symbol's Rule 612 increment, a half-penny for a
    tick-constrained stock under the 2024 amendments; ``None``: the 2005 grid at ``ref``);
    ``None`` if there is neither."""
    if limit_price is not None:
        return limit_price
    if ref is None:
        return None
    collar = ref * collar_bps // 10_000
    tick = tick or tick_size(ref)
    if side is Side.BUY:
        return round_to_tick(ref + collar, tick, side_up=False)
    return max(tick, round_to_tick(ref - collar, tick, side_up=True))


def twap_target(qty: int, elapsed_ns: int, horizon_ns: int, slices: int) -> int:
    """Cumulative shares a TWAP may have executed ``elapsed_ns`` after it started.

    Slice ``k`` (0-based) opens at ``k * horizon / slices`` and allows ``qty * (k + 1) // slices``.
    """
    if elapsed_ns >= horizon_ns:
        return qty
    opened = min(slices, elapsed_ns * slices // horizon_ns + 1)
    return qty * opened // slices


@dataclass(frozen=True, slots=True)
class SliceStep:
    """A time-sliced parent now: cumulative shares allowed, and when to look again (``None``: the
    horizon is over)."""

    target: int
    next_in_ns: int | None


def schedule(
    strategy: Strategy, cfg: SorConfig, qty: int, elapsed_ns: int, others: int
) -> SliceStep:
    """TWAP: the slices open so far; POV: ``rate`` of the ``others`` volume traded since arrival."""
    if strategy.kind is StrategyKind.TWAP:
        horizon_ns = (strategy.horizon_ms or cfg.twap_horizon_ms) * 1_000_000
        slices = strategy.slices or cfg.twap_slices
        target = twap_target(qty, elapsed_ns, horizon_ns, slices)
        interval_ns = horizon_ns // slices
    else:
        horizon_ns = cfg.pov_horizon_ms * 1_000_000
        target = pov_target(qty, others, strategy.rate or cfg.pov_rate)
        interval_ns = cfg.pov_interval_ms * 1_000_000
    if elapsed_ns >= horizon_ns:
        return SliceStep(target, None)
    return SliceStep(target, min(interval_ns - elapsed_ns % interval_ns, horizon_ns - elapsed_ns))


def pov_target(qty: int, market_volume: int, rate: float) -> int:
    """Shares a POV parent may have executed so that it is ``rate`` of all volume since it began
    (its own included): ``rate / (1 - rate)`` times the other participants' volume."""
    return min(qty, int(market_volume * rate / (1.0 - rate)))


def allocate_min_impact(
    side: Side,
    qty: int,
    lit: Sequence[VenueLevel],
    dark: Sequence[VenueLevel],
    limit_price: int | None,
) -> VenueAllocation:
    """The dark part of a dark-first allocation: never at a worse price than lit it skips.

    Plans the cheapest lit-only fill of ``qty`` (all-in prices), then walks the dark levels
    cheapest first; each dark share displaces the most expensive lit share of that plan and is
    taken only if its all-in price is no worse. Dark shares beyond what lit can fill are taken
    within ``limit_price`` (they skip no lit liquidity). Returns the dark children only; the lit
    remainder is planned after they report, from the quotes as they are then.
    """
    sign = side.sign
    within = [
        lvl
        for lvl in lit
        if lvl.qty > 0 and (limit_price is None or lvl.price * sign <= limit_price * sign)
    ]
    lit_costs: list[list[int]] = []  # [all-in rank, shares], cheapest first
    left = qty
    for lvl in sorted(within, key=lambda lvl: all_in_price(side, lvl) * sign):
        if left == 0:
            break
        take = min(lvl.qty, left)
        lit_costs.append([all_in_price(side, lvl) * sign, take])
        left -= take
    shortfall = left  # shares lit cannot fill at all
    chosen: list[VenueLevel] = []
    for lvl in sorted(
        (
            d
            for d in dark
            if d.qty > 0 and (limit_price is None or d.price * sign <= limit_price * sign)
        ),
        key=lambda d: (all_in_price(side, d) * sign, d.latency_ns, d.venue, d.price * sign),
    ):
        rank = all_in_price(side, lvl) * sign
        taken = min(lvl.qty, shortfall)
        shortfall -= taken
        while taken < lvl.qty and lit_costs and lit_costs[-1][0] >= rank:
            step = min(lvl.qty - taken, lit_costs[-1][1])
            taken += step
            lit_costs[-1][1] -= step
            if lit_costs[-1][1] == 0:
                lit_costs.pop()
        if taken == 0:
            break  # later dark levels are no cheaper: nothing more displaces lit
        chosen.append(
            VenueLevel(lvl.venue, lvl.price, taken, lvl.latency_ns, lvl.kind, lvl.fee_per_share)
        )
    total = sum(lvl.qty for lvl in chosen)
    if total == 0:
        return VenueAllocation((), 0, qty, 0, None)
    dark_only = allocate_optimal(side, total, chosen, limit_price)
    return VenueAllocation(
        dark_only.children,
        total,
        qty - total,
        dark_only.expected_cost,
        dark_only.expected_vwap_micros,
    )


def plan_wave(strategy: Strategy, wave: WaveInput, rates: FillRates) -> list[ChildPlan]:
    """The children of the next wave for ``strategy`` (``twap``/``pov`` slices use ``optimal``)."""
    match strategy.kind:
        case StrategyKind.DIRECT:
            return _plan_direct(strategy, wave)
        case StrategyKind.MIN_IMPACT:
            return _plan_min_impact(wave)
        case StrategyKind.FILL_AWARE:
            return _plan_fill_aware(wave, rates)
        case StrategyKind.GREEDY | StrategyKind.OPTIMAL:
            return _plan_sweep(strategy.kind.value, wave)
        case _:  # time slices (twap, pov) are swept optimally
            return _plan_sweep(f"{strategy.kind}/optimal", wave)


def _probes(wave: WaveInput, qty_for: dict[str, int], cap: int | None, why: str) -> list[ChildPlan]:
    return [
        ChildPlan(pool.name, qty_for[pool.name], cap, OrderType.MIDPOINT, "dark", why)
        for pool in wave.probe
        if qty_for.get(pool.name, 0) >= max(1, pool.min_qty)
    ]


def _children(allocation: VenueAllocation, kinds: dict[str, str], label: str) -> list[ChildPlan]:
    return [
        ChildPlan(
            c.venue,
            c.qty,
            c.limit_price,
            OrderType.LIMIT,
            kinds.get(c.venue, "lit"),
            f"{label}: {c.levels} level(s) shown",
        )
        for c in allocation.children
    ]


def _kinds(*groups: Sequence[VenueLevel]) -> dict[str, str]:
    return {lvl.venue: lvl.kind for group in groups for lvl in group}


def _plan_sweep(label: str, wave: WaveInput) -> list[ChildPlan]:
    need = wave.need
    plans: list[ChildPlan] = []
    if wave.first_wave and wave.probe and wave.probe_share > 0:
        per_pool = int(need * wave.probe_share) // len(wave.probe)
        plans = _probes(
            wave,
            {p.name: per_pool for p in wave.probe},
            wave.limit_price,
            f"{label}: dark midpoint probe",
        )
        need -= sum(p.qty for p in plans)
    if need > 0:
        allocate = allocate_greedy if label == "greedy" else allocate_optimal
        allocation = allocate(wave.side, need, [*wave.lit, *wave.dark], wave.limit_price)
        plans += _children(allocation, _kinds(wave.lit, wave.dark), label)
    return plans


def _best_lit(wave: WaveInput) -> int | None:
    prices = [lvl.price * wave.side.sign for lvl in wave.lit if lvl.qty > 0]
    return min(prices) * wave.side.sign if prices else None


def _plan_min_impact(wave: WaveInput) -> list[ChildPlan]:
    """Dark first: indicated dark levels that beat the lit they skip, and one midpoint probe per
    pegged pool capped at the best lit price; lit only once the dark has nothing more to give."""
    dark = allocate_min_impact(wave.side, wave.need, wave.lit, wave.dark, wave.limit_price)
    plans = _children(dark, _kinds(wave.dark), "min-impact: dark ahead of lit")
    left = wave.need - dark.allocated_qty
    if wave.probe and left > 0:
        best_lit = _best_lit(wave)
        cap = wave.limit_price if best_lit is None else best_lit
        if wave.limit_price is not None and best_lit is not None:
            cap = min(best_lit * wave.side.sign, wave.limit_price * wave.side.sign) * wave.side.sign
        per_pool = left // len(wave.probe)
        plans += _probes(
            wave,
            {p.name: per_pool for p in wave.probe},
            cap,
            "min-impact: midpoint probe capped at the best lit price",
        )
    if plans:
        return plans
    allocation = allocate_optimal(wave.side, wave.need, [*wave.lit, *wave.dark], wave.limit_price)
    return _children(allocation, _kinds(wave.lit, wave.dark), "min-impact: lit after dark")


def _plan_fill_aware(wave: WaveInput, rates: FillRates) -> list[ChildPlan]:
    """Optimal over lit depth plus dark indications discounted by each pool's learned fill rate;
    every wave probes pegged pools with a share of the need weighted by their fill rates."""
    need = wave.need
    plans: list[ChildPlan] = []
    if wave.probe and wave.probe_share > 0:
        base = need * wave.probe_share / len(wave.probe)
        for pool in wave.probe:
            rate = rates.rate(pool.name)
            qty = min(need // len(wave.probe), int(base * rate / rates.prior))
            why = f"fill-aware: midpoint probe, learned fill rate {rate:.2f}"
            plans += _probes(
                WaveInput(wave.side, need, (), (), [pool], None, 1.0, True),
                {pool.name: qty},
                wave.limit_price,
                why,
            )
        need -= sum(p.qty for p in plans)
    if need <= 0:
        return plans
    expected = [
        VenueLevel(
            d.venue,
            d.price,
            int(d.qty * rates.rate(d.venue)),
            d.latency_ns,
            d.kind,
            d.fee_per_share,
        )
        for d in wave.dark
    ]
    allocation = allocate_optimal(wave.side, need, [*wave.lit, *expected], wave.limit_price)
    return plans + _children(allocation, _kinds(wave.lit, wave.dark), "fill-aware")


def _plan_direct(strategy: Strategy, wave: WaveInput) -> list[ChildPlan]:
    venue = strategy.venue
    pools = [p for p in wave.probe if p.name == venue]
    if pools:
        return _probes(
            WaveInput(wave.side, wave.need, (), (), pools, wave.limit_price, 1.0, True),
            {venue: wave.need} if venue else {},
            wave.limit_price,
            f"{strategy.name}: midpoint",
        )
    levels = [lvl for lvl in (*wave.lit, *wave.dark) if lvl.venue == venue]
    allocation = allocate_optimal(wave.side, wave.need, levels, wave.limit_price)
    return _children(allocation, _kinds(levels), strategy.name)
