"""The amended Rule 605's summary report (§ 242.605(a)(2), Release No. 34-99679): for market
and marketable limit orders, per S&P 500 flag and notional order size, the twelve figures of the
SEC's Order Execution Summary specification (github.com/sec-gov/oes, Exhibit A fields 7-18).

Percentages of price are given in basis points here (the OES files write them as fractions);
shares of shares as fractions (0-1). The size rows are the seven buckets below $200,000, the
"$0 - <$200,000" aggregate (OES code 199999) and >= $200,000.
"""

from __future__ import annotations

import pandas as pd

from orchestration.rule605 import SUMS, _div, _sorted
from orchestration.rule605_orders import ORDER_TYPES, SIZE_LABELS
from protocol.money import MICROS_PER_DOLLAR

SUMMARY_TYPES = ORDER_TYPES[:2]  # OES field 6: M and ML only
ALL_UNDER_200K = "<$200k (all)"
SP500 = "S&P 500"
OTHER_NMS = "other NMS stocks"
SUMMARY_KEYS = ["regime", "month", "stock_class", "order_type", "size_bucket"]


def stock_classes(symbols: pd.Series, sp500: frozenset[str]) -> pd.Series:
    """Rule 606(a)(1) / 605(a)(2): S&P 500 constituents and other NMS stocks."""
    return symbols.map(lambda s: SP500 if s in sp500 else OTHER_NMS)


def rule605_summary_table(per_order: pd.DataFrame, sp500: frozenset[str]) -> pd.DataFrame:
    """One row per regime x month x stock class x type (market, marketable limit) x size."""
    picked = per_order[per_order["order_type"].isin(SUMMARY_TYPES)]
    picked = picked.assign(stock_class=stock_classes(picked["symbol"], sp500))
    keys = SUMMARY_KEYS[:-1]
    under = picked[picked["size_bucket"] != SIZE_LABELS[-1]].assign(size_bucket=ALL_UNDER_200K)
    frames = [picked, under]
    sums = pd.concat(frames).groupby([*keys, "size_bucket"], sort=False)[list(SUMS)].sum()
    sums = sums.reset_index()
    if sums.empty:
        return pd.DataFrame(columns=[*SUMMARY_KEYS, *_summary_metrics(sums).columns])
    table = pd.concat([sums[SUMMARY_KEYS], _summary_metrics(sums)], axis=1)
    return _sorted(table, SUMMARY_KEYS)


def _summary_metrics(s: pd.DataFrame) -> pd.DataFrame:
    usd = 1 / MICROS_PER_DOLLAR
    priced = s["priced_shares"]
    return pd.DataFrame(
        {
            "covered_orders": s["covered_orders"],
            # (i) average order size in shares; (ii) average notional order size
            "avg_order_shares": _div(s["covered_shares"], s["covered_orders"]),
            "avg_order_notional_usd": _div(s["notional_x"], s["covered_orders"], usd),
            # (iii) average midpoint of the executions
            "avg_midpoint_usd": _div(s["mid_x"], priced, usd),
            # (iv) share of shares executed at the quote or better; (v) with price improvement
            "at_quote_or_better_share": _div(s["improved_shares"] + s["at_quote_shares"], priced),
            "price_improved_share": _div(s["improved_shares"], priced),
            # (vi) (amount improved - amount outside the quote) / sum of midpoint x shares
            "weighted_avg_price_improvement_bps": _div(s["improvement_x"], s["mid_x"], 1e4),
            # (vii) average effective spread / average midpoint; (viii) quoted, likewise
            "avg_effective_spread_bps": _div(s["effective_x"], s["mid_x"], 1e4),
            "avg_quoted_spread_bps": _div(s["quoted_x"], s["mid_x"], 1e4),
            # (ix) average effective spread / average quoted spread
            "eq_ratio": _div(s["effective_x"], s["quoted_x"]),
            # (x), (xi) average realized spread 15 s and 1 min after execution, % of the mid
            "realized_spread_bps_15s": _div(s["realized_x_15s"], s["marked_mid_x_15s"], 1e4),
            "realized_spread_bps_1min": _div(s["realized_x_1min"], s["marked_mid_x_1min"], 1e4),
            # (xii) share-weighted average execution speed, ms
            "avg_time_to_execution_ms": _div(s["tte_x"], s["executed_shares"], 1e-6),
        }
    )
