"""The report's layout: which tables, in which order, with which columns and words.

``build_blocks`` turns the summary and the computed tables into blocks that
``orchestration.report_render`` writes as Markdown and as HTML.
"""

from __future__ import annotations

import pandas as pd

from orchestration.faults import state_lines
from orchestration.inference import format_p
from orchestration.learning import FLOW_DEFINITION, SETTLE_PERIODS, SETTLED_DEFINITION
from orchestration.markouts import HORIZONS
from orchestration.realism_report import realism_blocks
from orchestration.report_headline import ONE_RUN, headline_blocks
from orchestration.report_labels import metric_label, words
from orchestration.report_render import (
    AFTER_RUN,
    Block,
    Bullets,
    Column,
    Heading,
    Image,
    Table,
    Text,
    number,
    percent,
)
from orchestration.report_rules import rule605_blocks, rule606_blocks
from orchestration.welfare import welfare_blocks
from orchestration.who_gained import who_gained_blocks


def count(value: object) -> str:
    return "n/a" if value is None else f"{value:,}"


def significant(value: object) -> str:
    """4 significant digits, signed (differences and their intervals)."""
    if value is None or (isinstance(value, float) and value != value):
        return "n/a"
    return f"{float(value):+.4g}"  # type: ignore[arg-type]


def _p_value(value: object) -> str:
    """``< 0.001`` or ``= 0.012`` (after a ``p``)."""
    if value is None or (isinstance(value, float) and value != value):
        return "n/a"
    return format_p(float(value)).removeprefix("p ")  # type: ignore[arg-type]


