"""The null case, live: when PFOF and the auction are made equivalent, the lab finds no difference.

``scenarios/equal-channels.toml``: no PFOF, the same three dealers in both channels and nobody
else, one price grid, dealers pricing off the NBBO alone, no inventory charge, no informed
retail flow, the broker's free flow to the best scorecard. The dealers start from the state a
long calibration of this scenario learned (``scenarios/equal-channels.dealers.json``).

The statistics here are the test's own, not the lab's: price improvement per share and E/Q are
computed from the raw fills against the NBBO the broker saw at each order's receipt, and the
interval of the auction - PFOF difference comes from a bootstrap written below (orders
resampled within each arm; 99% jointly over the two metrics). The test asserts both that the
intervals include zero and that they are narrow enough to have caught a difference of the size
the default scenario shows — a lab too noisy to tell anything apart would not pass.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pandas as pd

from config.scenario import load_scenario
from tests.helpers import run_stream

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "equal-channels.toml"
ORDERS = 2000
RATE = 100.0


def per_order(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per filled order: shares, improvement over the quote (micro-dollars, share-weighted
    sums), effective and quoted spread x shares — against the NBBO at the broker's receipt."""
    orders = tables["orders"].set_index("order_id")
    fills = tables["fills"].join(orders[["nbbo_bid", "nbbo_ask"]], on="order_id")
    fills = fills.dropna(subset=["nbbo_bid", "nbbo_ask"])
    bid = fills["nbbo_bid"].astype(float)
    ask = fills["nbbo_ask"].astype(float)
    sign = np.where(fills["side"] == "buy", 1.0, -1.0)
    price = fills["price"].astype(float)
    qty = fills["qty"].astype(float)
    touch = np.where(sign > 0, ask, bid)
    fills = fills.assign(
        improvement=sign * (touch - price) * qty,
        effective=2 * np.abs(price - (bid + ask) / 2) * qty,
        quoted=(ask - bid) * qty,
        shares=qty,
    )
    return fills.groupby(["regime", "order_id"])[
        ["shares", "improvement", "effective", "quoted"]
    ].sum()


def metrics(arm: np.ndarray) -> tuple[float, float]:
    """(price improvement $/share, E/Q) of rows [shares, improvement, effective, quoted]."""
    total = arm.sum(axis=0)
    return total[1] / total[0] / 1e6, total[2] / total[3]


def bootstrap_difference(
    pfof: np.ndarray, auction: np.ndarray, draws: int = 4000
) -> tuple[np.ndarray, np.ndarray]:
    """(point, [lo, hi]) of auction - pfof for both metrics: percentile intervals at 99.5%
    each, so that the two together hold at 99% (Bonferroni) — a gate that runs on every
    change should raise a false alarm about once in a hundred runs, not once in ten."""
    rng = np.random.default_rng(7)
    point = np.subtract(metrics(auction), metrics(pfof))
    samples = np.empty((draws, 2))
    for k in range(draws):
        a = auction[rng.integers(len(auction), size=len(auction))]
        p = pfof[rng.integers(len(pfof), size=len(pfof))]
        samples[k] = np.subtract(metrics(a), metrics(p))
    return point, np.percentile(samples, [0.25, 99.75], axis=0)


def test_equivalent_channels_show_no_difference(tmp_path: Path) -> None:
    scenario = load_scenario(SCENARIO)
    run = run_stream(scenario, tmp_path, ORDERS, RATE, scenario.seed)
    tables = asyncio.run(asyncio.wait_for(run, 180))
    table = per_order(tables)
    pfof = table.loc["pfof"].to_numpy(float)
    auction = table.loc["auction"].to_numpy(float)
    assert len(pfof) > 600 and len(auction) > 600
    point, (lo, hi) = bootstrap_difference(pfof, auction)
    report = (
        f"auction - pfof: PI {point[0]:+.5f} $/share (CI {lo[0]:+.5f} to {hi[0]:+.5f}), "
        f"E/Q {point[1]:+.3f} (CI {lo[1]:+.3f} to {hi[1]:+.3f}); "
        f"pfof {metrics(pfof)}, auction {metrics(auction)}"
    )
    print(report)
    # No difference: both intervals include zero (jointly at 99%).
    assert lo[0] <= 0 <= hi[0], report
    assert lo[1] <= 0 <= hi[1], report
    # And the run could have seen one: the default scenario's auction - PFOF gap is about
    # +$0.0044/share and -0.27 in E/Q (docs/ECONOMICS.md); half of each interval is smaller.
    assert hi[0] - lo[0] < 0.008, report
    assert hi[1] - lo[1] < 0.4, report
