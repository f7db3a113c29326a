"""``flowlab bench --scaling``: how each dimension grows the scenario, and which labs run.

The default scenario, counted by hand from config/scenarios/default.toml: three symbols (ACME,
BOLT, CRUX), three lit venues, one dark pool, three wholesalers, 20 noise traders sending 20
orders/s in all, 3 informed traders sending 4 orders/s in all, six institutions splitting
metaorders (in the agents process); 7 fixed processes (recorder, SIP, value feed, auction house,
SOR, broker, agents) + 3 + 1 + 3 = 14, the README's 15 with the injector.
"""

from __future__ import annotations

import msgspec
import pytest

from config.scenario import ScenarioError, load_scenario, scenario_from_dict
from orchestration.bench.load import LoadPoint, RegimeLoad
from orchestration.bench.scaling import (
    ScalePoint,
    ScalingResult,
    background_rate,
    format_scaling,
    plan,
    process_count,
    scaled,
)

# Six institutions, each a cycle of a 0.5 s pause and E[children] children 0.2 s apart, with
# P(children >= l) = l^-1.4 capped at 2,000 children: E[children] = sum of l^-1.4, l = 1..2000
# (2.986...), so 6 x 2.986 / (0.5 + 0.2 x 2.986) = 16.33 children a second.
E_CHILDREN = sum(level**-1.4 for level in range(1, 2001))
INSTITUTIONS_PER_S = 6 * E_CHILDREN / (0.5 + 0.2 * E_CHILDREN)


def test_the_default_scenario_is_fourteen_processes_and_its_background_rate() -> None:
    base = load_scenario()
    assert process_count(base) == 14
    assert pytest.approx(16.33, abs=0.01) == INSTITUTIONS_PER_S
    assert background_rate(base) == pytest.approx(24.0 + INSTITUTIONS_PER_S)


def test_symbols_are_copied_under_new_names_at_the_same_price() -> None:
    base = load_scenario()
    grown = scaled(base, "symbols", 4)
    names = [s.symbol for s in grown.symbols]
    assert names[:3] == ["ACME", "BOLT", "CRUX"]
    copies = [f"{name}{k}" for k in (2, 3, 4) for name in ("ACME", "BOLT", "CRUX")]
    assert names[3:] == copies  # ACME2, BOLT2, CRUX2, ACME3, ...
    prices = {s.symbol: s.price for s in grown.symbols}
    assert prices["BOLT4"] == prices["BOLT"]
    # nothing else grows
    assert process_count(grown) == 14
    assert background_rate(grown) == pytest.approx(24.0 + INSTITUTIONS_PER_S)


def test_venues_and_wholesalers_are_copied_with_their_terms() -> None:
    base = load_scenario()
    venues = scaled(base, "venues", 2)
    assert [v.name for v in venues.venues] == [
        "lit-a",
        "lit-b",
        "lit-c",
        "lit-a2",
        "lit-b2",
        "lit-c2",
    ]
    assert venues.venues[5].taker_fee == base.venues[2].taker_fee  # lit-c2 inverted like lit-c
    # default.toml puts lit-c 1.5 ms away both ways; its copy is as far
    far = {(link.src, link.dst): link.base_us for link in venues.latency.links}
    assert far[("*", "lit-c2")] == far[("lit-c2", "*")] == far[("*", "lit-c")] == 1500
    assert process_count(venues) == 17 and len(venues.darkpools) == 1
    wholesalers = scaled(base, "wholesalers", 4)
    assert len(wholesalers.wholesalers) == 12 and process_count(wholesalers) == 23
    by_name = {w.name: w for w in wholesalers.wholesalers}
    assert by_name["wh-b3"].pfof_per_share == by_name["wh-b"].pfof_per_share
    # the grown scenario is a valid one: it loads again from its own fields
    again = scenario_from_dict(msgspec.to_builtins(wholesalers))
    assert [w.name for w in again.wholesalers] == [w.name for w in wholesalers.wholesalers]


def test_agents_multiply_the_background_rates_and_counts() -> None:
    base = load_scenario()
    grown = scaled(base, "agents", 4)
    assert grown.agents.noise.traders == 80 and grown.agents.noise.rate_per_s == 80.0
    assert grown.agents.informed.traders == 12 and grown.agents.informed.rate_per_s == 16.0
    assert grown.agents.institutional.traders == 24  # six institutions in default.toml
    assert background_rate(grown) == pytest.approx(96.0 + 4 * INSTITUTIONS_PER_S)
    assert process_count(grown) == 14


def test_factor_one_is_the_scenario_itself_and_bad_requests_are_refused() -> None:
    base = load_scenario()
    assert scaled(base, "venues", 1) is base
    with pytest.raises(ValueError, match="unknown dimension 'venus'"):
        scaled(base, "venus", 2)
    with pytest.raises(ValueError, match="factor must be >= 1"):
        scaled(base, "symbols", 0)
    # 24 wholesalers: the broker's 5% floor each would leave no flow to split — refused by the
    # scenario's own check, named, as a user error (ScenarioError), not a traceback
    with pytest.raises(ScenarioError, match=r"wholesalers x8: .*no flow to split"):
        scaled(base, "wholesalers", 8)


def test_the_plan_measures_the_reference_once() -> None:
    assert plan(["symbols", "agents"], [4, 1, 2, 2]) == [
        ("base", 1),
        ("symbols", 2),
        ("symbols", 4),
        ("agents", 2),
        ("agents", 4),
    ]
    with pytest.raises(ValueError, match="unknown dimension"):
        plan(["sym"], [1, 2])
    assert plan(["venues", "venues"], [2]) == [("base", 1), ("venues", 2)]


def _point(cpu: float, idle: float) -> LoadPoint:
    """A load point whose every process spent ``cpu`` ms per order (``cpu`` - 0.5 net)."""
    regime = RegimeLoad(orders=10, terminal=10, fill_rate=1.0, tte_p50_ms=2.0, tte_p99_ms=9.0)
    return LoadPoint(
        rate_per_s=100,
        orders=20,
        accepted=20,
        terminal=20,
        sent_per_s=100.0,
        received_per_s=100.0,
        state="complete",
        detail="",
        ready_s=3.0,
        regimes={"pfof": regime, "auction": regime},
        services=[],
        rss_total_mib=None,
        pss_total_mib=400.0,
        cpu_ms_per_order=cpu,
        order_cpu_ms_per_order=cpu - 0.5,
        messages_per_order=50.0,
        idle_cores=idle,
    )


def test_the_table_gives_cpu_per_order_against_the_reference() -> None:
    def at(dimension: str, factor: int, cpu: float) -> ScalePoint:
        return ScalePoint(
            dimension=dimension,
            factor=factor,
            processes=14,
            symbols=3,
            venues=3,
            wholesalers=3,
            background_per_s=24.0,
            point=_point(cpu, 0.5),
        )

    result = ScalingResult(
        date="",
        scenario="default",
        security="curve",
        cpus=2,
        python="3.11",
        rate_per_s=100,
        orders=20,
        points=[at("base", 1, 1.5), at("venues", 2, 2.25)],
        seconds=1.0,
    )
    lines = format_scaling(result).splitlines()
    assert lines[0].split()[0] == "grown"
    assert lines[2].split()[0] == "x1"
    # 2.25 / 1.5 = 1.5 times the reference's CPU per order
    assert lines[3].startswith("venues x2") and "1.50x" in lines[3]
