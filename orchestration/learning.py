"""Learning and competition: how each dealer's markups moved and whether they settled, and how the
broker's scorecard moved PFOF flow between its wholesalers.

From the tape's ``markups`` (one row per settled learning period), ``dealer_states`` (each
dealer's state at stop) and ``scorecards`` (one row per wholesaler per review) tables; with
pooled runs (a ``run`` column) every summary is per run. Tables that are absent or empty (a tape
recorded before dealers learned) give empty summaries.

- A dealer x channel has **settled** when the markup its learner holds stayed within one grid
  step over its last ``SETTLE_PERIODS`` settled periods (max - min <= the step between adjacent
  markups of its grid): the hill climb then only probes its neighbours. With fewer periods:
  "not enough periods".
- A wholesaler's **demotion** is a review that demoted it after one that did not (or its first
  review); it **regained flow** when a review after a demotion neither demoted it nor left it at
  the floor (flow share above the floor). The floor is not on the tape: it is the flow share a
  demoted wholesaler keeps, the smallest flow share of any demoted entry in the run. Scorecards
  recorded before flow shares were on the tape have them all 0: they are shown as unknown.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from protocol.money import MICROS_PER_DOLLAR

SETTLE_PERIODS = 10
SETTLED, MOVING, TOO_FEW = "settled", "moving", "not enough periods"
_EPS = 1e-9  # shares are basis points / 1e4: compare them with a little room

MARKUP_COLUMNS = (
    "dealer",
    "channel",
    "role",
    "periods",
    "learned_periods",
    "first_held_share",
    "last_held_share",
    "mean_reward_usd_per_100_shares",
    "last_range_share",
    "grid_step_share",
    "settled",
    "status",
)
FLOW_COLUMNS = (
    "wholesaler",
    "reviews",
    "demotions",
    "periods_demoted",
    "flow_share_first",
    "flow_share_last",
    "flow_share_mean",
    "floor_share",
    "regained_flow",
)
SETTLED_DEFINITION = (
    f"**Settled**: the markup the learner holds stayed within one grid step of its markup grid "
    f"(max - min <= the step between adjacent markups) over the last {SETTLE_PERIODS} learning "
    f"periods it settled in this run; **moving** otherwise; with fewer than {SETTLE_PERIODS} "
    f"settled periods in the run: **{TOO_FEW}**."
)
FLOW_DEFINITION = (
    "**Demotion**: a review that demoted the wholesaler (it keeps only the floor of the next "
    "period's PFOF flow) after one that did not, or at its first review. **Regained flow**: a "
    "later review neither demoted it nor left it at the floor (flow share above the floor; the "
    "floor is the flow share demoted wholesalers keep in the run)."
)


def _runs(table: pd.DataFrame) -> list[str]:
    return ["run"] if "run" in table.columns else []


def _empty(columns: tuple[str, ...], runs: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in (*runs, *columns)})


def markup_summary(
    markups: pd.DataFrame | None, dealer_states: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Per dealer x channel (x run): periods settled, first and last held markup, mean reward,
    and whether the held markup settled (``SETTLED_DEFINITION``)."""
    if markups is None or markups.empty:
        return _empty(MARKUP_COLUMNS, _runs(markups) if markups is not None else [])
    runs = _runs(markups)
    keys = [*runs, "dealer", "channel"]
    states = _states(dealer_states, keys)
    rows = []
    for key, group in markups.sort_values("period", kind="stable").groupby(keys, sort=False):
        values = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
        held = group["held_share"].to_numpy("float64")
        state = states.get(tuple(values.values()), {})
        step = state.get("grid_step_share")
        if step is None or not step > 0:
            step = _grid_step(markups, values, runs)
        orders = group["shares"].to_numpy("int64")  # shares competed for, each period
        profit = (group["reward_per_100_shares"].to_numpy("int64") * orders).sum()
        last = held[-SETTLE_PERIODS:]
        spread = float(last.max() - last.min())
        settled = None if len(held) < SETTLE_PERIODS else bool(spread <= step + _EPS)
        rows.append(
            {
                **values,
                "role": state.get("role"),
                "periods": len(held),
                "learned_periods": state.get("periods"),
                "first_held_share": float(held[0]),
                "last_held_share": float(held[-1]),
                "mean_reward_usd_per_100_shares": profit / orders.sum() / MICROS_PER_DOLLAR
                if orders.sum()
                else None,
                "last_range_share": spread,
                "grid_step_share": step,
                "settled": settled,
                "status": TOO_FEW if settled is None else SETTLED if settled else MOVING,
            }
        )
    frame = pd.DataFrame(rows, columns=[*runs, *MARKUP_COLUMNS])
    frame["learned_periods"] = frame["learned_periods"].astype("Int64")
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