REGIME: Column = ("Regime", "regime", str)
MARKET_COLUMNS: list[Column] = [
    ("Symbol", "symbol", str),
    ("Venue", "venue", str),
    ("Quoted spread bps", "quoted_spread_bps", number(2)),
    ("Top depth", "top_depth_shares", number(0)),
    ("Volume", "volume_shares", number(0)),
    ("Trades", "trades", number(0)),
    ("Locked/crossed", "locked_crossed_share", percent),
    ("NBBO upd/s", "nbbo_updates_per_s", number(1)),
    ("Mid-value RMS bps", "mid_value_rms_bps", number(2)),
]
QUALITY_COLUMNS: list[Column] = [
    ("Orders", "orders", count),
    ("Terminal", "terminal_orders", count),
    ("Filled orders", "filled_orders", count),
    ("Fill rate", "fill_rate", percent),
    ("Filled shares", "filled_shares", count),
    ("Price improvement, $/share", "price_improvement_usd_per_share", number(4)),
    ("Price improvement, bps", "price_improvement_bps", number(2)),
    ("Effective spread, $/share", "effective_spread_usd_per_share", number(4)),
    ("Effective spread, bps", "effective_spread_bps", number(2)),
    ("Quoted spread, bps", "quoted_spread_bps", number(2)),
    ("E/Q", "eq_ratio", number(3)),
    ("Orders improved", "share_orders_improved", percent),
    ("Orders at the quote", "share_orders_at_quote", percent),
    ("Orders outside the quote", "share_orders_outside_quote", percent),
]
TIMING_COLUMNS: list[Column] = [
    ("Time to execution, mean, ms", "time_to_execution_ms_mean", number(3)),
    ("Time to execution, median, ms", "time_to_execution_ms_p50", number(3)),
    ("Time to execution, 99th percentile, ms", "time_to_execution_ms_p99", number(3)),
    ("PFOF paid, $", "pfof_paid_usd", number(2)),
    ("Fees, $", "fees_usd", number(2)),
    ("Commissions, $", "commissions_usd", number(2)),
    ("Cost vs the midpoint, $", "retail_cost_vs_mid_usd", number(2)),
    ("All-in cost, $/share", "all_in_cost_usd_per_share", number(4)),
]
_BY_KEY = {key: (h, key, fmt) for h, key, fmt in QUALITY_COLUMNS + TIMING_COLUMNS}
_SPLIT_KEYS = (
    "orders",
    "fill_rate",
    "filled_shares",
    "price_improvement_usd_per_share",
    "price_improvement_bps",
    "effective_spread_bps",
    "quoted_spread_bps",
    "eq_ratio",
    "share_orders_improved",
    "share_orders_outside_quote",
    "time_to_execution_ms_mean",
    "time_to_execution_ms_p50",
    "time_to_execution_ms_p99",
)
TYPE: Column = ("Order type", "order_class", str)
SIZE: Column = ("Size", "size_bucket", str)
EXECUTING_COLUMNS: list[Column] = [
    REGIME,
    ("Destination", "destination", str),
    ("Orders", "orders", count),
    ("% of orders", "order_share", percent),
    ("Shares", "shares", count),
    ("PFOF, $", "pfof_usd", number(2)),
    ("Fees, $", "fees_usd", number(2)),
    ("Net PFOF, $", "net_pfof_usd", number(2)),
    ("Net PFOF, cents per 100 shares", "net_pfof_cents_per_100_shares", number(2)),
]
ECONOMICS_COLUMNS: list[Column] = [
    REGIME,
    ("Filled shares", "filled_shares", count),
    ("Cost vs the midpoint, $", "retail_cost_vs_mid_usd", number(2)),
    ("Commissions, $", "commissions_usd", number(2)),
    ("Investor all-in cost, $", "total_retail_cost_usd", number(2)),
    ("PFOF, $", "pfof_usd", number(2)),
    ("Venue fees, $", "fees_usd", number(2)),
    ("Broker revenue, $", "broker_revenue_usd", number(2)),
    ("Wholesaler markout at 1 s, $", "wholesaler_markout_1s_usd", number(2)),
    ("Wholesaler net at 1 s, $", "wholesaler_net_1s_usd", number(2)),
    ("Latency cost, $", "latency_cost_usd", number(2)),
    ("Latency cost, $/share", "latency_cost_usd_per_share", number(5)),
]
TERMINAL_COLUMNS: list[Column] = [
    ("orders", "orders", count),
    ("filled", "filled_orders", count),
    ("fill", "fill_rate", percent),
    ("PI $/sh", "price_improvement_usd_per_share", number(4)),
    ("PI bps", "price_improvement_bps", number(2)),
    ("eff bps", "effective_spread_bps", number(2)),
    ("E/Q", "eq_ratio", number(3)),
    ("TTE p50 ms", "time_to_execution_ms_p50", number(2)),
    ("TTE p99 ms", "time_to_execution_ms_p99", number(2)),
    ("PFOF $", "pfof_paid_usd", number(2)),
    ("cost vs mid $", "retail_cost_vs_mid_usd", number(2)),
]
PLOTS = (
    ("price_improvement", "Price improvement per fill ($ per share, share-weighted), by regime"),
    ("effective_spread_by_size", "Effective spread (bps) by notional size bucket"),
    ("time_to_execution_cdf", "Time to execution, cumulative distribution"),
    ("revenue_vs_cost", "Broker revenue against the investor's all-in cost, per 100 shares"),
    ("latency_by_hop", "Latency by hop (ms), one panel and scale per hop"),
    ("market_and_fills", "NBBO and latent value over the run, retail fills marked"),
)

