"""The economics as the live lab plays them: competition for PFOF flow.

In the default scenario the broker's scorecard demotes a wholesaler and the wholesaler wins its
flow back (read from the broker's own ``RoutingScorecard`` messages on the tape), and every
wholesaler gets some of the PFOF flow.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from config.scenario import load_scenario
from tests.helpers import run_stream

ROOT = Path(__file__).resolve().parents[2]


def test_default_scorecard_demotes_and_a_wholesaler_wins_its_flow_back(tmp_path: Path) -> None:
    scenario = load_scenario()
    tables = asyncio.run(asyncio.wait_for(run_stream(scenario, tmp_path, 1200, 100.0, 3), 240))
    cards = tables["scorecards"].sort_values(["review", "wholesaler"])
    assert cards["review"].nunique() >= 8
    assert cards["demoted"].any(), "no wholesaler was ever demoted"
    floor = scenario.broker.scorecard_floor
    regained = []
    for name, rows in cards.groupby("wholesaler"):
        demoted = rows["demoted"].to_numpy()
        share = rows["flow_share"].to_numpy()
        first = int(np.argmax(demoted)) if demoted.any() else None
        if first is not None and ((~demoted[first:]) & (share[first:] > floor + 1e-9)).any():
            regained.append(name)
    assert regained, cards[["review", "wholesaler", "demoted", "flow_share"]].to_string()
    # Every order of PFOF flow went to some wholesaler, and flow was not given to one only.
    pfof = tables["routes"]
    routed = pfof[(pfof["regime"] == "pfof") & pfof["destination"].str.startswith("wh-")]
    assert routed["destination"].nunique() == len(scenario.wholesalers)
