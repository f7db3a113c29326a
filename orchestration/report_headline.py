"""The report's first section: the answer. Each regime against the first, metric by metric,
with its 95% interval and one plain sentence; then the Rule 605 summary at a glance.

The interval a reading rests on is said in every row: with one replication it resamples orders
within that one run (run-to-run variation of the live market is not in it, so it is narrower
than the truth: docs/ECONOMICS.md "What the lab finds"); with 2 or more replications the
replication-level interval (a cluster bootstrap over independent labs) is the one read.
"""

from __future__ import annotations

import pandas as pd

from orchestration.report_labels import BETTER, METRICS, NOUNS, metric_label
from orchestration.report_render import (
    Block,
    Bullets,
    Column,
    Heading,
    Table,
    Text,
    percent,
    text,
)
from orchestration.report_rules import SUMMARY_COLUMNS

OES_ALL = "<$200k (all)"  # the Rule 605 summary's aggregate of every size below $200,000
HEADLINE_TITLE = "The answer: how the regimes differ"
ONE_RUN = (
    "one replication, so no interval over replications; `flowlab compare --repeat 5` or "
    "`flowlab sweep` gives one"
)


def headline_blocks(
    summary: dict, computed: dict[str, pd.DataFrame], warnings: tuple[str, ...] = ()
) -> list[Block]:
    """The headline section: ``warnings`` (a broken run, ...) if any, the comparison table, what
    its intervals cover, then the Rule 605 summary's aggregate rows."""
    blocks: list[Block] = [Heading(2, HEADLINE_TITLE)]
    if warnings:
        blocks.append(Bullets(warnings))
    if len(summary["regimes"]) < 2:
        blocks.append(Text("Only one regime ran; there is nothing to compare."))
    else:
        rows = [_row(c) for c in summary["comparisons"]]
        blocks += [
            Table(rows, HEADLINE_COLUMNS, {"rep_interval": ONE_RUN}),
            Text(_interval_note(summary["comparisons"])),
        ]
    return [*blocks, Text(_scope(summary)), *_rule605_glance(computed)]


HEADLINE_COLUMNS: list[Column] = [
    ("Measure", "label", str),
    ("Regimes", "pair", str),
    ("First regime", "value_a", str),
    ("Other regime", "value_b", str),
    ("Difference (other - first)", "difference", str),
    ("95% interval, orders in the run", "order_interval", text),
    ("95% interval, replications", "rep_interval", text),
    ("Reading", "reading", str),
]


def _scope(summary: dict) -> str:
    regimes = summary["regimes"]
    counts = ", ".join(f"{name} {values.get('orders', 0):,}" for name, values in regimes.items())
    design = summary.get("design") or {}
    burn_in = (summary.get("burn_in") or {}).get("seconds") or 0
    after = f" after a burn-in of {burn_in:g} s" if burn_in else ""
    repeat = design.get("repeat", 1) if isinstance(design, dict) else 1
    kind = design.get("design", "random") if isinstance(design, dict) else "random"
    return (
        f"Orders measured{after}: {counts}; {repeat} replication{'s' if repeat != 1 else ''}, "
        f"{kind} design. Prices and per-share amounts in $ per share; spreads also in bps "
        "of the midpoint at the broker's receipt. Every figure is defined at the end "
        "(Definitions); the run's details are in the appendix."
    )


def _interval_note(comparisons: list[dict]) -> str:
    replications = max((int(c.get("replications") or 0) for c in comparisons), default=0)
    if replications >= 2:
        return (
            f"Each row is read on its interval over the {replications} replications (independent "
            "labs resampled whole: the interval to cite). The interval over orders resamples "
            "orders within each run; it leaves out run-to-run variation, so it is narrower."
        )
    return (
        "One replication: each interval resamples orders within this one run, so it leaves out "
        "run-to-run variation of the live market and is narrower than an interval over "
        "independent labs. A difference it excludes zero for is a difference in this run; "
        "to claim one between the regimes, replicate (`--repeat 5`)."
    )


