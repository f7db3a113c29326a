"""A run's report: ``summary.json``, every table as Parquet, plots, ``report.md``, ``report.html``.

Columns, units and the JSON schema are documented in docs/TABLES.md and docs/REPORTS.md; the
metrics come from ``orchestration.metrics``, ``routing`` and ``economics``; the layout from
``orchestration.report_text``.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from orchestration.economics import (
    auction_summary,
    auction_table,
    economics_table,
    pnl_table,
)
from orchestration.inference import ClusterInterval, assess, cluster_difference, holm
from orchestration.learning import flow_summary, learning_summary, markup_summary
from orchestration.market_quality import market_quality
from orchestration.metrics import (
    COMPARABLE_METRICS,
    RegimeDifference,
    _group_metrics,
    after_burn_in,
    order_table,
    regime_difference,
    split_table,
)
from orchestration.realism import realism_table
from orchestration.reg_nms import reg_nms_summary
from orchestration.report_render import to_html, to_markdown
from orchestration.report_text import DEFINITIONS, build_blocks, format_regime_table, verdict
from orchestration.routing import routing_table
from orchestration.rule605 import not_covered_table, rule605_orders, rule605_table
from orchestration.rule605_summary import rule605_summary_table
from orchestration.rule606 import Arrangements, material_aspects, rule606_tables
from orchestration.welfare import welfare_summary, welfare_tables
from orchestration.who_gained import who_gained

__all__ = ["COMPUTED_TABLES", "DEFINITIONS", "format_regime_table", "verdict", "write_report"]

COMPUTED_TABLES = (
    "regime_summary",
    "size_buckets",
    "order_types",
    "rule605",
    "rule605_summary",
    "rule605_not_covered",
    "routing",
    "rule606_orders",
    "rule606",
    "economics",
    "who_gained",
    "auction_outcomes",
    "pnl_by_process",
    "comparisons",
    "market_quality",
    "replications",
    "markup_learning",
    "flow_competition",
    "welfare",
    "welfare_reconciliation",
    "realism",
)
COMPARED_METRICS = (
    "price_improvement_usd_per_share",
    "eq_ratio",
    "effective_spread_bps",
    "all_in_cost_usd_per_share",
    "realized_spread_bps_1s",
    "fill_rate",
    "time_to_execution_ms_mean",
)
N_BOOT = 1000
_SUMMARY_KEYS = (
    "scenario",
    "seed",
    "run_dir",
    "burn_in",
    "processes",
    "regimes",
    "size_buckets",
    "order_types",
    "routing",
    "rule605",
    "rule605_summary",
    "rule605_not_covered",
    "rule606_orders",
    "rule606",
    "rule606_material_aspects",
    "economics",
    "who_gained",
    "auction_summary",
    "comparisons",
    "learning",
    "welfare",
    "welfare_reconciliation",
    "tape_anomalies",
    "realism",
    "reg_nms",
)
_TABLE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def write_report(
    out_dir: Path,
    *,
    scenario: str,
    seed: int,
    run_dir: str,
    processes: list[dict],
    tables: dict[str, pd.DataFrame],
    extra: dict | None = None,
    plots: bool = True,
    n_boot: int = N_BOOT,
    regime_order: list[str] | None = None,
    burn_in_s: float = 0.0,
    arrangements: Arrangements | None = None,
    security: str = "curve",
) -> dict:
    """Compute the summary and write summary.json, ``<table>.parquet``, report.md/.html, plots.

    ``tables`` must hold ``orders`` and ``fills``; ``nbbo`` (realized spreads, latency cost),
    ``routes`` (Rule 606), ``auctions``, ``pnl``, ``latency``, ``values``, ``markups``,
    ``dealer_states`` and ``scorecards`` (learning and competition) are used when present.
    Every table is written as Parquet next to the computed ones. Keys of ``extra`` are added to
    summary.json (they may not replace computed ones; ``design`` is shown in the report).
    Regimes appear in ``regime_order`` (then by first appearance); differences are against the
    first. Orders in the first ``burn_in_s`` seconds of each replication are left out of the
    execution-quality tables (``[stream] burn_in_s``). ``arrangements`` (from the scenario:
    ``orchestration.rule606.arrangements_from_scenario``) give the S&P 500 symbols and each
    destination's payment terms for the Rule 605/606 reports. ``security`` is the run's
    ``[security] mode`` (``"none"``: the report says its sockets were unauthenticated). Returns
    the summary as written.
    """
    _check_inputs(tables, extra)
    computed = compute_tables(
        tables,
        seed=seed,
        n_boot=n_boot,
        regime_order=regime_order,
        burn_in_s=burn_in_s,
        arrangements=arrangements,
    )
    # compute_tables measured the orders after the burn-in: every one is in a regime's row
    measured = int(computed["regime_summary"]["orders"].sum())
    summary: dict = _jsonable(
        {
            "scenario": str(scenario),
            "seed": int(seed),
            "run_dir": str(run_dir),
            "security": str(security),
            "burn_in": {
                "seconds": float(burn_in_s),
                "orders_measured": measured,
                "orders_excluded": len(tables["orders"]) - measured,
            },
            "processes": [_process(p) for p in processes],
            "regimes": _keyed(computed["regime_summary"], "regime"),
            "size_buckets": _nested(computed["size_buckets"], "size_bucket"),
            "order_types": _nested(computed["order_types"], "order_class"),
            "routing": _nested(computed["routing"], "destination"),
            "rule605": _records(computed["rule605"]),
            "rule605_summary": _records(computed["rule605_summary"]),
            "rule605_not_covered": _records(computed["rule605_not_covered"]),
            "rule606_orders": _records(computed["rule606_orders"]),
            "rule606": _records(computed["rule606"]),
            "rule606_material_aspects": material_aspects(computed["rule606"], arrangements),
            "economics": _keyed(computed["economics"], "regime"),
            "who_gained": _records(computed["who_gained"]),
            "auction_summary": auction_summary(tables.get("auctions")),
            "comparisons": _records(computed["comparisons"]),
            "market_quality": _records(computed["market_quality"]),
            "learning": learning_summary(computed["markup_learning"], computed["flow_competition"]),
            "welfare": welfare_summary(computed["welfare"]),
            "welfare_reconciliation": _records(computed["welfare_reconciliation"]),
            # tape entries the reader skipped (malformed; orchestration/tape.py read_tape)
            "tape_anomalies": len(tables["tape_anomalies"]) if "tape_anomalies" in tables else 0,
            # stylized facts of the market, per symbol (orchestration/realism.py)
            "realism": _records(computed["realism"]),
            # order protection at execution (orchestration/reg_nms.py)
            "reg_nms": reg_nms_summary(tables),
            **(extra or {}),
        }
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    images: dict[str, bytes] = {}
    if plots:
        from orchestration.plots import render_plots  # matplotlib only when drawing

        images = render_plots(tables, computed, out_dir)
    blocks = build_blocks(summary, computed)
    _write_files(out_dir, {**tables, **computed}, summary)
    (out_dir / "report.md").write_text(to_markdown(blocks, images), encoding="utf-8")
    title = f"flowlab report: {summary['scenario']}"
    (out_dir / "report.html").write_text(
        to_html(blocks, images, title, headline=True), encoding="utf-8"
    )
    return summary


def compute_tables(
    tables: dict[str, pd.DataFrame],
    *,
    seed: int = 0,
    n_boot: int = N_BOOT,
    regime_order: list[str] | None = None,
    burn_in_s: float = 0.0,
    arrangements: Arrangements | None = None,
) -> dict[str, pd.DataFrame]:
    """Every computed table of the report (names in ``COMPUTED_TABLES``); the execution-quality
    ones over the orders after the burn-in, welfare and market quality over the whole run."""
    orders, nbbo = after_burn_in(tables["orders"], burn_in_s), tables.get("nbbo")
    fills = tables["fills"][tables["fills"]["order_id"].isin(orders["order_id"])]
    regimes = list(dict.fromkeys([*(regime_order or []), *orders["regime"]]))
    regimes = [r for r in regimes if r in set(orders["regime"])]
    per_order = _in_order(order_table(orders, fills, nbbo), regimes)
    economics = _in_order(economics_table(orders, fills, nbbo), regimes)
    rule605_per_order = rule605_orders(orders, fills, nbbo)
    sp500 = arrangements.sp500 if arrangements else frozenset()
    rule606_orders, rule606 = rule606_tables(orders, fills, tables.get("routes"), arrangements)
    computed = {
        "regime_summary": _group_metrics(per_order, ["regime"]).reset_index(),
        "size_buckets": split_table(per_order, ["size_bucket"]),
        "order_types": split_table(per_order, ["order_class"]),
        # Rule 605 as amended in 2024 (orchestration/rule605.py): detail and summary reports
        "rule605": rule605_table(rule605_per_order),
        "rule605_summary": rule605_summary_table(rule605_per_order, sp500),
        "rule605_not_covered": not_covered_table(rule605_per_order),
        "routing": routing_table(orders, fills),
        "rule606_orders": rule606_orders,
        "rule606": rule606,
        "economics": economics,
        "auction_outcomes": auction_table(tables.get("auctions")),
        "pnl_by_process": pnl_table(tables.get("pnl")),
        "comparisons": _comparisons(per_order, regimes, seed, n_boot),
        "market_quality": market_quality(tables),
        "realism": realism_table(tables),
        # every regime's metrics in each replication: how much a rerun moves them
        "replications": _group_metrics(per_order, ["regime", "replication"])
        .reset_index()
        .sort_values(["replication"], kind="stable")
        .reset_index(drop=True),
        # dealers' markups per channel, and the broker's scorecard moving flow between them
        "markup_learning": markup_summary(tables.get("markups"), tables.get("dealer_states")),
        "flow_competition": flow_summary(tables.get("scorecards")),
    }
    computed["welfare"], computed["welfare_reconciliation"] = welfare_tables(tables)
    for name in (
        "rule605",
        "rule605_summary",
        "rule605_not_covered",
        "routing",
        "rule606_orders",
        "rule606",
        "replications",
        "welfare",
    ):
        computed[name] = _in_order(computed[name], regimes)
    # the welfare accounting added up by kind of party: each regime sums to zero
    computed["who_gained"] = who_gained(computed["welfare"])
    return computed


def _in_order(table: pd.DataFrame, regimes: list[str]) -> pd.DataFrame:
    """Rows stably sorted by the regime's position in ``regimes``."""
    if table.empty or "regime" not in table.columns:
        return table
    rank = table["regime"].map({r: i for i, r in enumerate(regimes)}).fillna(len(regimes))
    return table.iloc[np.argsort(rank.to_numpy(), kind="stable")].reset_index(drop=True)