DEFINITIONS = (
    "All execution-quality metrics are measured against the NBBO at broker receipt (Rule 605 "
    "style); D = +1 for buys, -1 for sells; mid = (bid + ask) / 2. Fills of orders with no "
    "two-sided NBBO at receipt are left out of NBBO-relative metrics but count in filled shares.",
    "**Order types**: market; marketable limit (limit at or through the far touch at receipt); "
    "non-marketable limit; limit orders without an NBBO at receipt are shown apart.",
    "**Fill rate**: filled shares / ordered shares (share-weighted, not the share of orders).",
    "**Price improvement (PI)**: ask - price for buys, price - bid for sells; share-weighted, "
    "$/share and bps of the mid (each fill against its own mid).",
    "**Effective spread**: 2 * D * (price - mid), share-weighted. **Quoted spread**: ask - bid. "
    "**E/Q**: effective / quoted spread, both in $.",
    "**Improved / at quote / outside quote**: each order's average fill price against the far "
    "side of the NBBO, as shares of orders with fills and an NBBO.",
    "**Realized spread at h**: 2 * D * (price - mid h later), share-weighted, using the last "
    "two-sided NBBO published at or before execution + h; a horizon ending after the run's last "
    "NBBO update is **unavailable** (coverage = share of NBBO-filled shares that have a mark).",
    "**Time to execution (TTE)**: per order with fills, broker receipt to the execution of its "
    "last fill (ms); mean, median and 99th percentile over orders.",
    "**PFOF**: paid to the broker; **fees**: venue fees charged (rebates negative); "
    "**commissions**: charged to the investor by the broker; **net PFOF** = PFOF - fees.",
    "**Cost vs mid**: sum of D * (price - mid) * qty in $ (positive = cost to the investor); "
    "**all-in cost** adds commissions; per share over NBBO-filled shares.",
    "**Broker revenue** = PFOF + commissions - fees. **Wholesaler markout 1s** = D * (price - "
    "mid 1 s later) * qty on internalised and auction fills, **net** of the PFOF they paid.",
    "**Latency cost** = D * (mid at execution - mid at receipt) * qty: how far the market moved "
    "against the investor while the order travelled or waited (e.g. in an auction).",
    "**Rule 605 as amended in 2024** (its own sections): covered orders by type (market, "
    "marketable limit, marketable IOC, midpoint-or-better, executable non-marketable limits "
    "timed from when they became executable), fractional / odd-lot / round-lot order and "
    "notional size; time to execution share-weighted over every fill; E/Q = average effective "
    "/ average quoted spread; realized spread at 50 ms, 1 s, 15 s, 1 min, 5 min, with a note "
    "when the run ended before the horizon. **Rule 606(a)(1)**: per month and S&P 500 / other "
    "NMS class; net payment = PFOF received - fees paid (rebates received count).",
    "**Differences**: regime minus the first regime; 95% percentile bootstrap CI over orders "
    "resampled with replacement within regime and replication (paired when the same stream ran "
    "under each regime), seeded with the run's seed; z = difference / bootstrap standard error, "
    "p two-sided bootstrap (2 x the share of resampled differences on the far side of 0). This "
    "interval leaves out run-to-run variance. **Over replications** (with 2 or more): a cluster "
    "bootstrap that resamples replications (the unit of independence in a live market), "
    "Student t on n - 1 df. **Significant** = the replication-level p, Holm-adjusted over the "
    "report's comparisons, is below 0.05, and only with 5 or more replications; with fewer the "
    "report says the test was not assessed, and why.",
)


def format_regime_table(summary: dict) -> str:
    """Plain fixed-width table of the key metrics, one row per regime, for a terminal."""
    columns: list[Column] = [("regime", "regime", str), *TERMINAL_COLUMNS]
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


REPLICATION_KEYS = (
    "orders",
    "fill_rate",
    "price_improvement_usd_per_share",
    "effective_spread_bps",
    "eq_ratio",
    "share_orders_improved",
    "time_to_execution_ms_p50",
)


def _replications(computed: dict[str, pd.DataFrame]) -> list[Block]:
    """Each regime's headline metrics per replication, when there are several."""
    table = computed.get("replications")
    if table is None or table.empty or table["replication"].nunique() < 2:
        return []
    columns = [
        REGIME,
        ("Replication", "replication", count),
        *[_BY_KEY[k] for k in REPLICATION_KEYS],
    ]
    return [
        Heading(2, "By replication"),
        Text(
            "Each replication is its own lab with derived seeds. How far these move between "
            "replications is the run-to-run variation of the live market; the pooled intervals "
            "above resample orders within each replication, so read them together with this."
        ),
        Table(_records(table), columns),
    ]


