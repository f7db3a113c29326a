"""The live lab's run of the PFOF mini-project's strategies, beside the seed's offline model.

The live scenario (scenarios/seed-pfof.toml) gives each seed strategy an arm: ``best_execution``
is ``best-ex`` (the SOR, which trades on the lit venue), ``maximize_revenue`` is ``pfof`` with
``pfof_routing = "top-payer"`` (mm-1), ``balanced`` is ``balanced`` (0.7 x cost - 0.3 x PFOF over
the three market makers and the SOR, cost learned from fills). Other arms of the run (``weighted``)
are shown after them. Live figures are Rule 605 style, against the NBBO at the broker's receipt
(``orchestration.metrics``): the investor's cost is D x (price - mid), half the effective spread.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from config.runconfig import load_run_config
from config.scenario import ScenarioError
from orchestration.experiment import EXPERIMENT_FILE, pool_tables, results_from_summary
from orchestration.metrics import after_burn_in, fill_legs, regime_table
from orchestration.miniproject import SeedStrategy
from orchestration.tape import build_tables
from protocol.money import MICROS_PER_DOLLAR

LIVE_REGIMES: dict[SeedStrategy, str] = {
    SeedStrategy.BEST_EXECUTION: "best-ex",
    SeedStrategy.MAXIMIZE_REVENUE: "pfof",
    SeedStrategy.BALANCED: "balanced",
}
_SEED_OF = {regime: str(strategy) for strategy, regime in LIVE_REGIMES.items()}


@dataclass(frozen=True)
class LiveRun:
    """A finished run of the live scenario: its orders (after the burn-in), their fills, and
    the price its stock opened at (dollars)."""

    orders: pd.DataFrame
    fills: pd.DataFrame
    start_price: float


def read_live_run(run_dir: Path) -> LiveRun:
    """A finished run's orders (after its burn-in) and their fills, read from its tape; an
    experiment directory (``compare --repeat K``) pools its runs, order ids prefixed by run."""
    if (run_dir / EXPERIMENT_FILE).exists():
        scenario, results, design, _ = results_from_summary(run_dir)
        tables = pool_tables(results, design, build_tables)
    else:
        config_path = run_dir / "config.toml"
        if not config_path.exists():
            raise ScenarioError(f"--run: no config.toml in {run_dir} (not a flowlab run directory)")
        config = load_run_config(config_path)
        scenario, tables = config.scenario, build_tables(run_dir, config)
    orders = after_burn_in(tables["orders"], scenario.stream.burn_in_s)
    fills = tables["fills"][tables["fills"]["order_id"].isin(orders["order_id"])]
    if not set(LIVE_REGIMES.values()) & set(orders["regime"]):
        raise ScenarioError(
            f"--run: {run_dir} has none of the arms {', '.join(LIVE_REGIMES.values())} "
            f"(its arms: {', '.join(sorted(set(orders['regime']))) or 'none'})"
        )
    price = scenario.symbols[0].price_micros / MICROS_PER_DOLLAR
    return LiveRun(orders.reset_index(drop=True), fills.reset_index(drop=True), price)


def _share_mix(shares: pd.Series) -> str:
    total = shares.sum()
    ordered = shares.sort_values(ascending=False, kind="stable")
    return ", ".join(f"{name} {value / total:.0%}" for name, value in ordered.items() if value)


def _regime_order(regimes: pd.Series) -> list[str]:
    present = list(dict.fromkeys(regimes))
    return [r for r in LIVE_REGIMES.values() if r in present] + [
        r for r in present if r not in _SEED_OF
    ]


def live_strategy_table(orders: pd.DataFrame, fills: pd.DataFrame) -> pd.DataFrame:
    """Per live arm: the seed strategy it runs, orders, fill rate (orders), where its shares
    filled, the investor's cost vs the mid and the effective spread (bps, share-weighted), PFOF
    per share and in bps of the filled notional, per filled order in $, and time to execution."""
    metrics = regime_table(orders, fills).set_index("regime")
    legs = fill_legs(orders, fills)
    rows = []
    for regime in _regime_order(orders["regime"]):
        m = metrics.loc[regime].to_dict()
        mine = legs[legs["regime"] == regime]
        notional = mine["notional_micros"].sum()
        filled_orders = int(m["filled_orders"])
        pfof_usd = mine["pfof_micros"].sum() / 1e6
        cost_usd = mine["effective_spread_micros_x_shares"].sum() / 2e6
        rows.append(
            {
                "regime": regime,
                "strategy": _SEED_OF.get(regime, ""),
                "orders": int(m["orders"]),
                "filled_orders": filled_orders,
                "fill_rate": filled_orders / m["orders"] if m["orders"] else math.nan,
                "venues": _share_mix(mine.groupby("destination")["filled_shares"].sum()),
                "cost_bps": m["effective_spread_bps"] / 2,
                "effective_spread_bps": m["effective_spread_bps"],
                "pfof_usd_per_share": pfof_usd / m["filled_shares"] if m["filled_shares"] else 0,
                "pfof_bps": mine["pfof_micros"].sum() / notional * 1e4 if notional else math.nan,
                "cost_usd_per_order": cost_usd / filled_orders if filled_orders else math.nan,
                "pfof_usd_per_order": pfof_usd / filled_orders if filled_orders else math.nan,
                "time_to_execution_ms_mean": m["time_to_execution_ms_mean"],
                "time_to_execution_ms_p99": m["time_to_execution_ms_p99"],
            }
        )
    return pd.DataFrame(rows)


def live_venue_table(orders: pd.DataFrame, fills: pd.DataFrame) -> pd.DataFrame:
    """Per live arm x executing destination: orders and shares filled there, the investor's cost
    vs the mid and the effective spread (bps), PFOF per share."""
    legs = fill_legs(orders, fills)
    rows = []
    for regime in _regime_order(orders["regime"]):
        mine = legs[legs["regime"] == regime]
        for destination, group in mine.groupby("destination", sort=True):
            priced = group["nbbo_shares"].sum()
            effective = (
                group["effective_spread_bps_x_shares"].sum() / priced if priced else math.nan
            )
            rows.append(
                {
                    "regime": regime,
                    "strategy": _SEED_OF.get(regime, ""),
                    "venue": destination,
                    "orders": group["order_id"].nunique(),
                    "filled_shares": int(group["filled_shares"].sum()),
                    "cost_bps": effective / 2,
                    "effective_spread_bps": effective,
                    "pfof_usd_per_share": group["pfof_micros"].sum()
                    / group["filled_shares"].sum()
                    / 1e6,
                }
            )
    return pd.DataFrame(rows)


def side_by_side(
    seed: pd.DataFrame, live: pd.DataFrame, seed_at_live_price: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Each seed strategy: the seed's figures, the seed's model at the live stock's price (if
    given), then the live arm's: venues, fill rate, the cost the investor is charged (the
    seed: the whole spread; live: vs the mid) and the effective spread (bps), PFOF ($/share and
    bps of notional), speed / time to execution (mean ms)."""
    live_by_strategy = live[live["strategy"] != ""].set_index("strategy")
    models = [("seed", seed)]
    if seed_at_live_price is not None:
        models.append(("seed at the live price", seed_at_live_price))
    rows = []
    for strategy in seed["strategy"]:
        for source, model in models:
            row = model.set_index("strategy").loc[strategy]
            filled_shares = row["filled_shares"]
            rows.append(
                {
                    "strategy": strategy,
                    "source": source,
                    **{k: row[k] for k in ("venues", "fill_rate", "cost_bps")},
                    "effective_spread_bps": row["effective_spread_bps"],
                    "pfof_usd_per_share": row["pfof_usd"] / filled_shares if filled_shares else 0.0,
                    "pfof_bps": row["pfof_bps"],
                    "time_ms_mean": row["execution_speed_ms"],
                }
            )
        if strategy not in live_by_strategy.index:
            rows.append({"strategy": strategy, "source": "live: arm not in the run"})
            continue
        arm = live_by_strategy.loc[strategy]
        rows.append(
            {
                "strategy": strategy,
                "source": f"live {arm['regime']}",
                **{k: arm[k] for k in ("venues", "fill_rate", "cost_bps", "effective_spread_bps")},
                "pfof_usd_per_share": arm["pfof_usd_per_share"],
                "pfof_bps": arm["pfof_bps"],
                "time_ms_mean": arm["time_to_execution_ms_mean"],
            }
        )
    return pd.DataFrame(rows)


def pfof_per_extra_cost(strategies: pd.DataFrame) -> float:
    """PFOF gained per unit of extra investor cost, ``maximize_revenue`` against
    ``best_execution``, both in bps of the filled notional (NaN if either is missing or the
    costs are equal); ``strategies`` has ``strategy``, ``cost_bps`` and ``pfof_bps``."""
    by_strategy = strategies.drop_duplicates("strategy").set_index("strategy")
    revenue, best = str(SeedStrategy.MAXIMIZE_REVENUE), str(SeedStrategy.BEST_EXECUTION)
    if revenue not in by_strategy.index or best not in by_strategy.index:
        return math.nan
    cost, pfof = by_strategy["cost_bps"].astype(float), by_strategy["pfof_bps"].astype(float)
    extra_cost = float(cost[revenue]) - float(cost[best])
    extra_pfof = float(pfof[revenue]) - float(pfof[best])
    return extra_pfof / extra_cost if extra_cost else math.nan
