"""Routing per regime by *executing* destination, from the fills (who filled the shares), with
what the broker was paid for them. The Rule 606(a)(1) report, by the broker's *routing*
destination, is ``orchestration.rule606``.
"""

from __future__ import annotations

import pandas as pd

from orchestration.metrics import fill_legs
from protocol.money import MICROS_PER_DOLLAR


def routing_table(orders: pd.DataFrame, fills: pd.DataFrame) -> pd.DataFrame:
    """Rule 606 style routing per regime x executing destination, from the fills.

    ``order_share`` is the fraction of the regime's orders with fills that got at least one fill
    at the destination (split orders count at each). Net PFOF is PFOF received minus fees paid
    (rebates count as received).
    """
    legs = fill_legs(orders, fills)
    grouped = legs.groupby(["regime", "destination"], sort=False)
    table = grouped.agg(
        orders=("order_id", "nunique"),
        shares=("filled_shares", "sum"),
        pfof_micros=("pfof_micros", "sum"),
        fee_micros=("fee_micros", "sum"),
    ).reset_index()
    regime_orders = legs.groupby("regime", sort=False)["order_id"].nunique()
    regime_shares = legs.groupby("regime", sort=False)["filled_shares"].sum()
    net_micros = table["pfof_micros"] - table["fee_micros"]
    return pd.DataFrame(
        {
            "regime": table["regime"],
            "destination": table["destination"],
            "orders": table["orders"].astype("int64"),
            "order_share": _ratio(table["orders"], table["regime"].map(regime_orders)),
            "shares": table["shares"].astype("int64"),
            "share_of_shares": _ratio(table["shares"], table["regime"].map(regime_shares)),
            "pfof_usd": table["pfof_micros"] / MICROS_PER_DOLLAR,
            "fees_usd": table["fee_micros"] / MICROS_PER_DOLLAR,
            "net_pfof_usd": net_micros / MICROS_PER_DOLLAR,
            # micros per share / 1e4 = cents per share; x 100 shares
            "net_pfof_cents_per_100_shares": _ratio(net_micros, table["shares"], 1e-2),
        }
    )


def _ratio(numerator: pd.Series, denominator: pd.Series, scale: float = 1.0) -> pd.Series:
    return numerator / denominator.where(denominator != 0) * scale