def build_blocks(summary: dict, computed: dict[str, pd.DataFrame]) -> list[Block]:
    """The whole report, top to bottom."""
    regime_rows = [{"regime": name, **values} for name, values in summary["regimes"].items()]
    splits = [_BY_KEY[k] for k in _SPLIT_KEYS]
    return [
        Heading(1, f"flowlab report: {summary['scenario']}"),
        *headline_blocks(summary, computed, warning_lines(summary)),
        *_design(summary),
        Heading(2, "Execution quality by regime"),
        Text("Rule 605 style, against the NBBO at the broker's receipt."),
        Table(regime_rows, [REGIME, *QUALITY_COLUMNS]),
        Heading(2, "Realized spreads by regime"),
        Table(
            _realized_rows(regime_rows),
            _realized_columns(),
            {key: AFTER_RUN for _, key, _ in _realized_columns()[2:]},
        ),
        Heading(2, "Time to execution and economics by regime"),
        Table(regime_rows, [REGIME, *TIMING_COLUMNS]),
        *_differences(summary),
        *_replications(computed),
        Heading(2, "Execution quality by order type"),
        Table(_records(computed["order_types"]), [REGIME, TYPE, *splits]),
        Heading(2, "Execution quality by order size"),
        Text("The lab's notional buckets by qty x mid at receipt (the rule's: below)."),
        Table(_records(computed["size_buckets"]), [REGIME, SIZE, *splits]),
        *rule605_blocks(computed),
        *rule606_blocks(summary, computed),
        Heading(2, "Routing by executing destination"),
        Text(
            "From the fills: % of orders = share of the regime's orders with fills that received "
            "a fill there."
        ),
        Table(_records(computed["routing"]), EXECUTING_COLUMNS),
        *_economics(summary, computed),
        *_learning(computed),
        *welfare_blocks(computed),
        Heading(2, "Market quality"),
        Text(
            "The background market per symbol and venue (time-weighted over the run): quoted "
            "spread, depth at the top, volume; for the NBBO, the share of time locked or crossed, "
            "updates per second and how far the mid strays from the latent value (RMS)."
        ),
        Table(_records(computed["market_quality"]), MARKET_COLUMNS)
        if "market_quality" in computed
        else Text("n/a"),
        *realism_blocks(computed),
        Heading(2, "Plots"),
        *(Image(name, title) for name, title in PLOTS),
        Heading(2, "Definitions"),
        Bullets(DEFINITIONS),
        Heading(2, "Appendix: the run"),
        Bullets(_appendix_lines(summary)),
    ]


def _appendix_lines(summary: dict) -> tuple[str, ...]:
    """The run's details: scenario, seed, what was measured, order protection, run dir, PIDs."""
    processes = ", ".join(
        f"{p['name']} ({p['role']}, pid {p['pid']})" for p in summary["processes"]
    )
    burn_in = summary.get("burn_in") or {}
    measured = (
        (
            f"Measured: the {burn_in.get('orders_measured')} orders after a burn-in of "
            f"{burn_in.get('seconds'):g} s ({burn_in.get('orders_excluded')} earlier orders "
            "left out of execution quality; welfare and market quality cover the whole run)",
        )
        if burn_in.get("seconds")
        else ()
    )
    protection = summary.get("reg_nms") or {}
    reg_nms = (
        (
            f"Reg NMS at execution: {protection['trade_throughs']} trade-throughs of "
            f"{protection['executions']} executions (of the quotes each centre checked); "
            f"{protection['stale_nbbo_executions']} against a stale NBBO (outside the SIP's "
            f"last, inside the centre's); "
            f"{protection.get('crossed_market_executions', 0)} resting orders filled while the "
            "market was crossed (Rule 611(b)(4)); "
            f"{protection['unchecked_executions']} unchecked "
            f"(intermarket sweeps); {protection['auction_responses_through_nbbo']} auction "
            "responses not executed because the NBBO moved through them",
        )
        if protection
        else ()
    )
    return (
        f"Scenario: `{summary['scenario']}`",
        f"Seed: {summary['seed']}",
        *measured,
        *reg_nms,
        f"Run directory: `{summary['run_dir']}`",
        f"Processes: {processes or 'none'}",
    )


