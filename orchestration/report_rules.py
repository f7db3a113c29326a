"""The report's Rule 605 (as amended in 2024) and Rule 606(a)(1) sections.

Tables come from ``orchestration.rule605``, ``rule605_summary`` and ``rule606``; every column of
the Parquet files is in docs/TABLES.md, the report shows the ones a reader compares.
"""

from __future__ import annotations

import math

import pandas as pd

from orchestration.report_render import (
    AFTER_RUN,
    Block,
    Bullets,
    Column,
    Heading,
    Table,
    Text,
    number,
    percent,
)
from orchestration.rule605 import HORIZONS_605, TTE_BUCKETS

KEYS: list[Column] = [
    ("Regime", "regime", str),
    ("Month", "month", str),
]
# the detailed report's row keys, first in each of its tables
CATEGORY_COLUMNS: list[Column] = [
    *KEYS,
    ("Symbol", "symbol", str),
    ("Order type", "order_type", str),
    ("Lot", "lot_class", str),
    ("Size", "size_bucket", str),
]
DETAIL_COLUMNS: list[Column] = [
    *CATEGORY_COLUMNS,
    ("Orders", "covered_orders", number(0)),
    ("Shares", "covered_shares", number(0)),
    ("Executed", "executed_shares", number(0)),
    ("Canceled", "canceled_shares", number(0)),
    ("Average time to execution, ms", "avg_time_to_execution_ms", number(3)),
    ("Shares improved", "improved_shares", number(0)),
    ("Price improvement, $/share", "improvement_usd_per_share", number(4)),
    ("Shares at the quote", "at_quote_shares", number(0)),
    ("Shares outside the quote", "outside_quote_shares", number(0)),
    ("Outside the quote, $/share", "outside_quote_usd_per_share", number(4)),
    ("Effective spread, $/share", "avg_effective_spread_usd", number(4)),
    ("E/Q", "eq_ratio", number(3)),
    ("Shares size-improved", "size_improved_shares", number(0)),
]
BEST_COLUMNS: list[Column] = [
    *CATEGORY_COLUMNS,
    ("Shares improved (NBBO)", "improved_shares", number(0)),
    ("Shares improved", "improved_vs_best_shares", number(0)),
    ("Improvement, $/share", "improvement_vs_best_usd_per_share", number(4)),
    ("Improved, ms", "improved_vs_best_time_ms", number(3)),
    ("Shares at", "at_best_shares", number(0)),
    ("At, ms", "at_best_time_ms", number(3)),
    ("Shares outside", "outside_best_shares", number(0)),
    ("Outside, $/share", "outside_best_usd_per_share", number(4)),
    ("Outside, ms", "outside_best_time_ms", number(3)),
]
REALIZED_COLUMNS: list[Column] = [
    *CATEGORY_COLUMNS,
    *((f"Realized spread {h}, $/share", f"rs_{h}_text", str) for h in HORIZONS_605),
]
TTE_COLUMNS: list[Column] = [
    *KEYS,
    ("Order type", "order_type", str),
    ("Executed", "executed_shares", number(0)),
    *((label, f"shares_executed_{label}", number(0)) for label in TTE_BUCKETS),
]
SUMMARY_COLUMNS: list[Column] = [
    *KEYS,
    ("Class", "stock_class", str),
    ("Order type", "order_type", str),
    ("Size", "size_bucket", str),
    ("Orders", "covered_orders", number(0)),
    ("Average shares", "avg_order_shares", number(1)),
    ("Average notional, $", "avg_order_notional_usd", number(0)),
    ("Average midpoint, $", "avg_midpoint_usd", number(2)),
    ("At the quote or better", "at_quote_or_better_share", percent),
    ("Price improved", "price_improved_share", percent),
    ("Net price improvement, bps", "weighted_avg_price_improvement_bps", number(2)),
    ("Effective spread, bps", "avg_effective_spread_bps", number(2)),
    ("Quoted spread, bps", "avg_quoted_spread_bps", number(2)),
    ("E/Q", "eq_ratio", number(3)),
    ("Realized spread 15s, bps", "realized_spread_bps_15s", number(2)),
    ("Realized spread 1min, bps", "realized_spread_bps_1min", number(2)),
    ("Average time to execution, ms", "avg_time_to_execution_ms", number(3)),
]
ORDERS_606_COLUMNS: list[Column] = [
    ("Regime", "regime", str),
    ("Month", "month", str),
    ("Class", "stock_class", str),
    ("Orders", "orders", number(0)),
    ("Non-directed", "non_directed_share", percent),
    ("Market", "market_share", percent),
    ("Marketable limit", "marketable_limit_share", percent),
    ("Non-marketable limit", "non_marketable_limit_share", percent),
    ("Other", "other_share", percent),
]
VENUES_606_COLUMNS: list[Column] = [
    ("Regime", "regime", str),
    ("Month", "month", str),
    ("Class", "stock_class", str),
    ("Venue", "destination", str),
    ("Order type", "order_type", str),
    ("Routed", "routed_orders", number(0)),
    ("% of type", "order_share", percent),
    ("Filled shares", "filled_shares", number(0)),
    ("PFOF, $", "pfof_usd", number(2)),
    ("Fees, $", "fees_usd", number(2)),
    ("Net payment, $", "net_payment_usd", number(2)),
    ("Net payment, cents per 100 shares", "net_payment_cents_per_100_shares", number(2)),
    ("Net payment, $ per order", "net_payment_usd_per_order", number(4)),
]