def _comparisons(
    per_order: pd.DataFrame, regimes: list[str], seed: int, n_boot: int
) -> pd.DataFrame:
    results: list[RegimeDifference] = [
        regime_difference(
            pd.DataFrame(),
            pd.DataFrame(),
            regimes[0],
            other,
            metric,
            n_boot=n_boot,
            seed=seed,
            per_order=per_order,
        )
        for other in regimes[1:]
        for metric in COMPARED_METRICS
    ]
    columns = list(RegimeDifference.__dataclass_fields__)
    table = pd.DataFrame([r.to_dict() for r in results], columns=columns)
    return _with_replication_tests(table, per_order, seed)


def _with_replication_tests(
    table: pd.DataFrame, per_order: pd.DataFrame, seed: int
) -> pd.DataFrame:
    """Each comparison's replication-level interval (a cluster bootstrap over replications, when
    there are 2 or more), the Holm-adjusted p over all of them, and the design-aware verdict:
    ``significant`` is None (not assessed) below ``MIN_REPLICATIONS`` replications."""
    tests = [
        _replication_test(
            per_order, str(row["metric"]), str(row["regime_a"]), str(row["regime_b"]), seed
        )
        for row in table.to_dict(orient="records")
    ]
    table = table.assign(
        replications=pd.Series([t.clusters for t in tests], dtype="int64"),
        rep_ci_low=pd.Series([t.ci_low for t in tests], dtype="object"),
        rep_ci_high=pd.Series([t.ci_high for t in tests], dtype="object"),
        rep_p_value=pd.Series([t.p_value for t in tests], dtype="object"),
    )
    adjusted = holm([t.p_value for t in tests])
    table["p_holm"] = pd.Series(adjusted, dtype="object")
    verdicts = [assess(p, t.clusters) for p, t in zip(adjusted, tests, strict=True)]
    table["significant"] = pd.Series([v for v, _ in verdicts], dtype="object")
    table["significance"] = [note for _, note in verdicts]
    return table


