"""Routing per regime, the Rule 606 way: where orders went and what the broker was paid for them.

Two views:
- ``routing_table``: by *executing* destination, from the fills (who filled the shares);
- ``rule606_table``: by the broker's *routing* destination (``routes``: the broker's decisions,
  where an order may be sent to several destinations in turn), split by order type, with PFOF
  and fees attributed to the destination the fill came back through (the fill's ``route``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from orchestration.metrics import ORDER_CLASSES, fill_legs, order_table
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


RULE606_COLUMNS = (
    "regime",
    "order_class",
    "destination",
    "routed_orders",
    "order_share",
    "filled_shares",
    "pfof_usd",
    "fees_usd",
    "net_pfof_usd",
    "net_pfof_cents_per_100_shares",
)


def rule606_table(
    orders: pd.DataFrame, fills: pd.DataFrame, routes: pd.DataFrame | None
) -> pd.DataFrame:
    """Per regime x order type x routing destination: share of orders routed there and net PFOF.

    Only the first router's decisions count (routes whose ``order_id`` is a client order id).
    ``order_share`` = orders routed at least once to the destination / the regime and type's
    orders with any route (an order re-routed after a decline counts at each destination).
    """
    per_order = order_table(orders, fills)
    classes = per_order.set_index("order_id")["order_class"]
    if routes is None or routes.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in RULE606_COLUMNS})
    decided = routes[routes["order_id"].isin(classes.index)]
    decided = decided.assign(
        regime=per_order.set_index("order_id")["regime"].reindex(decided["order_id"]).to_numpy(),
        order_class=classes.reindex(decided["order_id"]).to_numpy(),
    )
    keys = ["regime", "order_class", "destination"]
    routed = decided.groupby(keys, sort=False)["order_id"].nunique().rename("routed_orders")
    totals = decided.groupby(["regime", "order_class"], sort=False)["order_id"].nunique()
    money = _money_by_route(orders, fills, classes)
    table = routed.reset_index().merge(money, on=keys, how="left")
    for column in ("filled_shares", "pfof_micros", "fee_micros"):
        table[column] = table[column].fillna(0).astype("int64")
    # Index.map takes a Series (pandas-stubs lists only Mapping and callables).
    denominators = pd.MultiIndex.from_frame(table[["regime", "order_class"]]).map(totals)  # type: ignore[arg-type]
    net = table["pfof_micros"] - table["fee_micros"]
    table = table.assign(
        order_share=table["routed_orders"] / np.asarray(denominators, dtype="float64"),
        pfof_usd=table["pfof_micros"] / MICROS_PER_DOLLAR,
        fees_usd=table["fee_micros"] / MICROS_PER_DOLLAR,
        net_pfof_usd=net / MICROS_PER_DOLLAR,
        net_pfof_cents_per_100_shares=_ratio(net, table["filled_shares"], 1e-2),
    )
    regimes = {r: i for i, r in enumerate(per_order["regime"].unique())}
    rank = table["regime"].map(regimes) * 10 + table["order_class"].map(
        {c: i for i, c in enumerate(ORDER_CLASSES)}
    )
    order = np.lexsort((-table["routed_orders"].to_numpy(), rank.to_numpy()))
    return table.iloc[order][list(RULE606_COLUMNS)].reset_index(drop=True)


def _money_by_route(orders: pd.DataFrame, fills: pd.DataFrame, classes: pd.Series) -> pd.DataFrame:
    """Filled shares, PFOF and fees per regime x type x the broker destination of each fill."""
    legs = fill_legs(orders, fills)
    route = fills["route"].to_numpy() if "route" in fills.columns else None
    destination = legs["destination"].to_numpy()
    if route is not None:
        destination = np.where(pd.Series(route).fillna("").to_numpy() != "", route, destination)
    legs = legs.assign(
        destination=destination, order_class=classes.reindex(legs["order_id"]).to_numpy()
    )
    return (
        legs.groupby(["regime", "order_class", "destination"], sort=False)
        .agg(
            filled_shares=("filled_shares", "sum"),
            pfof_micros=("pfof_micros", "sum"),
            fee_micros=("fee_micros", "sum"),
        )
        .reset_index()
    )


def _ratio(numerator: pd.Series, denominator: pd.Series, scale: float = 1.0) -> pd.Series:
    return numerator / denominator.where(denominator != 0) * scale