def _row(comparison: dict) -> dict:
    metric = str(comparison["metric"])
    fmt = _formatter(metric)
    a, b = comparison["regime_a"], comparison["regime_b"]
    rep = comparison.get("rep_ci_low") is not None and comparison.get("rep_ci_high") is not None
    return {
        "label": metric_label(metric),
        "pair": f"{b} - {a}",
        "value_a": f"{a}: {fmt(comparison.get('value_a'), False)}",
        "value_b": f"{b}: {fmt(comparison.get('value_b'), False)}",
        "difference": fmt(comparison.get("difference"), True),
        "order_interval": _interval(comparison.get("ci_low"), comparison.get("ci_high"), fmt),
        "rep_interval": (
            _interval(comparison["rep_ci_low"], comparison["rep_ci_high"], fmt) if rep else None
        ),
        "reading": reading(comparison),
    }


def reading(comparison: dict) -> str:
    """One plain sentence: which regime did better by how much, or that no difference was
    detected, and which interval says so."""
    metric = str(comparison["metric"])
    a, b = comparison["regime_a"], comparison["regime_b"]
    difference = comparison.get("difference")
    rep = comparison.get("rep_ci_low") is not None and comparison.get("rep_ci_high") is not None
    low, high = (
        (comparison["rep_ci_low"], comparison["rep_ci_high"])
        if rep
        else (comparison.get("ci_low"), comparison.get("ci_high"))
    )
    if difference is None or low is None or high is None:
        return "not computable: a regime has no fills with an NBBO (or no mark at the horizon)"
    basis = (
        f"the interval over {comparison.get('replications')} replications"
        if rep
        else "the interval over orders in this run"
    )
    if low <= 0 <= high:
        return f"no difference detected: {basis} includes zero"
    more = "more" if difference > 0 else "less"
    noun = NOUNS.get(metric, metric_label(metric).split(",")[0].lower())
    amount = _formatter(metric)(abs(difference), False)
    sentence = f"{b} had {amount} {more} {noun} than {a}; {basis} excludes zero"
    better = BETTER.get(metric, 0) * (1 if difference > 0 else -1)
    if better:
        sentence += f" ({'better' if better > 0 else 'worse'} for the investor)"
    significant = comparison.get("significant")
    if significant is not None:
        sentence += (
            "; significant after Holm's correction"
            if significant
            else "; not significant after Holm's correction"
        )
    return sentence


def _formatter(metric: str):
    unit, places = (METRICS[metric][1], METRICS[metric][2]) if metric in METRICS else ("", 4)

    def format_value(value: object, signed: bool) -> str:
        if value is None or (isinstance(value, float) and value != value):
            return "n/a"
        v = float(value)  # type: ignore[arg-type]
        if metric == "fill_rate":
            return f"{100 * v:+.1f} pp" if signed else percent(v)
        sign = "+" if signed and v >= 0 else ("-" if v < 0 else "")
        text = f"{abs(v):,.{places}f}"
        match unit:
            case "$/share":
                return f"{sign}${text}/share"
            case "":
                return f"{sign}{text}"
            case _:
                return f"{sign}{text} {unit}"

    return format_value


def _interval(low: object, high: object, fmt) -> str | None:
    if low is None or high is None:
        return None
    return f"{fmt(low, True)} to {fmt(high, True)}"


# the Rule 605 summary's own columns (report_rules), less month, size and averages of size
GLANCE_KEYS = (
    "regime",
    "stock_class",
    "order_type",
    "covered_orders",
    "at_quote_or_better_share",
    "price_improved_share",
    "weighted_avg_price_improvement_bps",
    "avg_effective_spread_bps",
    "avg_quoted_spread_bps",
    "eq_ratio",
    "avg_time_to_execution_ms",
)
GLANCE_COLUMNS: list[Column] = [c for c in SUMMARY_COLUMNS if c[1] in GLANCE_KEYS]


def _rule605_glance(computed: dict[str, pd.DataFrame]) -> list[Block]:
    table = computed.get("rule605_summary")
    if table is None or table.empty or "size_bucket" not in table.columns:
        return []
    rows = table[table["size_bucket"] == OES_ALL]
    return [
        Heading(3, "Rule 605 summary at a glance"),
        Text(
            "The amended Rule 605 summary report's aggregate rows (every order size below "
            "$200,000) per regime, class of stock and order type; by size further down "
            "(Rule 605 as amended in 2024: summary report)."
        ),
        Table(
            rows.astype(object).where(rows.notna(), None).to_dict(orient="records"), GLANCE_COLUMNS
        ),
    ]
