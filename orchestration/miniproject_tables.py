"""The seed's PFOF mini-project's outputs as tables (``orchestration.miniproject`` runs it).

``strategy_table`` and ``venue_table`` are the seed's ``analyze_results`` (``by_strategy`` and
``by_venue``: sums and means over *filled* orders) with the counts its script prints beside them;
``conflict_table`` is its "COMPARISON" block (totals, the revenue-maximiser's extra cost and
PFOF, their ratio), extended to ``balanced``; ``shortcut_table`` reruns the same orders with the
seed's shortcuts turned off one at a time (``Assumptions``). Money in float dollars (``_usd``),
as in the seed.
"""

from __future__ import annotations

import math

import pandas as pd

from orchestration.miniproject import (
    AS_WRITTEN,
    SHORTCUTS_OFF,
    Assumptions,
    SeedExecution,
    SeedOrder,
    SeedStrategy,
    balanced_break_even_price,
    execute_days,
)

# the seed's own table columns (sums and means over filled orders), then what its script prints
_FILLED_COLUMNS = {
    "spread_cost_usd": ("spread_cost", "sum"),
    "spread_cost_usd_per_order": ("spread_cost", "mean"),
    "pfof_usd": ("pfof_revenue", "sum"),
    "pfof_usd_per_order": ("pfof_revenue", "mean"),
    "effective_spread_bps": ("effective_spread_bps", "mean"),
    "execution_speed_ms": ("speed_ms", "mean"),
}


def executions_frame(executions: list[SeedExecution]) -> pd.DataFrame:
    """The seed's ``execution_results`` as a DataFrame (one row per order)."""
    frame = pd.DataFrame(
        {
            "strategy": [str(e.strategy) for e in executions],
            "order_price": [e.price for e in executions],
            "order_size": [e.size for e in executions],
            "venue": [e.venue for e in executions],
            "filled": [e.filled for e in executions],
            "fill_size": [e.fill_size for e in executions],
            "spread_cost": [e.spread_cost for e in executions],
            "pfof_revenue": [e.pfof_revenue for e in executions],
            "speed_ms": [e.speed_ms for e in executions],
            "effective_spread_bps": [e.effective_spread_bps for e in executions],
            "filled_at": [e.filled_at for e in executions],
        }
    )
    frame["filled_notional"] = frame["order_price"] * frame["fill_size"]
    return frame


def venue_mix(venues: pd.Series) -> str:
    """Where a strategy routed its orders: ``"lit 100%"``, ``"mm-1 60%, lit 40%"``."""
    shares = venues.value_counts(normalize=True, sort=True)
    return ", ".join(f"{name} {share:.0%}" for name, share in shares.items())


def strategy_table(executions: pd.DataFrame) -> pd.DataFrame:
    """Per strategy: orders, fills, the venue(s) chosen and the seed's ``by_strategy`` figures,
    plus cost and PFOF in bps of the filled notional (comparable across prices)."""
    rows = []
    for strategy, day in executions.groupby("strategy", sort=False):
        filled = day[day["filled"]]
        notional = filled["filled_notional"].sum()
        rows.append(
            {
                "strategy": strategy,
                "orders": len(day),
                "filled_orders": len(filled),
                "fill_rate": len(filled) / len(day),
                "venues": venue_mix(day["venue"]),
                **{name: filled[col].agg(how) for name, (col, how) in _FILLED_COLUMNS.items()},
                "filled_shares": int(filled["fill_size"].sum()),
                "cost_bps": filled["spread_cost"].sum() / notional * 1e4 if notional else math.nan,
                "pfof_bps": filled["pfof_revenue"].sum() / notional * 1e4 if notional else math.nan,
            }
        )
    return pd.DataFrame(rows)


