"""Execution quality per regime, the Rule 605 way, and bootstrap comparisons between regimes.

Pure functions over the run's ``orders`` and ``fills`` tables (and ``nbbo`` for realized
spreads; columns and units in docs/TABLES.md). Everything is measured against the NBBO at broker
receipt. Prices are integer micro-dollars and every sum stays an exact int64 until the final
division to dollars or bps; only the bps metrics divide per fill (by that fill's midpoint)
before summing. Rule 606 routing lives in ``orchestration.routing``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from orchestration.markouts import HORIZONS, future_two_mids
from orchestration.stats import Arm, RegimeDifference, compare_arms
from protocol.money import MICROS_PER_DOLLAR, signed_improvement

SIZE_BUCKETS = ("<$2k", "$2k-$10k", "$10k-$50k", ">=$50k")
NO_NBBO_BUCKET = "no NBBO"
_BUCKET_EDGES_USD = (2_000, 10_000, 50_000)
# Rule 605 order types, by the order's limit price against the NBBO at receipt
ORDER_CLASSES = ("market", "marketable limit", "non-marketable limit", "limit, no NBBO")
NON_MARKETABLE = ORDER_CLASSES[2]

ORDER_COLUMNS = (
    "order_id",
    "regime",
    "side",
    "qty",
    "status",
    "filled_qty",
    "recv_ns",
    "nbbo_bid",
    "nbbo_ask",
)
FILL_COLUMNS = (
    "order_id",
    "regime",
    "side",
    "qty",
    "price",
    "exec_ns",
    "destination",
    "fee",
    "pfof",
)
_REALIZED = {
    h: (f"realized_x_shares_{h}", f"realized_bps_x_shares_{h}", f"marked_shares_{h}")
    for h in HORIZONS
}

# metric -> (numerator, denominator, scale): value = sum(numerator) / sum(denominator) * scale,
# summed over a group's per-order rows. The same table drives summaries and the bootstrap.
RATIO_METRICS: dict[str, tuple[str, str, float]] = {
    "fill_rate": ("filled_shares", "ordered_shares", 1.0),
    "price_improvement_usd_per_share": ("improvement_micros_x_shares", "nbbo_shares", 1e-6),
    "price_improvement_bps": ("improvement_bps_x_shares", "nbbo_shares", 1.0),
    "effective_spread_usd_per_share": ("effective_spread_micros_x_shares", "nbbo_shares", 1e-6),
    "effective_spread_bps": ("effective_spread_bps_x_shares", "nbbo_shares", 1.0),
    "quoted_spread_usd_per_share": ("quoted_spread_micros_x_shares", "nbbo_shares", 1e-6),
    "quoted_spread_bps": ("quoted_spread_bps_x_shares", "nbbo_shares", 1.0),
    "eq_ratio": ("effective_spread_micros_x_shares", "quoted_spread_micros_x_shares", 1.0),
    # the investor's all-in cost against the mid: D*(px - mid) plus commissions, per share
    "all_in_cost_usd_per_share": ("all_in_cost_2x_micros", "nbbo_shares", 0.5e-6),
    **{
        f"realized_spread_usd_per_share_{h}": (top, n, 1e-6) for h, (top, _, n) in _REALIZED.items()
    },
    **{f"realized_spread_bps_{h}": (bps, n, 1.0) for h, (_, bps, n) in _REALIZED.items()},
}
_FILL_SUMS = (
    "filled_shares",
    "nbbo_shares",
    "notional_micros",
    "improvement_micros_x_shares",
    "improvement_bps_x_shares",
    "effective_spread_micros_x_shares",
    "effective_spread_bps_x_shares",
    "quoted_spread_micros_x_shares",
    "quoted_spread_bps_x_shares",
    "pfof_micros",
    "fee_micros",
    "commission_micros",
    "all_in_cost_2x_micros",
    *(column for columns in _REALIZED.values() for column in columns),
)
_COUNTS = (
    "terminal_orders",
    "filled_orders",
    "ordered_shares",
    "classified_orders",
    "improved_orders",
    "at_quote_orders",
    "outside_quote_orders",
)
COUNT_METRICS = (
    "orders",
    "terminal_orders",
    "filled_orders",
    "filled_shares",
    "ordered_shares",
    "nbbo_filled_shares",
)
# a table's columns in report order: counts, Rule 605 ratios, order shares, timing, money
METRIC_COLUMNS = (
    *COUNT_METRICS,
    *(
        m
        for m in RATIO_METRICS
        if not m.startswith("realized") and m != "all_in_cost_usd_per_share"
    ),
    "share_orders_improved",
    "share_orders_at_quote",
    "share_orders_outside_quote",
    *(m for m in RATIO_METRICS if m.startswith("realized")),
    *(f"realized_spread_coverage_{h}" for h in HORIZONS),
    "time_to_execution_ms_mean",
    "time_to_execution_ms_p50",
    "time_to_execution_ms_p99",
    "pfof_paid_usd",
    "fees_usd",
    "commissions_usd",
    "broker_revenue_usd",
    "retail_cost_vs_mid_usd",
    "total_retail_cost_usd",
    "all_in_cost_usd_per_share",
)

# Metrics that ``regime_difference`` compares: the ratio metrics, and the mean time to execution
# over orders with fills (time summed over those orders / their count, a ratio of order sums).
COMPARABLE_METRICS: dict[str, tuple[str, str, float]] = {
    **RATIO_METRICS,
    "time_to_execution_ms_mean": ("time_to_execution_ms_sum", "executed_orders", 1.0),
}
__all__ = [
    "COMPARABLE_METRICS",
    "RATIO_METRICS",
    "RegimeDifference",
    "order_table",
    "regime_difference",
]


def regime_summary(
    orders: pd.DataFrame, fills: pd.DataFrame, nbbo: pd.DataFrame | None = None
) -> dict[str, dict]:
    """Execution quality per regime (in order of first appearance), JSON-ready: NaN -> None."""
    table = _group_metrics(order_table(orders, fills, nbbo), ["regime"])
    return {str(regime): _json_row(row) for regime, row in table.iterrows()}


def regime_table(
    orders: pd.DataFrame, fills: pd.DataFrame, nbbo: pd.DataFrame | None = None
) -> pd.DataFrame:
    """``regime_summary`` as a DataFrame: one row per regime, a ``regime`` column first."""
    return _group_metrics(order_table(orders, fills, nbbo), ["regime"]).reset_index()


def size_bucket_table(
    orders: pd.DataFrame, fills: pd.DataFrame, nbbo: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The regime metrics per regime x Rule 605 notional bucket (qty x mid at receipt)."""
    return split_table(order_table(orders, fills, nbbo), ["size_bucket"])


