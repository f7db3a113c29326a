"""The default market left alone (no injected orders) behaves believably."""

from __future__ import annotations

import asyncio
from pathlib import Path

from config.scenario import load_scenario
from orchestration.launcher import LabSupervisor
from orchestration.market_quality import market_quality
from orchestration.tape import build_tables

OBSERVE_S = 8.0


def test_default_market_left_alone_quotes_trades_and_tracks_value(tmp_path: Path) -> None:
    scenario = load_scenario()

    async def observe() -> tuple[LabSupervisor, dict[str, int | None]]:
        lab = LabSupervisor(scenario, runs_root=tmp_path)
        try:
            await lab.start()
            await lab.guard(asyncio.sleep(OBSERVE_S))  # watching the market for a fixed time
        finally:
            codes = await lab.stop()
        return lab, codes

    lab, codes = asyncio.run(asyncio.wait_for(observe(), 120))
    table = market_quality(build_tables(lab.run_dir, lab.config))

    assert all(code == 0 for code in codes.values()), codes
    nbbo = table[table["venue"] == "NBBO"].set_index("symbol")
    assert set(nbbo.index) == set(scenario.symbol_names)
    assert (nbbo["nbbo_updates_per_s"] > 2.0).all(), nbbo["nbbo_updates_per_s"]
    assert nbbo["quoted_spread_bps"].between(0.3, 25.0).all(), nbbo["quoted_spread_bps"]
    assert (nbbo["locked_crossed_share"] < 0.05).all(), nbbo["locked_crossed_share"]
    assert (nbbo["mid_value_rms_bps"] < 10.0).all(), nbbo["mid_value_rms_bps"]
    lit = table[table["venue"].isin([v.name for v in scenario.venues])]
    traded = lit.groupby("venue")["trades"].sum()
    assert set(traded.index) == {v.name for v in scenario.venues}
    assert (traded > 0).all(), traded