def venue_table(executions: pd.DataFrame) -> pd.DataFrame:
    """Per strategy x routed venue: the seed's ``by_venue`` (over filled orders), with the orders
    routed there (filled or not)."""
    rows = []
    for (strategy, venue), group in executions.groupby(["strategy", "venue"], sort=False):
        filled = group[group["filled"]]
        rows.append(
            {
                "strategy": strategy,
                "venue": venue,
                "routed_orders": len(group),
                "filled_orders": len(filled),
                **{name: filled[col].agg(how) for name, (col, how) in _FILLED_COLUMNS.items()},
            }
        )
    return pd.DataFrame(rows)


def conflict_table(strategies: pd.DataFrame) -> pd.DataFrame:
    """The seed's comparison, each strategy against ``best_execution``: the extra retail cost
    (total and per cent), the extra PFOF, and PFOF gained per dollar of worse execution."""
    by_name = strategies.set_index("strategy")
    base = by_name.loc[str(SeedStrategy.BEST_EXECUTION)]
    rows = []
    for strategy in (SeedStrategy.MAXIMIZE_REVENUE, SeedStrategy.BALANCED):
        if str(strategy) not in by_name.index:
            continue
        row = by_name.loc[str(strategy)]
        extra_cost = row["spread_cost_usd"] - base["spread_cost_usd"]
        extra_pfof = row["pfof_usd"] - base["pfof_usd"]
        rows.append(
            {
                "strategy": str(strategy),
                "versus": str(SeedStrategy.BEST_EXECUTION),
                "cost_usd": row["spread_cost_usd"],
                "base_cost_usd": base["spread_cost_usd"],
                "extra_cost_usd": extra_cost,
                "extra_cost_pct": (row["spread_cost_usd"] / base["spread_cost_usd"] - 1) * 100,
                "pfof_usd": row["pfof_usd"],
                "base_pfof_usd": base["pfof_usd"],
                "extra_pfof_usd": extra_pfof,
                "pfof_per_extra_cost": extra_pfof / extra_cost
                if extra_cost and extra_pfof
                else math.nan,
            }
        )
    return pd.DataFrame(rows)


def shortcut_table(
    days: dict[SeedStrategy, list[SeedOrder]],
    variants: tuple[Assumptions, ...] = (AS_WRITTEN, *SHORTCUTS_OFF),
) -> pd.DataFrame:
    """The same orders under each ``Assumptions``: per strategy the venues chosen, fill rate,
    cost and PFOF in bps of the filled notional, the speed, PFOF gained per bp of extra cost
    against ``best_execution`` (NaN for itself; inf when the extra cost is nil) and the price
    below which ``balanced`` would leave the lit venue."""
    rows = []
    for assumptions in variants:
        table = strategy_table(executions_frame(execute_days(days, assumptions)))
        base = table.set_index("strategy").loc[str(SeedStrategy.BEST_EXECUTION)]
        for row in table.to_dict("records"):
            extra_cost = row["cost_bps"] - base["cost_bps"]
            extra_pfof = row["pfof_bps"] - base["pfof_bps"]
            if row["strategy"] == str(SeedStrategy.BEST_EXECUTION):
                ratio = math.nan
            else:
                ratio = _ratio(extra_pfof, extra_cost)
            rows.append(
                {
                    "assumptions": assumptions.label,
                    "strategy": row["strategy"],
                    "venues": row["venues"],
                    "fill_rate": row["fill_rate"],
                    "cost_bps": row["cost_bps"],
                    "pfof_bps": row["pfof_bps"],
                    "spread_cost_usd_per_order": row["spread_cost_usd_per_order"],
                    "pfof_usd_per_order": row["pfof_usd_per_order"],
                    "execution_speed_ms": row["execution_speed_ms"],
                    "pfof_per_extra_cost": ratio,
                    "balanced_break_even_usd": balanced_break_even_price(assumptions),
                }
            )
    return pd.DataFrame(rows)


def _ratio(extra_pfof: float, extra_cost: float) -> float:
    """PFOF gained per unit of extra cost: inf when PFOF comes at no extra cost, NaN when
    neither moved (bps figures equal up to rounding count as equal)."""
    if abs(extra_cost) > 1e-9:
        return extra_pfof / extra_cost
    return math.inf if extra_pfof > 1e-9 else math.nan
