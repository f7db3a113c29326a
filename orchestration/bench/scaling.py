"""``flowlab bench --scaling``: how the lab's cost grows with the market's size (issue 15, item 5).

One dimension at a time, the scenario is grown by a factor (x1 / x2 / x4 by default) and one
fresh lab of it runs a retail stream at one rate, measured exactly as ``bench --load`` measures
a rate (``orchestration.bench.load.measure_rate``: ready time, the idle market's CPU, CPU per
order net of it, messages per order, memory, time to execution, fills, the run's state):

- ``symbols``: every symbol copied under a new name (``ACME`` -> ``ACME2``, ...), same price.
  Each lit venue runs a market maker per symbol, so quotes and market data grow with it;
- ``venues``: every lit venue copied (``lit-a`` -> ``lit-a2``, same fees): one more process and
  one more market maker per symbol each;
- ``wholesalers``: every wholesaler copied (``wh-a`` -> ``wh-a2``, same terms; a copy starts
  without a warm start): more processes contesting the broker's flow and bidding in auctions;
- ``agents``: the background traders' arrival rates (noise and informed, and their counts)
  and the institutions' count multiplied: more background orders, trades and market data per
  second.

The x1 lab is measured once and is the reference of every dimension; the retail stream has the
same rate, size and seed in every lab (with more symbols it spreads over the copies too, as a
market with more names would). Ratios against x1 are read within one run of the
bench (machines are noisy; docs/BENCHMARKS.md).
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import msgspec
import numpy as np

from config.scenario import Scenario, ScenarioError, SecurityMode, scenario_from_dict
from orchestration.bench.load import (
    LoadPoint,
    RegimeLoad,
    _say,
    in_runs_root,
    load_scenario_for,
    measure_rate,
    write_figures,
)

DIMENSIONS = ("symbols", "venues", "wholesalers", "agents")
FACTORS = (1, 2, 4)
RATE = 500
ORDERS = 5_000
QUICK_FACTORS = (1, 2)
QUICK_RATE = 100
QUICK_ORDERS = 200


class ScalePoint(msgspec.Struct, frozen=True, kw_only=True):
    dimension: str  # "base" for the x1 lab every dimension shares
    factor: int
    processes: int  # the lab's service processes (the injector not counted)
    symbols: int
    venues: int
    wholesalers: int
    background_per_s: float  # the background traders' orders per second (noise + informed)
    point: LoadPoint


class ScalingResult(msgspec.Struct, frozen=True, kw_only=True):
    date: str
    scenario: str
    security: str
    cpus: int | None
    python: str
    rate_per_s: int
    orders: int
    points: list[ScalePoint]
    seconds: float


def _copy_name(name: str, k: int) -> str:
    return f"{name}{k}"


def scaled(scenario: Scenario, dimension: str, factor: int) -> Scenario:
    """``scenario`` grown ``factor`` times along ``dimension`` (``factor`` 1: itself). A copied
    venue or wholesaler keeps everything the scenario says of it by name: its terms, the
    latency links naming it and its ``[limits]`` bound. The result is checked as a loaded
    scenario is (``ScenarioError`` naming what is wrong, e.g. a copy's name already taken)."""
    if dimension not in DIMENSIONS:
        raise ScenarioError(f"unknown dimension {dimension!r}; one of {', '.join(DIMENSIONS)}")
    if factor < 1:
        raise ScenarioError(f"factor must be >= 1, got {factor}")
    if factor == 1:
        return scenario
    source = f"{scenario.name}, {dimension} x{factor}"
    try:
        grown = _grow(scenario, dimension, factor)
        # every check a loaded scenario passes (names, patterns, flow to split, fee caps)
        return scenario_from_dict(msgspec.to_builtins(grown), source)
    except ScenarioError:
        raise
    except (ValueError, msgspec.ValidationError) as exc:  # a check run while growing it
        raise ScenarioError(f"{source}: {exc}") from None


def _grow(scenario: Scenario, dimension: str, factor: int) -> Scenario:
    copies = range(2, factor + 1)
    replace = msgspec.structs.replace
    if dimension == "symbols":
        extra = [
            replace(s, symbol=_copy_name(s.symbol, k)) for k in copies for s in scenario.symbols
        ]
        grown = replace(scenario, symbols=[*scenario.symbols, *extra])
    elif dimension in ("venues", "wholesalers"):
        specs = scenario.venues if dimension == "venues" else scenario.wholesalers
        renamed = {
            _copy_name(spec.name, k): spec.name for k in copies for spec in specs
        }  # copy -> original
        added = [replace(spec, name=_copy_name(spec.name, k)) for k in copies for spec in specs]
        grown = replace(
            scenario,
            **{dimension: [*specs, *added]},
            latency=replace(
                scenario.latency,
                links=[
                    *scenario.latency.links,
                    *(
                        replace(
                            link,
                            src=copy if link.src == original else link.src,
                            dst=copy if link.dst == original else link.dst,
                        )
                        for copy, original in renamed.items()
                        for link in scenario.latency.links
                        if original in (link.src, link.dst)
                    ),
                ],
            ),
            limits=replace(
                scenario.limits,
                services={
                    **scenario.limits.services,
                    **{
                        copy: scenario.limits.services[original]
                        for copy, original in renamed.items()
                        if original in scenario.limits.services
                    },
                },
            ),
        )
    else:
        agents = scenario.agents
        noise, informed, institutional = agents.noise, agents.informed, agents.institutional
        grown = replace(
            scenario,
            agents=replace(
                agents,
                noise=replace(
                    noise, traders=noise.traders * factor, rate_per_s=noise.rate_per_s * factor
                ),
                informed=replace(
                    informed,
                    traders=informed.traders * factor,
                    rate_per_s=informed.rate_per_s * factor,
                ),
                institutional=replace(institutional, traders=institutional.traders * factor),
            ),
        )
    return grown


def background_rate(scenario: Scenario) -> float:
    """The background traders' orders per second, 0 where they are off: noise and informed
    traders' configured rates, and the institutions' expected children per second (a renewal
    cycle: a pause, then ``E[children]`` children ``child_interval_ms`` apart, with
    ``E[children] = sum(l^-alpha, l = 1..max_children)`` for ``P(children >= l) = l^-alpha``)."""
    noise, informed = scenario.agents.noise, scenario.agents.informed
    institutional = scenario.agents.institutional
    rate = (noise.rate_per_s if noise.traders else 0.0) + (
        informed.rate_per_s if informed.traders else 0.0
    )
    if institutional.traders:
        levels = np.arange(1, institutional.max_children + 1, dtype=float)
        children = float(np.sum(levels**-institutional.size_alpha))
        cycle_s = (institutional.pause_ms + children * institutional.child_interval_ms) / 1000.0
        rate += institutional.traders * children / cycle_s
    return rate


def process_count(scenario: Scenario) -> int:
    """The lab's service processes: recorder, SIP, value feed, auction house, SOR, broker and
    agents, and one per lit venue, dark pool and wholesaler (the injector not counted)."""
    return 7 + len(scenario.venues) + len(scenario.darkpools) + len(scenario.wholesalers)


def plan(dimensions: list[str], factors: list[int]) -> list[tuple[str, int]]:
    """The labs to run: the x1 reference once, then each dimension (once, in the order given)
    at each factor above 1."""
    unknown = [d for d in dimensions if d not in DIMENSIONS]
    if unknown:
        raise ScenarioError(f"unknown dimension {unknown[0]!r}; one of {', '.join(DIMENSIONS)}")
    if any(f < 1 for f in factors):
        raise ScenarioError(f"factors must be >= 1, got {factors}")
    grown = sorted({f for f in factors if f > 1})
    return [("base", 1)] + [(d, f) for d in dict.fromkeys(dimensions) for f in grown]


async def run_scaling(
    scenario: Scenario,
    dimensions: list[str],
    factors: list[int],
    rate: int,
    orders: int,
    *,
    root: Path,
) -> ScalingResult:
    started = time.perf_counter()
    points = []
    # every grown scenario built (and checked) before the first lab: a bad one fails at once
    labs = [
        (d, f, scenario if d == "base" else scaled(scenario, d, f))
        for d, f in plan(dimensions, factors)
    ]
    for dimension, factor, grown in labs:
        _say(f"scaling: {dimension} x{factor}: {orders:,} orders at {rate:,}/s...")
        point = await measure_rate(grown, rate, orders, root)
        _say(f"scaling: {dimension} x{factor} done: {point.state}")
        points.append(
            ScalePoint(
                dimension=dimension,
                factor=factor,
                processes=process_count(grown),
                symbols=len(grown.symbols),
                venues=len(grown.venues),
                wholesalers=len(grown.wholesalers),
                background_per_s=background_rate(grown),
                point=point,
            )
        )
    return ScalingResult(
        date=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        scenario=scenario.name,
        security=scenario.security.mode.value,
        cpus=os.cpu_count(),
        python=platform.python_version(),
        rate_per_s=rate,
        orders=orders,
        points=points,
        seconds=time.perf_counter() - started,
    )


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _ratio(value: float | None, base: float | None) -> str:
    return "-" if value is None or not base else f"{value / base:.2f}x"


def _tte(regime: RegimeLoad | None) -> str:
    if regime is None:
        return "-"
    return f"{_num(regime.tte_p50_ms, ',.1f')} / {_num(regime.tte_p99_ms, ',.1f')}"


def _fill(regime: RegimeLoad | None) -> str:
    return "-" if regime is None or regime.fill_rate is None else f"{100 * regime.fill_rate:.1f}"


def format_scaling(result: ScalingResult) -> str:
    """One row per lab; every process's CPU per order (the background market's included: what
    the lab costs per retail order at this rate) also as a ratio to the x1 lab's."""
    head = (
        "grown",
        "procs",
        "sym/ven/wh",
        "bg/s",
        "state",
        "ready s",
        "idle cores",
        "CPU ms/order all / net",
        "all vs x1",
        "msgs/order",
        "pfof p50/p99 ms",
        "auction p50/p99 ms",
        "fill % pfof/auction",
        "PSS MiB",
    )
    base = next((p.point for p in result.points if p.dimension == "base"), None)
    rows = [head]
    for s in result.points:
        p = s.point
        pfof, auction = p.regimes.get("pfof"), p.regimes.get("auction")

        rows.append(
            (
                "x1" if s.dimension == "base" else f"{s.dimension} x{s.factor}",
                str(s.processes),
                f"{s.symbols}/{s.venues}/{s.wholesalers}",
                f"{s.background_per_s:g}",
                p.state,
                f"{p.ready_s:.1f}",
                _num(p.idle_cores, ".2f"),
                f"{_num(p.cpu_ms_per_order, '.2f')} / {_num(p.order_cpu_ms_per_order, '.2f')}",
                ""
                if base is None or s.dimension == "base"
                else _ratio(p.cpu_ms_per_order, base.cpu_ms_per_order),
                _num(p.messages_per_order, ".0f"),
                _tte(pfof),
                _tte(auction),
                f"{_fill(pfof)} / {_fill(auction)}",
                _num(p.pss_total_mib, ",.0f"),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for s in result.points:
        if s.point.detail:
            grown = "x1" if s.dimension == "base" else f"{s.dimension} x{s.factor}"
            lines.append(f"{grown}: {s.point.detail}")
    return "\n".join(lines)


def run_scaling_bench(
    scenario: Scenario,
    *,
    quick: bool,
    dimensions: list[str] | None,
    factors: list[int] | None,
    rate: int | None,
    orders: int | None,
    out: Path | None,
    security: SecurityMode,
    keep_runs: Path | None = None,
) -> int:
    """``flowlab bench --scaling``: run the labs, print the table, write ``scaling.json``; exit
    0 when every lab ran (whatever its state: a figure), 1 when one could not be measured."""
    scenario = load_scenario_for(scenario, security)
    chosen = list(dimensions or DIMENSIONS)
    grown = list(factors or (QUICK_FACTORS if quick else FACTORS))
    r = rate or (QUICK_RATE if quick else RATE)
    n = orders or (QUICK_ORDERS if quick else ORDERS)
    result = in_runs_root(
        keep_runs,
        "flowlab-scaling-",
        lambda root: run_scaling(scenario, chosen, grown, r, n, root=root),
    )
    print(
        f"flowlab bench --scaling: scenario {result.scenario!r}, {n:,} orders at {r:,}/s per "
        f"lab, [security] mode = {result.security}, {result.cpus} CPUs"
    )
    print(format_scaling(result))
    path = write_figures(result, out, "scaling.json")
    print(f"scaling bench took {result.seconds:.1f} s; figures in {path}")
    return 0 if all(s.point.accepted for s in result.points) else 1
