"""The report's words for the tables' column names, metrics and party types, in one place.

Every table header and every metric named in prose comes from here (or is written as plain
words where the table is built), so no snake_case name reaches a reader. Units: prices and
per-share amounts in **$ per share** everywhere (tables, the headline, the price-improvement
histogram), totals in $, spreads also in bps of the midpoint; payments per 100 shares in $ per
100 shares, except Rule 606's own "cents per hundred shares" column, which keeps the rule's unit.
"""

from __future__ import annotations

import re

# metric key -> (plain words with the unit, the unit alone, decimals for that unit)
METRICS: dict[str, tuple[str, str, int]] = {
    "price_improvement_usd_per_share": ("Price improvement, $ per share", "$/share", 4),
    "price_improvement_bps": ("Price improvement, bps of the midpoint", "bps", 2),
    "effective_spread_usd_per_share": ("Effective spread, $ per share", "$/share", 4),
    "effective_spread_bps": ("Effective spread, bps of the midpoint", "bps", 2),
    "quoted_spread_usd_per_share": ("Quoted spread, $ per share", "$/share", 4),
    "quoted_spread_bps": ("Quoted spread, bps of the midpoint", "bps", 2),
    "eq_ratio": ("Effective/quoted spread (E/Q)", "", 3),
    "all_in_cost_usd_per_share": ("All-in cost vs the midpoint, $ per share", "$/share", 4),
    "fill_rate": ("Fill rate, share of ordered shares", "", 3),
    "time_to_execution_ms_mean": ("Time to execution, ms (mean over orders)", "ms", 1),
    "realized_spread_bps_50ms": ("Realized spread at 50 ms, bps", "bps", 2),
    "realized_spread_bps_1s": ("Realized spread at 1 s, bps", "bps", 2),
    "realized_spread_bps_5s": ("Realized spread at 5 s, bps", "bps", 2),
    "realized_spread_bps_30s": ("Realized spread at 30 s, bps", "bps", 2),
}
# Which way is better for the investor: +1 higher is better, -1 lower is better, 0 neither
# (a realized spread is the liquidity provider's take after the horizon: lower is better for
# the investor only in the sense that less of the spread was kept; it is reported, not judged).
BETTER: dict[str, int] = {
    "price_improvement_usd_per_share": 1,
    "price_improvement_bps": 1,
    "effective_spread_usd_per_share": -1,
    "effective_spread_bps": -1,
    "eq_ratio": -1,
    "all_in_cost_usd_per_share": -1,
    "fill_rate": 1,
    "time_to_execution_ms_mean": -1,
}
# what a difference of this metric is, in words ("0.0025 $/share more <noun>")
NOUNS: dict[str, str] = {
    "price_improvement_usd_per_share": "price improvement",
    "price_improvement_bps": "price improvement",
    "effective_spread_usd_per_share": "effective spread",
    "effective_spread_bps": "effective spread",
    "quoted_spread_usd_per_share": "quoted spread",
    "quoted_spread_bps": "quoted spread",
    "eq_ratio": "E/Q",
    "all_in_cost_usd_per_share": "all-in cost",
    "fill_rate": "fill rate",
    "time_to_execution_ms_mean": "time to execution",
}
PARTY_TYPES: dict[str, str] = {
    "retail": "Investors (retail orders)",
    "broker": "Broker",
    "wholesaler": "Wholesalers",
    "auction_market_maker": "Auction market makers",
    "lit_market_maker": "Lit market makers",
    "venue": "Venues and dark pools (fees)",
    "noise": "Noise traders",
    "informed": "Informed traders",
    "institutional": "Institutions (metaorders)",
    "seeded_book": "Venues' seeded books",
    "unknown": "Unidentified orders",
}
# words for column names that are not metrics (P&L components, party types as cells)
WORDS: dict[str, str] = {
    "total": "Total",
    "spread_capture": "Spread capture",
    "pfof_paid": "PFOF paid",
    "fees": "Fees",
    "hedge_cost": "Hedge cost",
    "inventory_and_adverse_selection": "Inventory and adverse selection",
    "pfof_revenue": "PFOF revenue",
    "commission_revenue": "Commission revenue",
    "fees_paid": "Fees paid",
    "auction_market_maker": "auction market maker",
    "lit_market_maker": "lit market maker",
    "seeded_book": "seeded book",
    "retail": "retail",
    "broker": "broker",
    "wholesaler": "wholesaler",
    "venue": "venue",
    "noise": "noise",
    "informed": "informed",
    "institutional": "institutional",
    "unknown": "unknown",
}
SNAKE_CASE = re.compile(r"\b[a-z0-9]+(?:_[a-z0-9]+)+\b")


def metric_label(key: str) -> str:
    """A metric's plain words with its unit (the key itself only if it is unknown)."""
    return METRICS[key][0] if key in METRICS else words(key)


def words(name: str) -> str:
    """A column or category name in plain words: a known one from ``WORDS``, else its
    underscores as spaces, first letter capitalised."""
    if name in WORDS:
        return WORDS[name]
    text = name.replace("_usd", " $").replace("_", " ").strip()
    return text[:1].upper() + text[1:]
