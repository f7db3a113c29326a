"""The scenario files shipped with the project load and say what their docs say."""

from __future__ import annotations

from pathlib import Path

from config.scenario import load_scenario
from protocol.money import to_micros

ROOT = Path(__file__).resolve().parents[2]


def test_seed_pfof_scenario_has_the_mini_projects_destinations() -> None:
    scenario = load_scenario(ROOT / "scenarios" / "seed-pfof.toml")

    makers = {w.name: w for w in scenario.wholesalers}
    assert [v.name for v in scenario.venues] == ["lit"]
    assert {
        n: (w.fixed_spread_bps, to_micros(w.pfof_per_share), w.fill_rate) for n, w in makers.items()
    } == {
        "mm-1": (1.0, 5_000, 0.98),
        "mm-2": (1.2, 4_000, 0.97),
        "mm-3": (0.8, 3_000, 0.96),
    }
    assert all(w.pricing == "fixed_spread" for w in makers.values())
    speeds = {link.dst: link.base_us for link in scenario.latency.links if link.src == "broker"}
    assert speeds == {"mm-1": 5_000, "mm-2": 3_000, "mm-3": 2_000}
    assert scenario.broker.regimes == ["pfof", "weighted", "balanced", "best-ex"]
    assert scenario.broker.execution_weight == 1.0
    assert scenario.broker.balanced_execution_weight == 0.7  # the seed's 0.7 x cost - 0.3 x PFOF


def test_every_shipped_scenario_loads() -> None:
    files = [
        *(ROOT / "scenarios").glob("*.toml"),
        ROOT / "config" / "scenarios" / "default.toml",
    ]

    for path in files:
        assert load_scenario(path).name
