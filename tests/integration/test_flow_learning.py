"""Lit market makers learn price impact from flow that carries information, live.

One lab of the background market alone (no retail flow): one symbol, one lit venue whose market
maker sees the latent value 0.5 s late and learns from the lit tape's signed flow
(``[agents.market_makers] flow_learning``), and institutions whose every parent takes its side
from the value as it stands now against the NBBO mid (``informed_share = 1``, no noise). The
flow then predicts how the maker's own late view moves over the next half second — the institutions
buy when the value is above the mid, and the maker sees that value half a second later — so the
regression the maker keeps (``services/flow_learning.py``, unit-tested on constructed series)
must find a positive slope, clear of zero by two standard errors, from the tape as the venue
published it: the path venue → tape → agents' flow memory → regression → the maker's beta.
What the maker learned is read from the agents' log at stop, the line each maker writes.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from config.scenario import Scenario, scenario_from_dict
from tests.helpers import market_alone

SECONDS = 40.0
LEARNED = re.compile(
    r"lit-a ACME learned from flow: (\d+) samples, slope (\S+) \(se (\S+)\), beta (\S+) per share"
)


def scenario() -> Scenario:
    return scenario_from_dict(
        {
            "name": "flow-learning",
            "seed": 7,
            "symbols": [{"symbol": "ACME", "price": "50.00"}],
            "venues": [{"name": "lit-a"}],
            "wholesalers": [{"name": "wh-a"}],
            "broker": {"regimes": ["pfof"]},
            "agents": {
                "market_makers": {
                    "signal_delay_ms": 500,
                    "flow_learning": True,
                    "flow_half_life_s": 0.5,
                    "flow_horizon_s": 0.5,
                },
                "noise": {"traders": 2, "rate_per_s": 2.0},
                "informed": {"traders": 0},
                # one-child parents, often: the flow memory holds
                # fresh decisions, each taken on the value as it stood then
                "institutional": {
                    "traders": 4,
                    "child_interval_ms": 50,
                    "pause_ms": 100,
                    "size_alpha": 3.0,
                    "max_children": 1,
                    "informed_share": 1.0,
                    "signal_noise_bps": 0.0,
                },
            },
        }
    )


async def run(runs: Path) -> str:
    lab, codes = await market_alone(scenario(), runs, SECONDS)
    assert all(code == 0 for code in codes.values()), codes
    return (lab.run_dir / "logs" / "agents.log").read_text()


@pytest.mark.timeout(150)
def test_makers_learn_a_positive_impact_from_informed_flow(tmp_path: Path) -> None:
    log = asyncio.run(asyncio.wait_for(run(tmp_path), 130))
    found = LEARNED.search(log)
    assert found, log[-2000:]
    print(found.group(0))
    samples, slope, stderr, beta = found.groups()
    # one sample per flow horizon (0.5 s) once the late view has started: about 2 x SECONDS
    assert int(samples) >= 30, found.group(0)
    assert stderr != "-" and float(slope) > 2 * float(stderr), found.group(0)
    # beta is the slope less two standard errors toward zero (the log prints 3 digits each)
    assert abs(float(beta) - (float(slope) - 2 * float(stderr))) <= 0.01 * float(slope)
    assert float(beta) > 0, found.group(0)