def order_type_table(
    orders: pd.DataFrame, fills: pd.DataFrame, nbbo: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The regime metrics per regime x order type (market, marketable / non-marketable limit)."""
    return split_table(order_table(orders, fills, nbbo), ["order_class"])


def split_table(per_order: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Metrics per regime x ``keys`` (``order_class`` and/or ``size_bucket``), in report order."""
    table = _group_metrics(per_order, ["regime", *keys]).reset_index()
    rank = pd.Series(0, index=table.index)
    orders = {"regime": list(per_order["regime"].unique()), "order_class": list(ORDER_CLASSES)}
    orders["size_bucket"] = [*SIZE_BUCKETS, NO_NBBO_BUCKET]
    for key in ["regime", *keys]:
        rank = rank * 10_000 + table[key].map({v: i for i, v in enumerate(orders[key])})
    return table.iloc[np.argsort(rank.to_numpy(), kind="stable")].reset_index(drop=True)


def regime_difference(
    fills: pd.DataFrame,
    orders: pd.DataFrame,
    a: str,
    b: str,
    metric: str = "price_improvement_usd_per_share",
    n_boot: int = 1000,
    seed: int = 0,
    *,
    nbbo: pd.DataFrame | None = None,
    per_order: pd.DataFrame | None = None,
) -> RegimeDifference:
    """Difference ``b - a`` of a ratio metric with a 95% bootstrap CI and a z statistic.

    Orders are resampled with replacement within each regime and replication (unfilled orders
    included, so the share weights vary as they would between runs); when ``orders`` carries a
    ``pair_key`` (the sequential design: the same stream under each regime) and both regimes
    hold the same keys, the draw is paired. See ``orchestration.stats``.
    """
    if metric not in COMPARABLE_METRICS:
        raise ValueError(f"cannot compare {metric!r}: choose one of {sorted(COMPARABLE_METRICS)}")
    if per_order is None:
        per_order = order_table(orders, fills, nbbo)
    numerator, denominator, scale = COMPARABLE_METRICS[metric]
    rows = []
    for regime in (a, b):
        picked = per_order[per_order["regime"] == regime]
        if picked.empty:
            raise ValueError(f"cannot compare {metric!r}: regime {regime!r} has no orders")
        rows.append(picked)
    paired = _pairable(rows[0], rows[1])
    if paired:
        rows = [r.sort_values(["replication", "pair_key"], kind="stable") for r in rows]
    arms = tuple(
        Arm(
            r[numerator].to_numpy("float64"),
            r[denominator].to_numpy("float64"),
            r["replication"].to_numpy(),
        )
        for r in rows
    )
    return compare_arms(
        metric,
        (a, b),
        arms,  # type: ignore[arg-type]  # two frames in, two arms out
        scale=scale,
        n_boot=n_boot,
        seed=seed,
        paired=paired,
    )


def after_burn_in(orders: pd.DataFrame, burn_in_s: float) -> pd.DataFrame:
    """The orders that arrived ``burn_in_s`` seconds or more after the first order of their
    replication (``[stream] burn_in_s``): the ones the execution-quality figures measure."""
    if burn_in_s <= 0 or orders.empty:
        return orders
    if "replication" in orders.columns:
        start = orders.groupby("replication")["recv_ns"].transform("min")
    else:
        start = orders["recv_ns"].min()
    return orders[orders["recv_ns"] >= start + round(burn_in_s * 1e9)]


def order_table(
    orders: pd.DataFrame, fills: pd.DataFrame, nbbo: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per order: fill sums, order type, size bucket, NBBO comparison, time to execution."""
    orders, fills = _checked(orders, fills)
    legs = fill_legs(orders, fills, nbbo, checked=True)
    by_order = legs.groupby("order_id", sort=False)
    ids = orders["order_id"]
    sums = by_order[list(_FILL_SUMS)].sum().reindex(ids, fill_value=0)
    last_exec_ns = by_order["exec_ns"].max().reindex(ids, fill_value=0).to_numpy("int64")
    has_fill = by_order.size().reindex(ids, fill_value=0).to_numpy() > 0
    bid, ask, valid = _nbbo(orders["nbbo_bid"], orders["nbbo_ask"])
    direction = _direction(orders["side"])
    filled = sums["filled_shares"].to_numpy("int64")
    # > 0 improved: average price strictly inside the far side of the NBBO, compared exactly
    notional = sums["notional_micros"].to_numpy("int64")
    gap = direction * (np.where(direction > 0, ask, bid) * filled - notional)
    order_class = _order_class(orders, direction, bid, ask, valid)
    classified = has_fill & valid & (order_class != NON_MARKETABLE)
    elapsed_ns = last_exec_ns - orders["recv_ns"].to_numpy("int64")
    frame = pd.DataFrame(
        {
            "order_id": ids.to_numpy(),
            "regime": orders["regime"].to_numpy(),
            "replication": _optional(orders, "replication", 0),
            "pair_key": _optional(orders, "pair_key", None),
            "order_class": order_class,
            "size_bucket": _size_bucket(orders["qty"].to_numpy("int64"), bid + ask, valid),
            "ordered_shares": orders["qty"].to_numpy("int64"),
            "terminal_orders": (orders["status"] != "open").to_numpy(),
            "filled_orders": orders["filled_qty"].to_numpy("int64") > 0,
            "classified_orders": classified,
            "improved_orders": classified & (gap > 0),
            "at_quote_orders": classified & (gap == 0),
            "outside_quote_orders": classified & (gap < 0),
            "time_to_execution_ms": np.where(has_fill, elapsed_ns / 1e6, np.nan),
            "time_to_execution_ms_sum": np.where(has_fill, elapsed_ns / 1e6, 0.0),
            "executed_orders": has_fill.astype("int64"),
        }
    )
    return pd.concat([frame, sums.reset_index(drop=True)], axis=1)


def fill_legs(
    orders: pd.DataFrame,
    fills: pd.DataFrame,
    nbbo: pd.DataFrame | None = None,
    checked: bool = False,
) -> pd.DataFrame:
    """Per-fill share-weighted building blocks, against the order's NBBO at receipt.

    Also the per-fill view the plots use: ``has_nbbo`` (an NBBO at receipt and a covered order:
    not a non-marketable limit), ``improvement_usd_per_share`` (NaN where not ``has_nbbo``) and
    the order's ``order_class``-free identity columns.
    """
    if not checked:
        orders, fills = _checked(orders, fills)
    by_id = orders.set_index("order_id")
    bid, ask, valid = _nbbo(
        by_id["nbbo_bid"].reindex(fills["order_id"]), by_id["nbbo_ask"].reindex(fills["order_id"])
    )
    qty, price = fills["qty"].to_numpy("int64"), fills["price"].to_numpy("int64")
    direction = _direction(fills["side"])
    # Price metrics cover market and marketable limit orders (Rule 605's covered orders for
    # spreads): a non-marketable limit fills at its own limit when the market comes to it, so
    # "improvement" against the quote at receipt would only measure how far away it was placed.
    order_class = _order_class(
        by_id.reindex(fills["order_id"]).reset_index(), direction, bid, ask, valid
    )
    priced = valid & (order_class != NON_MARKETABLE)
    weight = np.where(priced, qty, 0)
    two_mid = np.where(valid, bid + ask, 1)  # 1 only where weight is 0, to keep division clean
    # protocol.money's one formula, vectorised: direction is the side's sign (+1 buy, -1 sell).
    improvement = signed_improvement(direction, price, np.where(direction > 0, ask, bid))
    effective = direction * (2 * price - (bid + ask))  # 2*D*(px - mid)
    quoted = ask - bid
    commission = _optional(fills, "commission", 0).astype("int64")
    legs = {
        "order_id": fills["order_id"].to_numpy(),
        "regime": by_id["regime"].reindex(fills["order_id"]).to_numpy(),
        "destination": fills["destination"].to_numpy(),
        "exec_ns": fills["exec_ns"].to_numpy("int64"),
        "has_nbbo": priced,
        "improvement_usd_per_share": np.where(priced, improvement / MICROS_PER_DOLLAR, np.nan),
        "filled_shares": qty,
        "nbbo_shares": weight,
        "notional_micros": price * qty,
        "improvement_micros_x_shares": improvement * weight,
        "improvement_bps_x_shares": improvement * weight * 2e4 / two_mid,
        "effective_spread_micros_x_shares": effective * weight,
        "effective_spread_bps_x_shares": effective * weight * 2e4 / two_mid,
        "quoted_spread_micros_x_shares": quoted * weight,
        "quoted_spread_bps_x_shares": quoted * weight * 2e4 / two_mid,
        "pfof_micros": fills["pfof"].to_numpy("int64"),
        "fee_micros": fills["fee"].to_numpy("int64"),
        "commission_micros": commission,
        "all_in_cost_2x_micros": effective * weight + 2 * np.where(valid, commission, 0),
    }
    for h, two_mid_later in future_two_mids(fills, nbbo).items():
        top, bps, marked = _REALIZED[h]
        weight_h = np.where(two_mid_later > 0, weight, 0)
        realized = direction * (2 * price - two_mid_later) * weight_h  # 2*D*(px - mid_h)*qty
        legs[top], legs[bps], legs[marked] = realized, realized * 2e4 / two_mid, weight_h
    return pd.DataFrame(legs)


def _group_metrics(per_order: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    grouped = per_order.groupby(keys, sort=False)
    sums = grouped[[*_COUNTS, *_FILL_SUMS]].sum()
    tte = grouped["time_to_execution_ms"]
    out = pd.DataFrame({"orders": grouped.size().astype("int64")})
    for name in ("terminal_orders", "filled_orders", "filled_shares", "ordered_shares"):
        out[name] = sums[name].astype("int64")
    out["nbbo_filled_shares"] = sums["nbbo_shares"].astype("int64")
    for name, (numerator, denominator, scale) in RATIO_METRICS.items():
        out[name] = _ratio(sums[numerator], sums[denominator], scale)
    for share in ("improved", "at_quote", "outside_quote"):
        out[f"share_orders_{share}"] = _ratio(sums[f"{share}_orders"], sums["classified_orders"])
    for h, (_, _, marked) in _REALIZED.items():
        out[f"realized_spread_coverage_{h}"] = _ratio(sums[marked], sums["nbbo_shares"])
    out["time_to_execution_ms_mean"] = tte.mean()
    out["time_to_execution_ms_p50"] = tte.quantile(0.5)
    out["time_to_execution_ms_p99"] = tte.quantile(0.99)
    out["pfof_paid_usd"] = sums["pfof_micros"] / MICROS_PER_DOLLAR
    out["fees_usd"] = sums["fee_micros"] / MICROS_PER_DOLLAR
    out["commissions_usd"] = sums["commission_micros"] / MICROS_PER_DOLLAR
    out["broker_revenue_usd"] = (
        sums["pfof_micros"] + sums["commission_micros"] - sums["fee_micros"]
    ) / MICROS_PER_DOLLAR
    # sum of D*(px - mid)*qty = half the share-weighted effective spread sum
    out["retail_cost_vs_mid_usd"] = sums["effective_spread_micros_x_shares"] / (
        2 * MICROS_PER_DOLLAR
    )
    out["total_retail_cost_usd"] = out["retail_cost_vs_mid_usd"] + out["commissions_usd"]
    return out[list(METRIC_COLUMNS)]


def _checked(orders: pd.DataFrame, fills: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    orders, fills = (
        _with_columns(orders, ORDER_COLUMNS, "orders"),
        _with_columns(fills, FILL_COLUMNS, "fills"),
    )
    if orders["order_id"].duplicated().any():
        raise ValueError("cannot compute metrics: orders has duplicate order_id values")
    for name, frame in (("orders", orders), ("fills", fills)):
        bad = set(frame["side"].unique()) - {"buy", "sell"}
        if bad:
            raise ValueError(f"cannot compute metrics: {name}.side has {sorted(map(str, bad))}")
    row_of = pd.Series(np.arange(len(orders)), index=orders["order_id"])
    order_row = row_of.reindex(fills["order_id"]).to_numpy()  # NaN for unknown ids
    unknown = np.isnan(order_row)
    if unknown.any():
        raise ValueError(f"cannot compute metrics: {int(unknown.sum())} fills name unknown orders")
    order_regime = orders["regime"].to_numpy()[order_row.astype("int64")]
    mismatched = order_regime != fills["regime"].to_numpy()
    if mismatched.any():
        raise ValueError(
            f"cannot compute metrics: {int(mismatched.sum())} fills carry a regime "
            "other than their order's"
        )
    return orders.reset_index(drop=True), fills.reset_index(drop=True)


def _with_columns(frame: pd.DataFrame, columns: tuple[str, ...], name: str) -> pd.DataFrame:
    missing = [c for c in columns if c not in frame.columns]
    if missing and len(frame):
        raise ValueError(f"cannot compute metrics: {name} lacks columns {missing}")
    # an empty table written without a schema stands for "no rows"
    return frame.reindex(columns=[*frame.columns, *missing]) if missing else frame


def _optional(frame: pd.DataFrame, column: str, default: object) -> np.ndarray:
    if column in frame.columns:
        return frame[column].to_numpy()
    return np.full(len(frame), default, dtype=object if default is None else "int64")


def _nbbo(bid: pd.Series, ask: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integer bid/ask (0 where missing) and a mask of usable two-sided quotes."""
    bid_micros = bid.to_numpy("int64", na_value=0)
    ask_micros = ask.to_numpy("int64", na_value=0)
    return bid_micros, ask_micros, (bid_micros > 0) & (ask_micros > 0)


def _direction(side: pd.Series) -> np.ndarray:
    return np.where(side.to_numpy() == "buy", 1, -1).astype("int64")


def _order_class(
    orders: pd.DataFrame, direction: np.ndarray, bid: np.ndarray, ask: np.ndarray, valid: np.ndarray
) -> np.ndarray:
    """market / marketable limit (limit at or through the far touch) / non-marketable limit."""
    if "order_type" not in orders.columns:
        return np.full(len(orders), ORDER_CLASSES[0], dtype=object)
    is_limit = orders["order_type"].to_numpy() == "limit"
    limit = _optional(orders, "limit_price", None)
    limit = pd.Series(limit, dtype="Int64").to_numpy("int64", na_value=0)
    marketable = np.where(direction > 0, limit >= ask, (limit <= bid) & (limit > 0))
    conditions = [~is_limit, ~valid, marketable]
    choices = [ORDER_CLASSES[0], ORDER_CLASSES[3], ORDER_CLASSES[1]]
    return np.select(conditions, choices, default=ORDER_CLASSES[2]).astype(object)


def _size_bucket(qty: np.ndarray, two_mid: np.ndarray, valid: np.ndarray) -> np.ndarray:
    # qty * mid < edge  <=>  qty * (bid + ask) < 2 * edge, exact in integers
    two_notional = qty * two_mid
    edges = [2 * usd * MICROS_PER_DOLLAR for usd in _BUCKET_EDGES_USD]
    conditions = [~valid, two_notional < edges[0], two_notional < edges[1], two_notional < edges[2]]
    choices = [NO_NBBO_BUCKET, *SIZE_BUCKETS[:3]]
    return np.select(conditions, choices, default=SIZE_BUCKETS[3]).astype(object)


def _pairable(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Both arms ran the same stream orders (the sequential design): a paired bootstrap."""
    if a["pair_key"].isna().any() or b["pair_key"].isna().any() or len(a) != len(b):
        return False
    keys = ["replication", "pair_key"]
    return bool(
        a[keys].sort_values(keys).to_numpy().tolist()
        == b[keys].sort_values(keys).to_numpy().tolist()
    )


def _ratio(numerator: pd.Series, denominator: pd.Series, scale: float = 1.0) -> pd.Series:
    """Elementwise ``numerator / denominator * scale``; NaN where the denominator is 0."""
    return numerator / denominator.where(denominator != 0) * scale


def _json_row(row: pd.Series) -> dict[str, int | float | None]:
    # The index holds metric names (str); pandas-stubs types it as Hashable.
    return {name: (int(v) if name in COUNT_METRICS else _py(v)) for name, v in row.items()}  # type: ignore[misc]


def _py(value: object) -> float | None:
    """A plain float, or None for NaN/inf/missing (JSON has no NaN)."""
    if value is None or value is pd.NA:
        return None
    number = float(value)  # type: ignore[arg-type]
    return number if math.isfinite(number) else None
