"""Rule 606(a)(1): the broker's order routing report, per regime (each regime read as a broker).

17 CFR 242.606(a)(1) (as amended by Release No. 34-84528, 2018): for each calendar month of the
quarter, separately for NMS stocks in the S&P 500 and other NMS stocks,
(i) the share of non-directed orders among all orders and, of them, market, marketable limit,
non-marketable limit and other orders (``rule606_orders``);
(ii)-(iii) the venues orders were routed to, with the share of each order type routed to each,
and the net payment for order flow and transaction fees paid / rebates received, in total and
per hundred shares (``rule606``; per order added), and
(iv) a discussion of the material aspects of the relationship with each venue
(``material_aspects``, written from the scenario's arrangements).
Every lab order is non-directed (the client never picks the venue). "Other orders" are the limit
orders that cannot be typed at receipt (no two-sided NBBO). Months come from the orders' receipt
times (UTC); S&P 500 membership from the scenario's ``[[symbols]] sp500``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from config.scenario import Scenario
from orchestration.metrics import ORDER_CLASSES, fill_legs, order_table
from orchestration.rule605_summary import stock_classes
from protocol.money import MICROS_PER_DOLLAR

TYPES_606 = ("market", "marketable limit", "non-marketable limit", "other")
ALL_TYPES = "all"
GROUP = ["regime", "quarter", "month", "stock_class"]
_TYPE_OF_CLASS = dict(zip(ORDER_CLASSES, TYPES_606, strict=True))


@dataclass(frozen=True)
class Arrangements:
    """What the scenario says each destination pays or charges the broker (for 606(a)(1)(iv))."""

    sp500: frozenset[str] = frozenset()
    wholesalers: dict[str, str] = field(default_factory=dict)  # name -> arrangement in words
    venues: dict[str, str] = field(default_factory=dict)
    routers: dict[str, str] = field(default_factory=dict)  # auction, SOR


def arrangements_from_scenario(scenario: Scenario) -> Arrangements:
    lit = {
        v.name: f"exchange: taker fee ${v.taker_fee}/share charged to the broker, maker rebate "
        f"${v.maker_rebate}/share paid to it"
        for v in scenario.venues
    }
    dark = {d.name: f"dark pool (midpoint): fee ${d.fee}/share" for d in scenario.darkpools}
    wholesalers = {w.name: _wholesaler_terms(w) for w in scenario.wholesalers}
    auction_fees = {
        k: v
        for k, v in msgspec_fields(scenario.auction).items()
        if "fee" in k and v not in (0, "0")
    }
    fees = ", ".join(f"{k} {v}" for k, v in auction_fees.items()) or "no fee in the scenario"
    routers = {
        scenario.auction.name: "order-by-order auction (Rule 615 as proposed): pays no PFOF; "
        f"fees: {fees}; the winning responders' fills come back through it",
        scenario.sor.name: "the broker's own smart order router: pays no PFOF; it sends child "
        f"orders to the lit venues ({', '.join(lit)}) and dark pools ({', '.join(dark) or 'none'}),"
        " whose fees the broker pays and whose rebates it keeps",
    }
    return Arrangements(
        sp500=frozenset(s.symbol for s in scenario.symbols if s.sp500),
        wholesalers=wholesalers,
        venues={**lit, **dark},
        routers=routers,
    )


def msgspec_fields(struct: object) -> dict[str, object]:
    return {name: getattr(struct, name) for name in getattr(struct, "__struct_fields__", ())}


def _wholesaler_terms(w: object) -> str:
    spread = getattr(w, "pfof_spread_share", 0.0)
    pays = (
        f"{spread:.0%} of the quoted spread per share"
        if spread > 0
        else f"${getattr(w, 'pfof_per_share', '0')}/share"
    )
    return f"wholesaler: pays the broker payment for order flow of {pays} on the orders it fills"


def rule606_tables(
    orders: pd.DataFrame,
    fills: pd.DataFrame,
    routes: pd.DataFrame | None,
    arrangements: Arrangements | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(rule606_orders, rule606)``: the (a)(1)(i) header rows and the per-venue rows."""
    terms = arrangements or Arrangements()
    typed = _typed_orders(orders, fills, terms.sp500)
    return _header(typed), _venues(typed, orders, fills, routes)


def _typed_orders(orders: pd.DataFrame, fills: pd.DataFrame, sp500: frozenset[str]):
    per_order = order_table(orders, fills)
    received = pd.to_datetime(orders["recv_ns"].to_numpy("int64"), unit="ns")
    symbols = orders["symbol"] if "symbol" in orders.columns else pd.Series([""] * len(orders))
    return pd.DataFrame(
        {
            "order_id": per_order["order_id"].to_numpy(),
            "regime": per_order["regime"].to_numpy(),
            "quarter": received.to_period("Q").astype(str).to_numpy(),
            "month": received.strftime("%Y-%m").to_numpy(),
            "stock_class": stock_classes(symbols.astype(str), sp500).to_numpy(),
            "order_type": per_order["order_class"].map(_TYPE_OF_CLASS).to_numpy(),
        }
    )


