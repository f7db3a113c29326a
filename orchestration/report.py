"""A run's report: ``summary.json``, one Parquet file per table, and ``report.md``.

Columns, units and the JSON schema are documented in docs/TABLES.md; the metrics come from
``orchestration.metrics``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from orchestration.metrics import (
    RegimeDifference,
    regime_difference,
    regime_summary,
    regime_table,
    routing_table,
    size_bucket_table,
)

COMPUTED_TABLES = ("regime_summary", "size_buckets", "routing")
COMPARED_METRICS = ("price_improvement_usd_per_share", "effective_spread_bps")
N_BOOT = 1000
_SUMMARY_KEYS = (
    "scenario",
    "seed",
    "run_dir",
    "processes",
    "regimes",
    "size_buckets",
    "routing",
    "comparisons",
)
_TABLE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")

Formatter = Callable[[object], str]
Column = tuple[str, str, Formatter]  # (header, key, formatter)


def _number(places: int, signed: bool = False) -> Formatter:
    sign = "+" if signed else ""

    def format_number(value: object) -> str:
        if value is None:
            return "n/a"
        rounded = round(float(value), places) + 0.0  # type: ignore[arg-type]  # no "-0.00"
        return f"{rounded:{sign},.{places}f}"

    return format_number


def _percent(value: object) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"  # type: ignore[operator]


def _count(value: object) -> str:
    return f"{value:,}"


_QUALITY_COLUMNS: list[Column] = [
    ("Orders", "orders", _count),
    ("Terminal", "terminal_orders", _count),
    ("Filled orders", "filled_orders", _count),
    ("Fill rate", "fill_rate", _percent),
    ("Filled shares", "filled_shares", _count),
    ("PI $/sh", "price_improvement_usd_per_share", _number(4)),
    ("PI bps", "price_improvement_bps", _number(2)),
    ("Eff. spread $/sh", "effective_spread_usd_per_share", _number(4)),
    ("Eff. spread bps", "effective_spread_bps", _number(2)),
    ("Quoted spread bps", "quoted_spread_bps", _number(2)),
    ("E/Q", "eq_ratio", _number(3)),
    ("Improved", "share_orders_improved", _percent),
    ("At quote", "share_orders_at_quote", _percent),
    ("Outside quote", "share_orders_outside_quote", _percent),
]
_TIMING_COLUMNS: list[Column] = [
    ("TTE mean ms", "time_to_execution_ms_mean", _number(3)),
    ("TTE p50 ms", "time_to_execution_ms_p50", _number(3)),
    ("TTE p99 ms", "time_to_execution_ms_p99", _number(3)),
    ("PFOF paid $", "pfof_paid_usd", _number(2)),
    ("Fees $", "fees_usd", _number(2)),
    ("Cost vs mid $", "retail_cost_vs_mid_usd", _number(2)),
]
_BY_KEY = {key: (header, key, fmt) for header, key, fmt in _QUALITY_COLUMNS + _TIMING_COLUMNS}
_BUCKET_COLUMNS: list[Column] = [
    ("Regime", "regime", str),
    ("Size", "size_bucket", str),
    *(
        _BY_KEY[key]
        for key in (
            "orders",
            "fill_rate",
            "filled_shares",
            "price_improvement_usd_per_share",
            "price_improvement_bps",
            "effective_spread_bps",
            "quoted_spread_bps",
            "eq_ratio",
            "time_to_execution_ms_p50",
            "time_to_execution_ms_p99",
        )
    ),
]
_ROUTING_COLUMNS: list[Column] = [
    ("Regime", "regime", str),
    ("Destination", "destination", str),
    ("Orders", "orders", _count),
    ("% of orders", "order_share", _percent),
    ("Shares", "shares", _count),
    ("PFOF $", "pfof_usd", _number(2)),
    ("Fees $", "fees_usd", _number(2)),
    ("Net PFOF $", "net_pfof_usd", _number(2)),
    ("Net PFOF c/100 sh", "net_pfof_cents_per_100_shares", _number(2)),
]
_TERMINAL_COLUMNS: list[Column] = [
    ("orders", "orders", _count),
    ("filled", "filled_orders", _count),
    ("fill", "fill_rate", _percent),
    ("PI $/sh", "price_improvement_usd_per_share", _number(4)),
    ("PI bps", "price_improvement_bps", _number(2)),
    ("eff bps", "effective_spread_bps", _number(2)),
    ("E/Q", "eq_ratio", _number(3)),
    ("TTE p50 ms", "time_to_execution_ms_p50", _number(2)),
    ("TTE p99 ms", "time_to_execution_ms_p99", _number(2)),
    ("PFOF $", "pfof_paid_usd", _number(2)),
    ("cost vs mid $", "retail_cost_vs_mid_usd", _number(2)),
]

DEFINITIONS = """\
All execution-quality metrics are measured against the NBBO at broker receipt (Rule 605 style);
D = +1 for buys, -1 for sells; mid = (bid + ask) / 2. Fills of orders with no two-sided NBBO at
receipt are left out of NBBO-relative metrics but count in filled shares.

