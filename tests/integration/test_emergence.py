"""Outcomes that must emerge from agents' economics in a live market, not from the code.

Each test runs small labs (real processes) that differ only in the economics under study and
compares what the lab measures.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec

from config.scenario import Scenario, WholesalerSpec, scenario_from_dict
from orchestration.launcher import LabSupervisor
from orchestration.metrics import regime_summary
from orchestration.streams import generate_stream, write_stream
from orchestration.tape import build_tables


def auction_scenario(responders: int) -> Scenario:
    """Four wholesalers; only the first ``responders`` of them answer auction notices."""
    base = {
        "name": f"emergence-{responders}",
        "seed": 11,
        "symbols": [{"symbol": "ACME", "price": "50.00"}, {"symbol": "BOLT", "price": "120.00"}],
        "venues": [{"name": "lit-a"}, {"name": "lit-b"}],
        "broker": {"regimes": ["pfof", "auction"]},
        "agents": {"noise": {"traders": 4, "rate_per_s": 8.0}, "informed": {"traders": 0}},
    }
    scenario = scenario_from_dict(base)
    wholesalers = [
        WholesalerSpec(
            name=f"wh-{i}",
            pfof_per_share="0.0030",
            auction_participation=1.0 if i < responders else 0.0,
        )
        for i in range(4)
    ]
    return msgspec.structs.replace(scenario, wholesalers=wholesalers)


async def run_lab(scenario: Scenario, runs: Path, orders: int, rate: float) -> dict:
    lab = LabSupervisor(scenario, runs_root=runs)
    try:
        await lab.start()
        rows = generate_stream(
            scenario, scenario.broker.regimes, orders=orders, rate_per_s=rate, seed=3
        )
        done = await lab.inject(write_stream(rows, lab.run_dir / "stream.csv"), timeout_s=30)
        assert done.terminal == done.sent == orders
    finally:
        codes = await lab.stop()
    assert all(code == 0 for code in codes.values()), codes
    tables = build_tables(lab.run_dir, lab.config)
    return regime_summary(tables["orders"], tables["fills"])


def test_auction_improvement_grows_with_competing_responders(tmp_path: Path) -> None:
    async def both() -> tuple[dict, dict]:
        one = await run_lab(auction_scenario(1), tmp_path, orders=160, rate=80.0)
        four = await run_lab(auction_scenario(4), tmp_path, orders=160, rate=80.0)
        return one, four

    one, four = asyncio.run(asyncio.wait_for(both(), 180))

    pi_one = one["auction"]["price_improvement_usd_per_share"]
    pi_four = four["auction"]["price_improvement_usd_per_share"]
    assert pi_four > pi_one, (pi_one, pi_four)
    # A lone responder has no one to beat: it bids at the NBBO, so the auction does no better
    # than the PFOF arm of the same run.
    assert pi_one <= one["pfof"]["price_improvement_usd_per_share"] + 1e-9, one