def _header(typed: pd.DataFrame) -> pd.DataFrame:
    counts = typed.groupby([*GROUP, "order_type"], sort=False).size().unstack(fill_value=0)
    counts = counts.reindex(columns=list(TYPES_606), fill_value=0)
    total = counts.sum(axis=1)
    table = pd.DataFrame({"orders": total, "non_directed_share": 1.0})
    for kind in TYPES_606:
        table[f"{kind.replace(' ', '_').replace('-', '_')}_share"] = counts[kind] / total
    return table.reset_index()


def _venues(
    typed: pd.DataFrame, orders: pd.DataFrame, fills: pd.DataFrame, routes: pd.DataFrame | None
) -> pd.DataFrame:
    columns = [*GROUP, "destination", "order_type", *VENUE_COLUMNS]
    if routes is None or routes.empty or typed.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    by_id = typed.set_index("order_id")
    decided = routes[routes["order_id"].isin(by_id.index)][["order_id", "destination"]]
    decided = decided.join(by_id, on="order_id")
    money = _money_by_route(orders, fills).join(by_id, on="order_id")
    rows = []
    for kind in (ALL_TYPES, *TYPES_606):
        pick = decided if kind == ALL_TYPES else decided[decided["order_type"] == kind]
        paid = money if kind == ALL_TYPES else money[money["order_type"] == kind]
        base = typed if kind == ALL_TYPES else typed[typed["order_type"] == kind]
        rows.append(_venue_rows(pick, paid, base, kind))
    table = pd.concat(rows, ignore_index=True)
    return table.sort_values([*GROUP, "destination"], kind="stable")[columns].reset_index(drop=True)


def _money_by_route(orders: pd.DataFrame, fills: pd.DataFrame) -> pd.DataFrame:
    """Each fill's shares, PFOF and fee under the broker destination it came back through."""
    legs = fill_legs(orders, fills)
    destination = legs["destination"].to_numpy()
    if "route" in fills.columns:
        route = fills["route"].fillna("").astype(str).to_numpy()
        destination = np.where(route != "", route, destination)
    return pd.DataFrame(
        {
            "order_id": legs["order_id"].to_numpy(),
            "destination": destination,
            "filled_shares": legs["filled_shares"].to_numpy(),
            "pfof_micros": legs["pfof_micros"].to_numpy(),
            "fee_micros": legs["fee_micros"].to_numpy(),
        }
    )


VENUE_COLUMNS = (
    "routed_orders",
    "order_share",
    "filled_shares",
    "pfof_usd",
    "fees_usd",
    "net_payment_usd",
    "net_payment_cents_per_100_shares",
    "net_payment_usd_per_order",
)


def _venue_rows(decided, money, base, kind: str) -> pd.DataFrame:
    keys = [*GROUP, "destination"]
    routed = decided.groupby(keys, sort=False)["order_id"].nunique().rename("routed_orders")
    paid = money.groupby(keys, sort=False)[["filled_shares", "pfof_micros", "fee_micros"]].sum()
    table = routed.to_frame().join(paid, how="left").fillna(0).reset_index()
    totals = base.groupby(GROUP, sort=False).size().rename("type_orders")
    table = table.join(totals, on=GROUP)
    net = table["pfof_micros"] - table["fee_micros"]
    return table.assign(
        order_type=kind,
        order_share=table["routed_orders"] / table["type_orders"],
        filled_shares=table["filled_shares"].astype("int64"),
        pfof_usd=table["pfof_micros"] / MICROS_PER_DOLLAR,
        fees_usd=table["fee_micros"] / MICROS_PER_DOLLAR,
        net_payment_usd=net / MICROS_PER_DOLLAR,
        # micro-dollars per share x 100 shares / 10,000 micro-dollars per cent
        net_payment_cents_per_100_shares=net
        / table["filled_shares"].where(table["filled_shares"] != 0)
        / 100,
        net_payment_usd_per_order=net / table["routed_orders"] / MICROS_PER_DOLLAR,
    )


def material_aspects(
    venues: pd.DataFrame, arrangements: Arrangements | None
) -> dict[str, dict[str, str]]:
    """606(a)(1)(iv) per regime and venue: the scenario's terms, and what this run paid."""
    terms = arrangements or Arrangements()
    known = {**terms.wholesalers, **terms.venues, **terms.routers}
    every = venues[venues["order_type"] == ALL_TYPES] if not venues.empty else venues
    out: dict[str, dict[str, str]] = {}
    if every.empty:
        return out
    totals = every.groupby(["regime", "destination"], sort=False)[
        ["routed_orders", "net_payment_usd", "filled_shares"]
    ].sum()
    for row in totals.reset_index().to_dict(orient="records"):
        destination = str(row["destination"])
        what = known.get(destination, "no payment arrangement in the scenario")
        out.setdefault(str(row["regime"]), {})[destination] = (
            f"{destination} ({what}). In this run: {int(row['routed_orders']):,} orders routed, "
            f"{int(row['filled_shares']):,} shares filled through it, net payment to the broker "
            f"${row['net_payment_usd']:,.2f} (PFOF received less fees paid, rebates included)."
        )
    return out