def warning_lines(summary: dict) -> tuple[str, ...]:
    """What a reader must know before trusting any figure: a broken run, unauthenticated
    sockets, tape entries skipped (shown in the headline; none for a clean run)."""
    skipped = summary.get("tape_anomalies") or 0
    anomalies = (
        (
            f"Tape anomalies: {skipped} malformed tape entries skipped (table "
            "`tape_anomalies`); the figures below are built from the rest",
        )
        if skipped
        else ()
    )
    unauthenticated = (
        (
            "Security: none — this run's sockets were unauthenticated and unencrypted "
            '(`[security] mode = "none"`, chosen explicitly); anyone on its network could '
            "send it orders, control messages and tape entries",
        )
        if summary.get("security") == "none"
        else ()
    )
    return (*state_lines(summary.get("run_state") or {}), *unauthenticated, *anomalies)


def _design(summary: dict) -> list[Block]:
    design = summary.get("design")
    if not isinstance(design, dict):
        return []
    items = [f"Design: **{design.get('design', 'random')}** - {design.get('description', '')}"]
    items.append(
        f"Replications: {design.get('repeat', 1)}; regimes: {', '.join(design.get('regimes', []))}"
    )
    for run in design.get("runs", []):
        items.append(
            f"Run `{run.get('run')}`: regimes {', '.join(run.get('regimes', []))}, "
            f"stream seed {run.get('stream_seed')}, market seed {run.get('market_seed')}, "
            f"{run.get('orders')} orders"
        )
    return [Heading(2, "Experimental design"), Bullets(tuple(items))]


def _realized_columns() -> list[Column]:
    columns: list[Column] = [REGIME, ("NBBO-filled shares", "nbbo_filled_shares", count)]
    for h in HORIZONS:
        columns += [
            (f"Realized spread {h}, $/share", f"rs_usd_{h}", str),
            (f"Realized spread {h}, bps", f"rs_bps_{h}", str),
        ]
    return columns


def _realized_rows(regime_rows: list[dict]) -> list[dict]:
    rows = []
    for row in regime_rows:
        out = {"regime": row["regime"], "nbbo_filled_shares": row.get("nbbo_filled_shares")}
        for h in HORIZONS:
            coverage = row.get(f"realized_spread_coverage_{h}")
            usd = row.get(f"realized_spread_usd_per_share_{h}")
            if not coverage or usd is None:
                out[f"rs_usd_{h}"] = out[f"rs_bps_{h}"] = "unavailable"
                continue
            note = "" if coverage >= 0.9995 else f" ({percent(coverage)} of shares)"
            out[f"rs_usd_{h}"] = number(4)(usd) + note
            out[f"rs_bps_{h}"] = number(2)(row.get(f"realized_spread_bps_{h}"))
        rows.append(out)
    return rows


