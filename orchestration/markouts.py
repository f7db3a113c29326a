"""Midpoints after each fill, for realized spreads (Rule 605's markouts).

For a fill at ``exec_ns`` and a horizon ``h`` the mark is the midpoint of the last two-sided
NBBO of the fill's symbol published at or before ``exec_ns + h`` (an as-of join on the ``nbbo``
table). A horizon that ends after the run's last NBBO update has no mark: the market was not
observed that long, so the realized spread at that horizon is *unavailable*, not zero.

When the tables hold several runs (a ``run`` column, see ``orchestration.experiment``), the join
is made within each run, and each run ends at its own last NBBO update.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# label -> nanoseconds; the horizons (Rule 605 uses longer ones for slower markets)
HORIZONS: dict[str, int] = {
    "50ms": 50_000_000,
    "1s": 1_000_000_000,
    "5s": 5_000_000_000,
    "30s": 30_000_000_000,
}


def future_two_mids(
    fills: pd.DataFrame, nbbo: pd.DataFrame | None, horizons: dict[str, int] = HORIZONS
) -> dict[str, np.ndarray]:
    """Twice the midpoint (exact micro-dollars) ``h`` after each fill; 0 where unavailable.

    Returns ``{label: int64 array aligned with fills}``. Without an ``nbbo`` table, or for fills
    without a ``symbol``, every mark is unavailable.
    """
    out = {label: np.zeros(len(fills), dtype="int64") for label in horizons}
    if nbbo is None or nbbo.empty or fills.empty or "symbol" not in fills.columns:
        return out
    quotes = _two_sided(nbbo)
    if quotes.empty:
        return out
    fill_keys = _keys(fills)
    exec_ns = fills["exec_ns"].to_numpy("int64")
    run_end = quotes.groupby("run_key", sort=False)["ts_ns"].max()
    fill_run_end = _run_keys(fills).map(run_end).fillna(np.iinfo("int64").min).to_numpy("int64")
    for key, group in quotes.groupby("key", sort=False):
        rows = np.flatnonzero(fill_keys == key)
        if not rows.size:
            continue
        times = group["ts_ns"].to_numpy("int64")
        two_mid = group["two_mid"].to_numpy("int64")
        for label, horizon in horizons.items():
            due = exec_ns[rows] + horizon
            at = np.searchsorted(times, due, side="right") - 1
            usable = (at >= 0) & (due <= fill_run_end[rows])
            out[label][rows] = np.where(usable, two_mid[np.clip(at, 0, None)], 0)
    return out


def _two_sided(nbbo: pd.DataFrame) -> pd.DataFrame:
    bid = nbbo["bid_px"].to_numpy("int64", na_value=0)
    ask = nbbo["ask_px"].to_numpy("int64", na_value=0)
    keep = (bid > 0) & (ask > 0)
    frame = pd.DataFrame(
        {
            "key": _keys(nbbo)[keep],
            "run_key": _run_keys(nbbo).to_numpy()[keep],
            "ts_ns": nbbo["ts_ns"].to_numpy("int64")[keep],
            "two_mid": (bid + ask)[keep],
        }
    )
    return frame.sort_values(["key", "ts_ns"], kind="stable").reset_index(drop=True)


def _run_keys(frame: pd.DataFrame) -> pd.Series:
    if "run" in frame.columns:
        return frame["run"].astype(str).reset_index(drop=True)
    return pd.Series([""] * len(frame), dtype=object)


def _keys(frame: pd.DataFrame) -> np.ndarray:
    symbols = frame["symbol"].astype(str).reset_index(drop=True)
    return (_run_keys(frame) + "|" + symbols).to_numpy()