def _replication_test(
    per_order: pd.DataFrame, metric: str, a: str, b: str, seed: int
) -> ClusterInterval:
    """``b - a`` with the replications resampled (replications where both regimes traded)."""
    top, bottom, scale = COMPARABLE_METRICS[metric]
    mine = per_order[per_order["regime"].isin([a, b])]
    sums = mine.groupby(["replication", "regime"])[[top, bottom]].sum().unstack("regime").dropna()
    if sums.empty or a not in sums[top] or b not in sums[top]:
        return cluster_difference([], [], [], [])
    return cluster_difference(
        sums[top][a], sums[bottom][a], sums[top][b], sums[bottom][b], scale=scale, seed=seed
    )


def _write_files(out_dir: Path, tables: dict[str, pd.DataFrame], summary: dict) -> None:
    for name, table in tables.items():
        table.to_parquet(out_dir / f"{name}.parquet", engine="pyarrow", index=False)
    text = json.dumps(summary, indent=2, allow_nan=False) + "\n"
    (out_dir / "summary.json").write_text(text, encoding="utf-8")


def _records(table: pd.DataFrame) -> list[dict]:
    return _jsonable(table.to_dict(orient="records"))


def _keyed(table: pd.DataFrame, key: str) -> dict[str, dict]:
    """``{key value: {column: value}}``; integer counts stay integers."""
    out = {}
    for row in _records(table):
        out[str(row.pop(key))] = row
    return out


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