- **Fill rate**: filled shares / ordered shares (share-weighted, not the share of orders filled).
- **Price improvement (PI)**: ask - price for buys, price - bid for sells; share-weighted mean in
  $/share, and in bps of the mid (each fill divided by its own mid).
- **Effective spread**: 2 * D * (price - mid), share-weighted, in $/share and bps of the mid.
- **Quoted spread**: ask - bid, share-weighted. **E/Q**: effective / quoted spread, both in $.
- **Improved / at quote / outside quote**: each order's average fill price against the far side
  of the NBBO (ask for buys, bid for sells), as shares of orders with fills and an NBBO.
- **Time to execution (TTE)**: per order with fills, from broker receipt to the execution time of
  its last fill (ms); mean, median and 99th percentile (linear interpolation) over orders.
- **PFOF paid**: payment for order flow paid to the broker; **fees**: venue fees charged
  (rebates negative). **Net PFOF** (routing) = PFOF - fees, per 100 shares in cents.
- **Cost vs mid**: sum of D * (price - mid) * qty in $ (positive = cost to the investor).
- **Differences**: regime minus the first regime, with a 95% percentile bootstrap CI over orders
  resampled with replacement within each regime (1,000 resamples, seeded with the run's seed).
"""


def write_report(
    out_dir: Path,
    *,
    scenario: str,
    seed: int,
    run_dir: str,
    processes: list[dict],
    tables: dict[str, pd.DataFrame],
    extra: dict | None = None,
) -> dict:
    """Compute the summary and write summary.json, ``<table>.parquet`` and report.md.

    ``tables`` must hold ``orders`` and ``fills``; every table in it is written as Parquet next to
    the computed ``regime_summary``, ``size_buckets`` and ``routing``. Keys of ``extra`` are added
    to summary.json (they may not replace computed ones). Returns the summary as written.
    """
    _check_inputs(tables, extra)
    orders, fills = tables["orders"], tables["fills"]
    computed = {
        "regime_summary": regime_table(orders, fills),
        "size_buckets": size_bucket_table(orders, fills),
        "routing": routing_table(orders, fills),
    }
    regimes = regime_summary(orders, fills)
    summary: dict = _jsonable(
        {
            "scenario": str(scenario),
            "seed": int(seed),
            "run_dir": str(run_dir),
            "processes": [_process(p) for p in processes],
            "regimes": regimes,
            "size_buckets": _nested(computed["size_buckets"], "size_bucket"),
            "routing": _nested(computed["routing"], "destination"),
            "comparisons": [c.to_dict() for c in _compare(orders, fills, list(regimes), seed)],
            **(extra or {}),
        }
    )
    _write_files(out_dir, {**tables, **computed}, summary, render_markdown(summary, computed))
    return summary


def _write_files(
    out_dir: Path, tables: dict[str, pd.DataFrame], summary: dict, markdown: str
) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        table.to_parquet(out_dir / f"{name}.parquet", engine="pyarrow", index=False)
    text = json.dumps(summary, indent=2, allow_nan=False) + "\n"
    (out_dir / "summary.json").write_text(text, encoding="utf-8")
    (out_dir / "report.md").write_text(markdown, encoding="utf-8")


def format_regime_table(summary: dict) -> str:
    """Plain fixed-width table of the key metrics, one row per regime, for a terminal."""
    columns: list[Column] = [("regime", "regime", str), *_TERMINAL_COLUMNS]
    rows = [{"regime": name, **values} for name, values in summary["regimes"].items()]
    cells = [[header for header, _, _ in columns]]
    cells += [[fmt(row.get(key)) for _, key, fmt in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = []
    for line in cells:
        padded = [line[0].ljust(widths[0])]
        padded += [cell.rjust(width) for cell, width in zip(line[1:], widths[1:], strict=True)]
        lines.append("  ".join(padded))
    return "\n".join(lines)


def render_markdown(summary: dict, computed: dict[str, pd.DataFrame]) -> str:
    """report.md: run header, per-regime, size-bucket and routing tables, differences, terms."""
    regime_rows = [{"regime": name, **values} for name, values in summary["regimes"].items()]
    regime_column: list[Column] = [("Regime", "regime", str)]
    parts = [
        f"# flowlab report: {summary['scenario']}",
        f"- Scenario: `{summary['scenario']}`\n- Seed: {summary['seed']}\n"
        f"- Run directory: `{summary['run_dir']}`\n"
        f"- Processes: {', '.join(_process_label(p) for p in summary['processes']) or 'none'}",
        "## Execution quality by regime",
        _markdown_table(regime_rows, regime_column + _QUALITY_COLUMNS),
        "## Time to execution and economics by regime",
        _markdown_table(regime_rows, regime_column + _TIMING_COLUMNS),
        "## Execution quality by order size",
        "Rule 605 notional buckets by qty x mid at receipt.",
        _markdown_table(_records(computed["size_buckets"]), _BUCKET_COLUMNS),
        "## Routing by destination",
        "Rule 606 style; % of orders = share of the regime's orders with fills that received a "
        "fill at the destination.",
        _markdown_table(_records(computed["routing"]), _ROUTING_COLUMNS),
        *_differences_section(summary),
        "## Definitions",
        DEFINITIONS,
    ]
    return "\n\n".join(parts).rstrip("\n") + "\n"


def _differences_section(summary: dict) -> list[str]:
    names = list(summary["regimes"])
    title = f"## Differences vs {names[0]}" if names else "## Differences"
    if len(names) < 2:
        return [title, "Only one regime ran; there is nothing to compare."]
    columns: list[Column] = [
        ("Metric", "metric", str),
        ("Regime", "regime_b", str),
        (names[0], "value_a", _number(4)),
        ("Regime value", "value_b", _number(4)),
        ("Difference", "difference", _number(4, signed=True)),
        ("95% CI low", "ci_low", _number(4, signed=True)),
        ("95% CI high", "ci_high", _number(4, signed=True)),
        ("Significant", "significant", lambda v: "yes" if v else "no"),
    ]
    verdicts = [_verdict(c) for c in summary["comparisons"]]
    return [title, _markdown_table(summary["comparisons"], columns), "\n".join(verdicts)]


def _verdict(comparison: dict) -> str:
    head = f"- {comparison['regime_b']} vs {comparison['regime_a']}, {comparison['metric']}:"
    if comparison["difference"] is None or comparison["ci_low"] is None:
        return f"{head} not computable (a regime has no fills with an NBBO)."
    fmt = _number(4, signed=True)
    body = (
        f"{head} difference {fmt(comparison['difference'])} "
        f"(95% CI {fmt(comparison['ci_low'])} to {fmt(comparison['ci_high'])})"
    )
    if comparison["significant"]:
        return f"{body}, significant (the CI excludes 0)."
    return f"{body}, not significant (the CI includes 0)."


def _compare(
    orders: pd.DataFrame, fills: pd.DataFrame, regimes: list[str], seed: int
) -> list[RegimeDifference]:
    return [
        regime_difference(fills, orders, regimes[0], other, metric, n_boot=N_BOOT, seed=seed)
        for other in regimes[1:]
        for metric in COMPARED_METRICS
    ]


def _markdown_table(rows: Sequence[dict], columns: list[Column]) -> str:
    if not rows:
        return "_No rows._"
    header = "| " + " | ".join(h for h, _, _ in columns) + " |"
    rule = "|" + "|".join("---" if fmt is str else "---:" for _, _, fmt in columns) + "|"
    body = ["| " + " | ".join(fmt(row.get(key)) for _, key, fmt in columns) + " |" for row in rows]
    return "\n".join([header, rule, *body])


def _records(table: pd.DataFrame) -> list[dict]:
    return _jsonable(table.to_dict(orient="records"))


def _nested(table: pd.DataFrame, key: str) -> dict[str, dict[str, dict]]:
    """``{regime: {key value: {metric: value}}}`` from a flat table."""
    nested: dict[str, dict[str, dict]] = {}
    for row in _records(table):
        regime, name = str(row.pop("regime")), str(row.pop(key))
        nested.setdefault(regime, {})[name] = row
    return nested


def _check_inputs(tables: dict[str, pd.DataFrame], extra: dict | None) -> None:
    missing = [name for name in ("orders", "fills") if name not in tables]
    if missing:
        raise ValueError(f"cannot write report: tables lacks {missing}")
    for name in tables:
        if name in COMPUTED_TABLES or not _TABLE_NAME.fullmatch(name):
            raise ValueError(f"cannot write report: table name {name!r} is reserved or unsafe")
    clashes = sorted(set(extra or {}) & set(_SUMMARY_KEYS))
    if clashes:
        raise ValueError(f"cannot write report: extra would replace computed keys {clashes}")


def _process(process: dict) -> dict:
    try:
        head = {"name": str(process["name"]), "role": str(process["role"])}
        return {**process, **head, "pid": int(process["pid"])}
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"cannot write report: bad process entry {process!r}") from e


def _process_label(process: dict) -> str:
    return f"{process['name']} ({process['role']}, pid {process['pid']})"


def _jsonable(value: Any) -> Any:
    """Plain JSON values: numpy scalars unwrapped, NaN/inf/NA -> None, paths -> str."""
    match value:
        case dict():
            return {str(k): _jsonable(v) for k, v in value.items()}
        case list() | tuple():
            return [_jsonable(v) for v in value]
        case np.generic():
            return _jsonable(value.item())
        case bool() | int() | str() | None:
            return value
        case float():
            return value if math.isfinite(value) else None
        case Path():
            return str(value)
    if value is pd.NA or value is pd.NaT:
        return None
    raise TypeError(f"cannot write report: {type(value).__name__} is not JSON-serialisable")
