"""Who pays and who earns, per regime: the investor, the broker, the wholesalers, the venues.

Sign convention: every ``*_gain_*`` value is what that party *gains* (the investor's gain is
minus its all-in cost). Per-regime amounts come from the regime's fills (PFOF, fees and
commissions are on each fill); the wholesalers' share is their markout: D·(price - mid 1 s
later)·qty on internalised and auction fills, minus the PFOF they paid. The ``pnl`` table (each
process's own ``PnlReport``) is per process, not per regime, and is reported as is.

Latency cost: D·(mid at execution - mid at receipt)·qty per fill — how far the market moved
against the investor while the order was on its way (an auction's window is most of it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from orchestration.markouts import future_two_mids
from orchestration.metrics import fill_legs
from protocol.money import MICROS_PER_DOLLAR

WHOLESALER_LIQUIDITY = ("internalized", "auction")
MARKOUT = "1s"
PARTIES = ("investor", "broker", "wholesalers", "venues")


def economics_table(
    orders: pd.DataFrame, fills: pd.DataFrame, nbbo: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per regime: investor cost, broker revenue, wholesaler and venue take, latency cost
    (dollars, and per 100 filled shares for the gains)."""
    legs = fill_legs(orders, fills, nbbo)
    if legs.empty:
        return pd.DataFrame({"regime": pd.Series(dtype=object)})
    direction = np.where(fills.reset_index(drop=True)["side"].to_numpy() == "buy", 1, -1)
    price = fills.reset_index(drop=True)["price"].to_numpy("int64")
    qty = legs["filled_shares"].to_numpy("int64")
    liquidity = fills.reset_index(drop=True).get("liquidity", pd.Series([""] * len(legs)))
    at_wholesaler = np.isin(liquidity.to_numpy(), WHOLESALER_LIQUIDITY)
    later = future_two_mids(fills.reset_index(drop=True), nbbo, {MARKOUT: 1_000_000_000})[MARKOUT]
    at_exec = future_two_mids(fills.reset_index(drop=True), nbbo, {"exec": 0})["exec"]
    by_id = orders.set_index("order_id")
    two_mid_recv = by_id["nbbo_bid"].reindex(legs["order_id"]).to_numpy(
        "int64", na_value=0
    ) + by_id["nbbo_ask"].reindex(legs["order_id"]).to_numpy("int64", na_value=0)
    marked = at_wholesaler & (later > 0)
    timed = legs["has_nbbo"].to_numpy() & (at_exec > 0)
    frame = legs.assign(
        wholesaler_shares=np.where(at_wholesaler, qty, 0),
        wholesaler_marked_shares=np.where(marked, qty, 0),
        wholesaler_markout_2x=np.where(marked, direction * (2 * price - later) * qty, 0),
        wholesaler_pfof=np.where(at_wholesaler, legs["pfof_micros"], 0),
        latency_2x=np.where(timed, direction * (at_exec - two_mid_recv) * qty, 0),
        latency_shares=np.where(timed, qty, 0),
    )
    sums = frame.groupby("regime", sort=False).sum(numeric_only=True)
    usd = 1 / MICROS_PER_DOLLAR
    cost = sums["effective_spread_micros_x_shares"] / 2 * usd
    commissions = sums["commission_micros"] * usd
    broker = (sums["pfof_micros"] + sums["commission_micros"] - sums["fee_micros"]) * usd
    markout = _ratio(sums["wholesaler_markout_2x"] / 2, sums["wholesaler_marked_shares"])
    wholesalers = markout * sums["wholesaler_shares"] * usd - sums["wholesaler_pfof"] * usd
    venues = sums["fee_micros"] * usd
    shares = sums["filled_shares"]
    out = pd.DataFrame(
        {
            "filled_shares": shares.astype("int64"),
            "retail_cost_vs_mid_usd": cost,
            "commissions_usd": commissions,
            "total_retail_cost_usd": cost + commissions,
            "pfof_usd": sums["pfof_micros"] * usd,
            "fees_usd": venues,
            "broker_revenue_usd": broker,
            "wholesaler_shares": sums["wholesaler_shares"].astype("int64"),
            "wholesaler_markout_1s_usd": markout * sums["wholesaler_shares"] * usd,
            "wholesaler_net_1s_usd": wholesalers,
            "latency_cost_usd": sums["latency_2x"] / 2 * usd,
            "latency_cost_usd_per_share": _ratio(
                sums["latency_2x"] / 2 * usd, sums["latency_shares"]
            ),
        }
    )
    gains = {
        "investor": -(cost + commissions),
        "broker": broker,
        "wholesalers": wholesalers,
        "venues": venues,
    }
    for party, value in gains.items():
        out[f"{party}_gain_usd_per_100_shares"] = _ratio(value * 100, shares)
    return out.reset_index()


