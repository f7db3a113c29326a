"""The economics as the live lab plays them: the null case, and competition for PFOF flow.

- Under ``scenarios/equal-channels.toml`` (no PFOF, the same three dealers in both channels, no
  private signals, no informed flow) the lab must find no difference between PFOF and the
  auction. The interval is computed here from the orders and fills, not by the report code.
- In the default scenario the broker's scorecard demotes a wholesaler and the wholesaler wins
  its flow back (read from the broker's own ``RoutingScorecard`` messages on the tape).
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import numpy as np
import pandas as pd

from config.scenario import Scenario, load_scenario
from orchestration.launcher import LabSupervisor
from orchestration.streams import generate_stream, write_stream
from orchestration.tape import build_tables

ROOT = Path(__file__).resolve().parents[2]


async def run(scenario: Scenario, runs: Path, orders: int, rate: float, seed: int) -> dict:
    lab = LabSupervisor(scenario, runs_root=runs)
    try:
        await lab.start()
        rows = generate_stream(
            scenario, scenario.broker.regimes, orders=orders, rate_per_s=rate, seed=seed
        )
        done = await lab.inject(write_stream(rows, lab.run_dir / "stream.csv"), timeout_s=60)
        assert done.terminal == done.sent == orders
    finally:
        codes = await lab.stop()
    assert all(code == 0 for code in codes.values()), codes
    return build_tables(lab.run_dir, lab.config)


def per_order_improvement(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per filled order with a quote at receipt: improvement per share over the far touch
    ($, share-weighted over its fills) and effective / quoted spread ($ x shares)."""
    orders = tables["orders"].dropna(subset=["nbbo_bid", "nbbo_ask"])
    orders = orders[orders["nbbo_ask"] > orders["nbbo_bid"]]
    fills = tables["fills"].merge(
        orders[["order_id", "nbbo_bid", "nbbo_ask"]], on="order_id", how="inner"
    )
    sign = np.where(fills["side"] == "buy", 1, -1)
    far = np.where(sign > 0, fills["nbbo_ask"], fills["nbbo_bid"])
    mid = (fills["nbbo_bid"] + fills["nbbo_ask"]) / 2
    fills = fills.assign(
        improvement=sign * (far - fills["price"]) * fills["qty"] / 1e6,
        effective=2 * sign * (fills["price"] - mid) * fills["qty"] / 1e6,
        quoted=(fills["nbbo_ask"] - fills["nbbo_bid"]) * fills["qty"] / 1e6,
    )
    per = fills.groupby(["order_id", "regime"], as_index=False)[
        ["qty", "improvement", "effective", "quoted"]
    ].sum()
    per["pi"] = per["improvement"] / per["qty"]
    return per


def difference_interval(a: np.ndarray, b: np.ndarray, z: float) -> tuple[float, float, float]:
    """Mean of ``a`` minus mean of ``b`` with a normal (Welch) interval."""
    diff = float(a.mean() - b.mean())
    se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    return diff, diff - z * se, diff + z * se


def test_equal_channels_show_no_difference(tmp_path: Path) -> None:
    scenario = load_scenario(ROOT / "scenarios" / "equal-channels.toml")
    tables = asyncio.run(asyncio.wait_for(run(scenario, tmp_path, 1500, 100.0, 7), 240))
    per = per_order_improvement(tables)
    pfof, auction = per[per["regime"] == "pfof"], per[per["regime"] == "auction"]
    assert len(pfof) > 600 and len(auction) > 600

    # 99%: one run of a live market is one draw; a 95% interval would miss a true zero one run
    # in twenty.
    z = 2.576
    diff, low, high = difference_interval(auction["pi"].to_numpy(), pfof["pi"].to_numpy(), z)
    assert low <= 0.0 <= high, ("price improvement $/share", diff, low, high)

    # E/Q is a ratio of sums: its difference by a percentile bootstrap over orders.
    rng = np.random.default_rng(11)

    def eq(frame: pd.DataFrame) -> float:
        return float(frame["effective"].sum() / frame["quoted"].sum())

    draws = []
    for _ in range(1000):
        a = auction.iloc[rng.integers(len(auction), size=len(auction))]
        p = pfof.iloc[rng.integers(len(pfof), size=len(pfof))]
        draws.append(eq(a) - eq(p))
    low, high = np.quantile(draws, [0.005, 0.995])
    assert low <= 0.0 <= high, ("E/Q", eq(auction) - eq(pfof), low, high)


def test_default_scorecard_demotes_and_a_wholesaler_wins_its_flow_back(tmp_path: Path) -> None:
    scenario = load_scenario()
    tables = asyncio.run(asyncio.wait_for(run(scenario, tmp_path, 1200, 100.0, 3), 240))
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