_AFTER_RUN = {
    **{f"rs_{h}_text": AFTER_RUN for h in HORIZONS_605},
    "realized_spread_bps_15s": AFTER_RUN,
    "realized_spread_bps_1min": AFTER_RUN,
}


def rule605_blocks(computed: dict[str, pd.DataFrame]) -> list[Block]:
    detail = computed["rule605"]
    rows = _records(detail)
    for row in rows:
        for h in HORIZONS_605:
            row[f"rs_{h}_text"] = _realized_text(row, h)
    return [
        Heading(2, "Rule 605 as amended in 2024: summary report"),
        Text(
            "§ 242.605(a)(2): market and marketable limit orders per S&P 500 class and notional "
            "size (the `<$200k (all)` row is the OES aggregate of every size below $200,000). "
            "Price percentages in bps of the average midpoint; E/Q = average effective / average "
            "quoted spread."
        ),
        Table(_records(computed["rule605_summary"]), SUMMARY_COLUMNS, _AFTER_RUN),
        Heading(2, "Rule 605 as amended in 2024: detailed report"),
        Text(
            "§ 242.605(a)(1), per symbol, order type, lot class (fractional / odd lot / round lot) "
            "and notional size, against the NBBO at receipt; executable non-marketable limits "
            "from the moment they became executable. Price improvement and executions outside "
            "the quote are separate; size improvement counts shares executed at the quote or "
            "better beyond the size displayed there. Every column: `rule605.parquet`."
        ),
        Table(rows, DETAIL_COLUMNS),
        Text(_not_covered(computed["rule605_not_covered"])),
        Heading(3, "Against the best available displayed price (odd lots included)"),
        Text(
            "The amended rule's second benchmark: for a buy the lower of the national best "
            "offer and the best odd-lot offer at receipt, for a sell the higher of the national "
            "best bid and the best odd-lot bid. An NBBO-improved execution can be at or outside "
            "it when an odd lot was quoted inside the round-lot NBBO; where every size is a "
            'round lot (`[rules] reg_nms = "2005"`) it is the NBBO.'
        ),
        Table(rows, BEST_COLUMNS),
        Heading(3, "Realized spread at the rule's horizons ($/share)"),
        Table(rows, REALIZED_COLUMNS, _AFTER_RUN),
        Heading(3, "Shares executed by time after receipt (or after becoming executable)"),
        Table(_records(_tte_by_type(detail)), TTE_COLUMNS),
    ]


def rule606_blocks(summary: dict, computed: dict[str, pd.DataFrame]) -> list[Block]:
    aspects = summary.get("rule606_material_aspects") or {}
    lines = [f"**{regime}**: {text}" for regime, by in aspects.items() for text in by.values()]
    return [
        Heading(2, "Routing: Rule 606(a)(1)"),
        Text(
            "Per calendar month and class (S&P 500 / other NMS stocks), each regime read as a "
            "broker: its non-directed orders by type, then each venue it routed to (an order "
            "re-routed after a decline counts at each) with the payment it received net of fees."
        ),
        Table(_records(computed["rule606_orders"]), ORDERS_606_COLUMNS),
        Table(_records(computed["rule606"]), VENUES_606_COLUMNS),
        Heading(3, "Material aspects of each venue relationship"),
        Bullets(tuple(lines) or ("No routes on the tape.",)),
    ]


def _not_covered(table: pd.DataFrame) -> str:
    """One sentence: the orders no row counts, and why."""
    if table.empty:
        return "Every order is covered."
    parts = [f"{r['regime']}: {r['orders']} ({r['reason']})" for r in _records(table)]
    return "Not covered, so in no row: " + "; ".join(parts) + "."


def _realized_text(row: dict, horizon: str) -> str:
    value = row.get(f"realized_spread_usd_{horizon}")
    note = str(row.get(f"realized_spread_note_{horizon}") or "")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return note.split(":")[0] or "n/a"
    shown = f"{float(value):+.4f}"
    return f"{shown} ({note.split(' (')[0]})" if note else shown


def _tte_by_type(detail: pd.DataFrame) -> pd.DataFrame:
    columns = ["executed_shares", *(f"shares_executed_{b}" for b in TTE_BUCKETS)]
    if detail.empty:
        return pd.DataFrame(columns=["regime", "month", "order_type", *columns])
    grouped = detail.groupby(["regime", "month", "order_type"], sort=False)[columns].sum()
    return grouped.reset_index()


def _records(table: pd.DataFrame) -> list[dict]:
    return table.to_dict(orient="records")