def auction_table(auctions: pd.DataFrame | None) -> pd.DataFrame:
    """Per auction: duration and how the NBBO moved against the investor during the window."""
    columns = [
        "auction_id",
        "symbol",
        "side",
        "qty",
        "filled_qty",
        "responses",
        "duration_ms",
        "nbbo_move_against_usd_per_share",
        "latency_cost_usd",
    ]
    if auctions is None or auctions.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    direction = np.where(auctions["side"].to_numpy() == "buy", 1, -1)
    start = auctions["nbbo_bid_start"].to_numpy("int64") + auctions["nbbo_ask_start"].to_numpy(
        "int64"
    )
    bid_end = auctions["nbbo_bid_end"].to_numpy("int64", na_value=0)
    ask_end = auctions["nbbo_ask_end"].to_numpy("int64", na_value=0)
    usable = (bid_end > 0) & (ask_end > 0) & (start > 0)
    move = np.where(usable, direction * (bid_end + ask_end - start) / 2 / MICROS_PER_DOLLAR, np.nan)
    return pd.DataFrame(
        {
            **{c: auctions[c].to_numpy() for c in columns[:6]},
            "duration_ms": (auctions["end_ns"] - auctions["start_ns"]).to_numpy("int64") / 1e6,
            "nbbo_move_against_usd_per_share": move,
            "latency_cost_usd": move * auctions["qty"].to_numpy("int64"),
        }
    )


def auction_summary(auctions: pd.DataFrame | None) -> dict[str, float | int | None]:
    """Totals over the run's auctions (JSON-ready)."""
    table = auction_table(auctions)
    if table.empty:
        return {"auctions": 0}
    move = table["nbbo_move_against_usd_per_share"].dropna()
    qty = table["qty"].astype("int64")
    cost = table["latency_cost_usd"].sum(skipna=True)
    return {
        "auctions": len(table),
        "duration_ms_mean": float(table["duration_ms"].mean()),
        "responses_mean": float(table["responses"].astype(float).mean()),
        "latency_cost_usd": float(cost),
        "latency_cost_usd_per_share": float(cost / qty[table["latency_cost_usd"].notna()].sum())
        if len(move)
        else None,
        "share_moved_against": float((move > 0).mean()) if len(move) else None,
    }


def pnl_table(pnl: pd.DataFrame | None) -> pd.DataFrame:
    """The processes' own P&L reports: one row per process, one column per component ($)."""
    if pnl is None or pnl.empty:
        return pd.DataFrame({"name": pd.Series(dtype=object), "role": pd.Series(dtype=object)})
    wide = pnl.pivot_table(
        index=["name", "role"], columns="component", values="usd", aggfunc="sum", sort=False
    )
    ordered = [c for c in ("total",) if c in wide.columns] + [
        c for c in wide.columns if c != "total"
    ]
    return wide[ordered].reset_index().rename_axis(columns=None)


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    return numerator / denominator.where(denominator != 0)
