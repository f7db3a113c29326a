"""``bestex.html``: the best-execution report of ``flowlab sor``, one self-contained page.

It opens with the answer (each strategy against the best single venue of its round, with a 95%
interval over rounds and a one-line reading), then the shortfall against the arrival mid and
the fill rate per strategy with their intervals, every parent (VWAP, shortfall, fill rate,
time, leakage), and where the SOR sent its child orders, venue by venue. The numbers come from
``orchestration.bestex`` (``bestex_table``, ``bestex_rounds``, ``sor_routes_table``); the page is
rendered by ``orchestration.report_render`` like the comparison report.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from orchestration.inference import cluster_mean, format_p
from orchestration.report_render import (
    Block,
    Bullets,
    Column,
    Heading,
    Table,
    Text,
    number,
    percent,
    text,
    to_html,
)
from protocol.money import MICROS_PER_DOLLAR

BASELINE = "direct:"
TITLE = "The answer: each strategy against the best single venue"
ONE_ROUND = "one round, so no interval over rounds; `flowlab sor --rounds 5` gives one"


def write_bestex_html(
    out: Path,
    parents: pd.DataFrame,
    rounds: pd.DataFrame,
    routes: pd.DataFrame,
    *,
    scenario: str,
    run_dir: Path,
    seed: int,
) -> Path:
    """Write ``out/bestex.html`` and return its path. ``rounds`` is ``bestex_rounds(parents)``."""
    blocks: list[Block] = [
        Heading(1, f"flowlab best execution: {scenario}"),
        *_answer(rounds),
        *_arrival(parents, seed),
        Heading(2, "Every parent"),
        Text(
            "Prices in $ per share (VWAP of the fills; all-in adds the venues' fees); "
            "shortfall in bps of the arrival mid, signed so that positive is a cost."
        ),
        Table(_records(_parent_rows(parents)), PARENT_COLUMNS),
        *_routing(parents, routes),
        Heading(2, "Definitions"),
        Bullets(DEFINITIONS),
        Heading(2, "Appendix: the run"),
        Bullets((f"Scenario: `{scenario}`", f"Seed: {seed}", f"Run directory: `{run_dir}`")),
    ]
    path = out / "bestex.html"
    path.write_text(
        to_html(blocks, {}, f"flowlab best execution: {scenario}", headline=True), encoding="utf-8"
    )
    return path


ANSWER_COLUMNS: list[Column] = [
    ("Strategy", "strategy", str),
    ("Rounds", "rounds", number(0)),
    ("Mean fill rate", "fill_rate_mean", percent),
    ("Shortfall incl. fees and unfilled shares, bps (mean)", "total_shortfall_bps_mean", number(2)),
    ("Against the best single venue, bps (mean)", "vs_baseline_bps_mean", number(2, signed=True)),
    ("95% interval over rounds", "interval", text),
    ("p (Holm)", "p_text", text),
    ("Reading", "reading", str),
]


def _answer(rounds: pd.DataFrame) -> list[Block]:
    rows = [{**r, **_answer_cells(r)} for r in _records(rounds)]
    tested = int(rounds["tested_rounds"].max()) if len(rounds) else 0
    interval = (
        f"Intervals: cluster bootstrap over the {tested} rounds (each round is one market; "
        "rounds are resampled whole), Student t on rounds - 1 df; p Holm-adjusted over the "
        "strategies; no verdict of significance below 5 rounds."
        if tested >= 2
        else "One round: each figure is one parent; run `--rounds 5` or more for intervals."
    )
    return [
        Heading(2, TITLE),
        Table(rows, ANSWER_COLUMNS, {"interval": ONE_ROUND, "p_text": ONE_ROUND}),
        Text(
            "Against the best single venue: the strategy's total shortfall minus that of the "
            "best single-venue parent (`direct:<venue>`) of the same round, side and size; "
            f"negative = the SOR did better. {interval}"
        ),
    ]


def _answer_cells(row: dict) -> dict:
    strategy = str(row["strategy"])
    low, high = _float(row.get("ci_low")), _float(row.get("ci_high"))
    p_holm = _float(row.get("p_holm"))
    cells: dict[str, object] = {
        "interval": None if low is None or high is None else f"{low:+.2f} to {high:+.2f}",
        "p_text": None if p_holm is None else format_p(p_holm),
    }
    reading = _reading(strategy, _float(row.get("vs_baseline_bps_mean")), low, high)
    tested = int(row.get("tested_rounds") or 0)
    if row.get("significant") is None and 2 <= tested < 5 and low is not None:
        reading += f" ({tested} rounds: too few for a verdict)"
    fill = _float(row.get("fill_rate_mean"))
    if not strategy.startswith(BASELINE) and fill is not None and fill < 1:
        reading += f"; it filled {percent(fill)} of its shares"
    cells["reading"] = reading
    return cells


def _reading(strategy: str, mean: float | None, low: float | None, high: float | None) -> str:
    """The strategy against the best single venue, in words (negative = cheaper)."""
    if strategy.startswith(BASELINE):
        return "a single-venue baseline"
    if mean is None:
        return "no baseline of the same round, side and size to compare with"
    if low is None or high is None:
        way = "better" if mean < 0 else "worse" if mean > 0 else "no different"
        return f"{abs(mean):.2f} bps {way} than the best single venue in one round"
    if low <= 0 <= high:
        return "no difference from the best single venue detected (interval spans 0)"
    way = "cheaper" if mean < 0 else "dearer"
    return f"{abs(mean):.2f} bps {way} than the best single venue; the interval excludes zero"


def _float(value: object) -> float | None:
    """A float, or None for a missing value (None, NaN, NA)."""
    if value is None or value is pd.NA:
        return None
    result = float(value)  # type: ignore[arg-type]
    return None if result != result else result


ARRIVAL_COLUMNS: list[Column] = [
    ("Strategy", "strategy", str),
    ("Parents", "parents", number(0)),
    ("Fill rate (mean)", "fill_rate", percent),
    ("Fill rate, 95% interval", "fill_rate_ci", text),
    ("Shortfall vs arrival, bps (mean, filled shares)", "shortfall", number(2, signed=True)),
    ("Shortfall, 95% interval", "shortfall_ci", text),
    ("Incl. fees and unfilled shares, bps (mean)", "total", number(2, signed=True)),
    ("Incl. fees and unfilled, 95% interval", "total_ci", text),
]


def _arrival(parents: pd.DataFrame, seed: int) -> list[Block]:
    """Per strategy: mean shortfall against the arrival mid and fill rate, intervals over
    rounds (one parent per strategy and round)."""
    rows = []
    for strategy, group in parents.groupby("strategy", sort=False):
        row: dict[str, object] = {"strategy": strategy, "parents": len(group)}
        for key, column in (
            ("fill_rate", "fill_rate"),
            ("shortfall", "shortfall_bps"),
            ("total", "total_shortfall_bps"),
        ):
            values = pd.to_numeric(group[column], errors="coerce").dropna().to_numpy("float64")
            row[key] = float(values.mean()) if len(values) else None
            row[f"{key}_ci"] = _interval(values, seed, percent_points=key == "fill_rate")
        rows.append(row)
    return [
        Heading(2, "Shortfall against arrival and fill rate"),
        Text(
            "Implementation shortfall against the NBBO midpoint when the SOR received the "
            "parent: on the executed shares (VWAP), and in total with the fees and the "
            "opportunity cost of the shares left unfilled (at the far touch 100 ms after the "
            "parent ended). 95% intervals over rounds (cluster bootstrap, rounds resampled "
            "whole)."
        ),
        Table(
            rows,
            ARRIVAL_COLUMNS,
            {k: ONE_ROUND for k in ("fill_rate_ci", "shortfall_ci", "total_ci")},
        ),
    ]


def _interval(values: np.ndarray, seed: int, percent_points: bool) -> str | None:
    if len(values) < 2:
        return None
    result = cluster_mean(values, seed=seed)
    if result.ci_low is None or result.ci_high is None:
        return None
    if percent_points:
        return f"{percent(result.ci_low)} to {percent(result.ci_high)}"
    return f"{result.ci_low:+.2f} to {result.ci_high:+.2f}"


PARENT_COLUMNS: list[Column] = [
    ("Round", "round", number(0)),
    ("Strategy", "strategy", str),
    ("Symbol", "symbol", str),
    ("Side", "side", str),
    ("Filled / ordered shares", "filled_text", str),
    ("Fill rate", "fill_rate", percent),
    ("VWAP, $", "vwap_usd", number(4)),
    ("All-in VWAP, $", "all_in_vwap_usd", number(4)),
    ("Arrival mid, $", "arrival_mid_usd", number(4)),
    ("Shortfall, bps", "shortfall_bps", number(2, signed=True)),
    ("Incl. fees and unfilled, bps", "total_shortfall_bps", number(2, signed=True)),
    ("Against best single venue, bps", "vs_baseline_bps", number(2, signed=True)),
    ("Against best price at each child, bps", "vs_best_bps", number(2, signed=True)),
    ("Time to completion, ms", "time_to_completion_ms", number(1)),
    ("Children", "children", number(0)),
    ("Waves", "waves", number(0)),
    ("Shares shown to lit venues", "lit_shown_qty", number(0)),
    ("Detection probability", "detection_prob", number(2)),
    ("Late fills, shares", "late_fill_qty", number(0)),
]


def _parent_rows(parents: pd.DataFrame) -> pd.DataFrame:
    def usd(column: str) -> pd.Series:
        return pd.to_numeric(parents[column], errors="coerce") / MICROS_PER_DOLLAR

    return parents.assign(
        filled_text=[
            f"{f:,} / {q:,}" for f, q in zip(parents["filled_qty"], parents["qty"], strict=True)
        ],
        vwap_usd=usd("vwap"),
        all_in_vwap_usd=usd("all_in_vwap"),
        arrival_mid_usd=usd("arrival_mid"),
        vs_baseline_bps=pd.to_numeric(parents["vs_baseline_bps"], errors="coerce"),
    )


ROUTING_COLUMNS: list[Column] = [
    ("Strategy", "strategy", str),
    ("Venue", "destination", str),
    ("Child orders", "children", number(0)),
    ("Shares sent", "shares_sent", number(0)),
    ("Shares filled", "shares_filled", number(0)),
    ("Child fill rate", "child_fill_rate", percent),
    ("Share of the strategy's filled shares", "share_of_fills", percent),
]


def sor_routing_by_venue(parents: pd.DataFrame, routes: pd.DataFrame) -> pd.DataFrame:
    """Per strategy and venue: child orders sent, shares sent and filled, and the venue's share
    of the strategy's filled shares (a child's cancel and timeout rows count once: its first)."""
    columns = ["strategy", "destination", "children", "shares_sent", "shares_filled"]
    if routes.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    strategy_of = dict(zip(parents["order_id"], parents["strategy"], strict=True))
    sent = routes.drop_duplicates("child_id", keep="first")
    sent = sent.assign(strategy=sent["order_id"].map(strategy_of).fillna(sent["strategy"]))
    table = (
        sent.groupby(["strategy", "destination"], sort=False)
        .agg(
            children=("child_id", "size"),
            shares_sent=("qty", "sum"),
            shares_filled=("filled_qty", "sum"),
        )
        .reset_index()
    )
    filled = table.groupby("strategy")["shares_filled"].transform("sum")
    return table.assign(
        child_fill_rate=table["shares_filled"]
        / table["shares_sent"].where(table["shares_sent"] > 0),
        share_of_fills=table["shares_filled"] / filled.where(filled > 0),
    )


def _routing(parents: pd.DataFrame, routes: pd.DataFrame) -> list[Block]:
    return [
        Heading(2, "Where the SOR sent its child orders"),
        Text(
            "Every child order of every parent, over all rounds, by strategy and venue (every "
            "decision with the quotes it was made on: `sor_routes.parquet`)."
        ),
        Table(_records(sor_routing_by_venue(parents, routes)), ROUTING_COLUMNS),
    ]


DEFINITIONS = (
    "**VWAP**: the fills' volume-weighted average price; **all-in VWAP** adds the venues' fees "
    "(rebates negative).",
    "**Shortfall** (implementation shortfall, after Perold): D x (VWAP - arrival mid) / arrival "
    "mid in bps, D = +1 for a buy, -1 for a sell; **incl. fees and unfilled**: adds the fees "
    "and the cost of taking the unfilled shares at the NBBO far touch 100 ms after the parent "
    "ended.",
    "**Against best single venue**: the parent's total shortfall minus the lowest total "
    "shortfall of the `direct:<venue>` parents of the same round, side and size.",
    "**Against best price at each child**: each child's fills against the best price in the "
    "router's view when it sent the child, share-weighted.",
    "**Detection probability**: 1 - exp(-shares shown to lit venues / lit displayed size at the "
    "first decision), a stand-in for an observer noticing the parent.",
    "**Late fills**: executions of children the SOR had abandoned, reported after the parent "
    "ended.",
)


def _records(table: pd.DataFrame) -> list[dict]:
    return table.astype(object).where(table.notna(), None).to_dict(orient="records")