def _states(dealer_states: pd.DataFrame | None, keys: list[str]) -> dict[tuple, dict]:
    """Each dealer x channel's state at stop, by the summary's key (the last one wins)."""
    if dealer_states is None or dealer_states.empty or not set(keys) <= set(dealer_states.columns):
        return {}
    return {tuple(row[k] for k in keys): row for row in dealer_states.to_dict(orient="records")}


def _grid_step(markups: pd.DataFrame, values: dict, runs: list[str]) -> float:
    """Without the dealer's state: the smallest gap between the markups it played or held (all
    on its grid, and the learner's probes are its neighbours)."""
    mine = markups["dealer"] == values["dealer"]
    for run in runs:
        mine &= markups[run] == values[run]
    seen = np.unique(markups.loc[mine, ["markup_share", "held_share"]].to_numpy("float64"))
    gaps = np.diff(seen)
    gaps = gaps[gaps > _EPS]
    return float(gaps.min()) if len(gaps) else 0.0


def flow_summary(scorecards: pd.DataFrame | None) -> pd.DataFrame:
    """Per wholesaler (x run): reviews, demotions, reviews demoted, flow share first / last /
    mean, and whether it regained flow after a demotion (``FLOW_DEFINITION``)."""
    if scorecards is None or scorecards.empty:
        return _empty(FLOW_COLUMNS, _runs(scorecards) if scorecards is not None else [])
    runs = _runs(scorecards)
    ordered = scorecards.sort_values("review", kind="stable")
    floors: dict[object, float | None] = {None: _floor(ordered)}
    known: dict[object, bool] = {None: _known(ordered)}
    if runs:
        by_run = list(ordered.groupby("run", sort=False))
        floors = {run: _floor(group) for run, group in by_run}
        known = {run: _known(group) for run, group in by_run}
    rows = []
    for key, group in ordered.groupby([*runs, "wholesaler"], sort=False):
        values = dict(zip([*runs, "wholesaler"], key, strict=True))
        floor = floors[values.get("run")]
        demoted = group["demoted"].astype(bool).to_numpy()
        share = group["flow_share"].to_numpy("float64")
        if not known[values.get("run")]:  # a tape from before flow shares: all 0 (unknown)
            share, floor = np.full(len(share), np.nan), None
        starts = demoted & ~np.concatenate([[False], demoted[:-1]])
        regained = None
        if demoted.any() and floor is not None:
            first = int(np.argmax(demoted))
            after = ~demoted[first + 1 :] & (share[first + 1 :] > floor + _EPS)
            regained = bool(after.any())
        rows.append(
            {
                **values,
                "reviews": len(group),
                "demotions": int(starts.sum()),
                "periods_demoted": int(demoted.sum()),
                "flow_share_first": float(share[0]),
                "flow_share_last": float(share[-1]),
                "flow_share_mean": float(share.mean()),
                "floor_share": floor,
                "regained_flow": regained,
            }
        )
    frame = pd.DataFrame(rows, columns=[*runs, *FLOW_COLUMNS])
    return frame.sort_values([*runs, "wholesaler"], kind="stable").reset_index(drop=True)


def _floor(reviews: pd.DataFrame) -> float | None:
    """The floor of a run's flow split: what demoted wholesalers keep (``None``: none was)."""
    demoted = reviews.loc[reviews["demoted"].astype(bool), "flow_share"]
    return float(demoted.min()) if len(demoted) else None


def _known(reviews: pd.DataFrame) -> bool:
    """Whether the scorecards carry flow shares (they add up to 1 per review; a tape recorded
    before ``flow_share_bp`` existed decodes them all as 0)."""
    return bool((reviews["flow_share"] > 0).any())


def learning_summary(markups: pd.DataFrame, flows: pd.DataFrame) -> dict[str, object]:
    """The ``learning`` key of summary.json (records JSON-ready after ``report._jsonable``)."""
    return {
        "settle_periods": SETTLE_PERIODS,
        "settled_definition": SETTLED_DEFINITION.replace("**", ""),
        "flow_definition": FLOW_DEFINITION.replace("**", ""),
        "dealers": _plain(markups),
        "wholesalers": _plain(flows),
    }


def _plain(table: pd.DataFrame) -> list[dict]:
    frame = table.astype(object).where(table.notna(), None)
    return frame.to_dict(orient="records")