def _differences(summary: dict) -> list[Block]:
    names = list(summary["regimes"])
    title = f"Differences vs {names[0]}" if names else "Differences"
    if len(names) < 2:
        return [Heading(2, title), Text("Only one regime ran; there is nothing to compare.")]
    columns: list[Column] = [
        ("Metric", "label", str),
        ("Regime", "regime_b", str),
        (names[0], "value_a", number(4)),
        ("Regime value", "value_b", number(4)),
        ("Difference", "difference", significant),
        ("95% CI low, orders", "ci_low", significant),
        ("95% CI high, orders", "ci_high", significant),
        ("z", "z", number(2, signed=True)),
        ("p", "p_value", lambda v: _p_value(v).removeprefix("= ")),
        ("Replications", "replications", count),
        ("95% CI low, replications", "rep_ci_low", significant),
        ("95% CI high, replications", "rep_ci_high", significant),
        ("p, replications, Holm", "p_holm", lambda v: _p_value(v).removeprefix("= ")),
        ("Significant", "significant", _yes_no_unassessed),
    ]
    comparisons = summary["comparisons"]
    labelled = [{**c, "label": metric_label(c["metric"])} for c in comparisons]
    return [
        Heading(2, title),
        Table(labelled, columns, {k: ONE_RUN for k in ("rep_ci_low", "rep_ci_high", "p_holm")}),
        Bullets(tuple(verdict(c, labelled=True) for c in comparisons)),
    ]


def verdict(comparison: dict, labelled: bool = False) -> str:
    """One comparison in a line (the metric's key, or with ``labelled`` its plain words)."""
    metric = metric_label(comparison["metric"]) if labelled else comparison["metric"]
    head = f"{comparison['regime_b']} vs {comparison['regime_a']}, {metric}:"
    if comparison["difference"] is None or comparison["ci_low"] is None:
        return f"{head} not computable (a regime has no fills with an NBBO, or no mark)."
    fmt = significant
    z = "" if comparison.get("z") is None else f", z = {comparison['z']:+.2f}"
    body = (
        f"{head} difference {fmt(comparison['difference'])} "
        f"(95% CI over orders {fmt(comparison['ci_low'])} to {fmt(comparison['ci_high'])}{z}"
        f", p {_p_value(comparison.get('p_value'))}"
        f"{', paired' if comparison.get('paired') else ''}"
    )
    if comparison.get("rep_ci_low") is not None:
        body += (
            f"; over {comparison['replications']} replications {fmt(comparison['rep_ci_low'])} "
            f"to {fmt(comparison['rep_ci_high'])}, Holm p {_p_value(comparison.get('p_holm'))}"
        )
    note = comparison.get("significance") or "not assessed"
    if comparison.get("significant") is False:
        note = note.replace("not significant", "**not significant**", 1)
    return f"{body}): {note}."


def _yes_no_unassessed(value: object) -> str:
    return "not assessed" if value is None else ("yes" if value else "no")


def _economics(summary: dict, computed: dict[str, pd.DataFrame]) -> list[Block]:
    pnl = computed["pnl_by_process"]
    pnl_columns: list[Column] = [("Process", "name", str), ("Role", "role", str)]
    pnl_columns += [
        (f"{words(c)}, $", c, number(2)) for c in pnl.columns if c not in ("name", "role")
    ]
    auctions = summary.get("auction_summary") or {}
    return [
        Heading(2, "Economics by regime"),
        Table(_records(computed["economics"]), ECONOMICS_COLUMNS),
        *who_gained_blocks(computed["who_gained"], list(summary["regimes"])),
        Heading(3, "Auctions"),
        Bullets(_auction_lines(auctions)),
        Heading(3, "P&L reported by each process"),
        Text("Each process's own accounts at the end of the run (all regimes together)."),
        Table(_records(pnl), pnl_columns),
    ]


def _auction_lines(auctions: dict) -> tuple[str, ...]:
    if not auctions.get("auctions"):
        return ("No auctions ran.",)
    return (
        f"Auctions: {auctions['auctions']}, mean window "
        f"{number(1)(auctions.get('duration_ms_mean'))} ms, "
        f"mean responses {number(2)(auctions.get('responses_mean'))}",
        f"NBBO moved against the investor during the window in "
        f"{percent(auctions.get('share_moved_against'))} of auctions; latency cost "
        f"{number(2)(auctions.get('latency_cost_usd'))} $ "
        f"({number(5)(auctions.get('latency_cost_usd_per_share'))} $/share; negative = the "
        "market moved for the investor)",
    )


