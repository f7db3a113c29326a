"""Lit market makers widen their quotes with the toxicity they measure, and only then.

Three labs of the background market alone (no retail flow), identical but for two switches:
informed traders who see the value almost exactly (0.2 bps) against market makers whose views
of it are poor (8 bps, half-life 0.3 s) — and whether the makers widen for the
adverse selection their own markouts show (``toxicity_weight``, 2 here: the charge the makers
widen by is conservative — the mean markout less two standard errors over the discounted count
of markouts — and at weight 1 the widening, about 12% in a CI run, is too close to one lab's
run-to-run spread to assert on). What is asserted is what the venues displayed: the quoted
spread on the lit venue over the second half of each run. Each lab runs 24 s: the widening
builds up as markouts accumulate, and at 16 s it was 1.13-1.92x the fixed makers' spread in six
runs once the services read their sockets without a future per receive (2026-12-04; 1.55-1.90x
in three runs before), too close to the 1.15x asserted; at 24 s, 2.5-3.1x in three runs.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from config.scenario import Scenario, scenario_from_dict
from orchestration.launcher import LabSupervisor
from orchestration.tape import build_tables

SECONDS = 24.0
WEIGHT = 2.0  # bps of widening per bp of measured adverse selection


def scenario(informed: int, weight: float) -> Scenario:
    return scenario_from_dict(
        {
            "name": f"lit-toxicity-{informed}-{weight}",
            "seed": 5,
            "symbols": [{"symbol": "ACME", "price": "50.00"}],
            "venues": [{"name": "lit-a"}],
            "wholesalers": [{"name": "wh-a"}],
            "broker": {"regimes": ["pfof"]},
            "agents": {
                "market_makers": {
                    "half_spread_bps": 2.0,
                    "signal_noise_bps": 8.0,
                    "signal_half_life_s": 0.3,
                    "toxicity_weight": weight,
                    "markout_horizon_ms": 500,
                },
                "noise": {"traders": 2, "rate_per_s": 2.0},
                "informed": {
                    "traders": informed,
                    "rate_per_s": 30.0,
                    "signal_noise_bps": 0.2,
                    "threshold_bps": 1.0,
                },
            },
        }
    )


async def quoted_spread_bps(spec: Scenario, runs: Path) -> float:
    """Mean quoted spread on lit-a over the run's second half, in basis points of the mid."""
    lab = LabSupervisor(spec, runs_root=runs)
    try:
        await lab.start()
        await asyncio.sleep(SECONDS)
    finally:
        codes = await lab.stop()
    assert all(code == 0 for code in codes.values()), codes
    quotes = build_tables(lab.run_dir, lab.config)["quotes"].dropna(subset=["bid_px", "ask_px"])
    late = quotes[quotes["ts_ns"] >= quotes["ts_ns"].quantile(0.5)]
    bid = late["bid_px"].astype(float)
    ask = late["ask_px"].astype(float)
    return float(((ask - bid) / ((ask + bid) / 2) * 1e4).mean())


def test_makers_widen_for_measured_toxicity_and_not_otherwise(tmp_path: Path) -> None:
    async def all_three() -> tuple[float, float, float]:
        toxic_widening = await quoted_spread_bps(scenario(4, WEIGHT), tmp_path)
        toxic_fixed = await quoted_spread_bps(scenario(4, 0.0), tmp_path)
        benign_widening = await quoted_spread_bps(scenario(0, WEIGHT), tmp_path)
        return toxic_widening, toxic_fixed, benign_widening

    widening, fixed, benign = asyncio.run(asyncio.wait_for(all_three(), 180))
    spreads = f"toxic+widening {widening:.2f} bps, toxic fixed {fixed:.2f}, benign {benign:.2f}"
    print(spreads)
    # The same toxic flow: makers that learn from their markouts quote wider.
    assert widening > fixed * 1.15, spreads
    # Benign flow teaches no toxicity: the widening makers stay near the fixed ones' width.
    assert benign < widening, spreads