def _records(table: pd.DataFrame) -> list[dict]:
    frame = table.astype(object).where(table.notna(), None)
    return frame.to_dict(orient="records")


def _yes_no(value: object, none: str) -> str:
    return none if value is None else "yes" if value else "no"


MARKUP_LEARNING_COLUMNS: list[Column] = [
    ("Dealer", "dealer", str),
    ("Channel", "channel", str),
    ("Periods settled", "periods", count),
    ("Periods learned", "learned_periods", count),
    ("First held, % of half-spread", "first_held_share", percent),
    ("Last held, % of half-spread", "last_held_share", percent),
    ("Mean reward $/100 sh", "mean_reward_usd_per_100_shares", number(4, signed=True)),
    (f"Held range, last {SETTLE_PERIODS}", "last_range_share", percent),
    ("Status", "status", str),
]
FLOW_COMPETITION_COLUMNS: list[Column] = [
    ("Wholesaler", "wholesaler", str),
    ("Reviews", "reviews", count),
    ("Demotions", "demotions", count),
    ("Reviews demoted", "periods_demoted", count),
    ("Flow share first", "flow_share_first", percent),
    ("Flow share last", "flow_share_last", percent),
    ("Flow share mean", "flow_share_mean", percent),
    ("Regained flow", "regained_flow", lambda v: _yes_no(v, "never demoted")),
]
_RUN: Column = ("Run", "run", str)


def _table_or_note(
    title: str,
    table: pd.DataFrame,
    columns: list[Column],
    image: Image,
    missing: str,
    intro: str | None = None,
) -> list[Block]:
    """A sub-section: its table (a ``Run`` column first with pooled runs) and figure, or a note
    saying why there is nothing to show."""
    if table.empty:
        return [Heading(3, title), Text(missing)]
    runs = [_RUN] if "run" in table.columns else []
    intro_blocks: list[Block] = [Text(intro)] if intro else []
    return [Heading(3, title), *intro_blocks, Table(_records(table), [*runs, *columns]), image]


def _learning(computed: dict[str, pd.DataFrame]) -> list[Block]:
    """How the dealers' markups moved and settled, and how the scorecard moved flow."""
    markups = computed.get("markup_learning", pd.DataFrame())
    flows = computed.get("flow_competition", pd.DataFrame())
    blocks: list[Block] = [
        Heading(2, "Learning and competition"),
        Text(
            "Every dealer (wholesalers, and the market makers answering auctions) learns its "
            "markup per channel - a share of the quoted half-spread on top of its costs - by a "
            "hill climb on realised profit per retail order competed for, one learning period "
            "at a time. Periods settled: in this run; periods learned: in total at the dealer's "
            "stop, a warm start's included. Mean reward: the run's profit per order competed "
            "for (fills marked to the mid at the markout horizon, less PFOF and fees)."
        ),
        Bullets((SETTLED_DEFINITION, FLOW_DEFINITION)),
    ]
    blocks += _table_or_note(
        "Markups by dealer and channel",
        markups,
        MARKUP_LEARNING_COLUMNS,
        Image(
            "markups", "Held markup per dealer and channel over the run (the first run if pooled)"
        ),
        "No learning period settled on this tape: no `MarkupSettled` events (a tape recorded "
        "before dealers learned their markups, or no period saw retail flow).",
    )
    blocks += _table_or_note(
        "The broker's scorecard: flow between wholesalers",
        flows,
        FLOW_COMPETITION_COLUMNS,
        Image(
            "flow_shares", "PFOF flow share per wholesaler over the run (the first run if pooled)"
        ),
        "No broker scorecard on this tape: no `RoutingScorecard` events (no wholesalers, or a "
        "tape recorded before the broker reviewed them).",
        intro="Every review the broker scores each wholesaler on price improvement x fill rate "
        "over its window and splits the next period's PFOF flow; a demoted wholesaler keeps "
        "only the floor.",
    )
    return blocks
