"""Execution quality per regime: Rule 605 style quality, Rule 606 style routing, bootstrap CIs.

Pure functions over the run's ``orders`` and ``fills`` tables (columns and units in
docs/TABLES.md). Everything is measured against the NBBO at broker receipt. Prices are integer
micro-dollars and every sum stays an exact int64 until the final division to dollars or bps; only
the bps metrics divide per fill (by that fill's midpoint) before summing.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from protocol.money import MICROS_PER_DOLLAR

SIZE_BUCKETS = ("<$2k", "$2k-$10k", "$10k-$50k", ">=$50k")
NO_NBBO_BUCKET = "no NBBO"
_BUCKET_EDGES_USD = (2_000, 10_000, 50_000)
_BOOTSTRAP_CELLS = 4_000_000  # resampled order indices held in memory at once

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


@dataclass(frozen=True, slots=True)
class RegimeDifference:
    """Bootstrap comparison of one metric between two regimes (``difference = b - a``)."""

    metric: str
    regime_a: str
    regime_b: str
    value_a: float | None
    value_b: float | None
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    significant: bool
    n_boot: int

    def to_dict(self) -> dict[str, str | float | bool | int | None]:
        return asdict(self)


def regime_summary(orders: pd.DataFrame, fills: pd.DataFrame) -> dict[str, dict]:
    """Execution quality per regime (in order of first appearance), JSON-ready: NaN -> None."""
    table = _group_metrics(order_table(orders, fills), ["regime"])
    return {str(regime): _json_row(row) for regime, row in table.iterrows()}


def regime_table(orders: pd.DataFrame, fills: pd.DataFrame) -> pd.DataFrame:
    """``regime_summary`` as a DataFrame: one row per regime, a ``regime`` column first."""
    return _group_metrics(order_table(orders, fills), ["regime"]).reset_index()


def size_bucket_table(orders: pd.DataFrame, fills: pd.DataFrame) -> pd.DataFrame:
    """The regime metrics per regime x Rule 605 notional bucket (qty x mid at receipt)."""
    per_order = order_table(orders, fills)
    table = _group_metrics(per_order, ["regime", "size_bucket"]).reset_index()
    regime_rank = {r: i for i, r in enumerate(per_order["regime"].unique())}
    bucket_rank = {b: i for i, b in enumerate((*SIZE_BUCKETS, NO_NBBO_BUCKET))}
    rank = table["regime"].map(regime_rank) * len(bucket_rank) + table["size_bucket"].map(
        bucket_rank
    )
    return table.iloc[np.argsort(rank.to_numpy(), kind="stable")].reset_index(drop=True)


def routing_table(orders: pd.DataFrame, fills: pd.DataFrame) -> pd.DataFrame:
    """Rule 606 style routing per regime x destination, from the fills.

    ``order_share`` is the fraction of the regime's orders with fills that got at least one fill
    at the destination (split orders count at each). Net PFOF is PFOF received minus fees paid
    (rebates count as received).
    """
    legs = _fill_legs(orders, fills)
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


def regime_difference(
    fills: pd.DataFrame,
    orders: pd.DataFrame,
    a: str,
    b: str,
    metric: str = "price_improvement_usd_per_share",
    n_boot: int = 1000,
    seed: int = 0,
) -> RegimeDifference:
    """Difference ``b - a`` of a ratio metric with a 95% percentile bootstrap CI.

    Orders are resampled with replacement within each regime (unfilled orders included, so the
    share weights vary as they would between runs). Resamples whose denominator is zero are
    dropped. ``significant`` is true when the CI excludes 0.
    """
    if metric not in RATIO_METRICS:
        raise ValueError(f"cannot compare {metric!r}: choose one of {sorted(RATIO_METRICS)}")
    per_order = order_table(orders, fills)
    numerator, denominator, scale = RATIO_METRICS[metric]
    rng = np.random.default_rng(seed)
    values, boots = [], []
    for regime in (a, b):
        rows = per_order[per_order["regime"] == regime]
        if rows.empty:
            raise ValueError(f"cannot compare {metric!r}: regime {regime!r} has no orders")
        top, bottom = rows[numerator].to_numpy(), rows[denominator].to_numpy()
        values.append(float(top.sum() / bottom.sum() * scale) if bottom.sum() != 0 else None)
        boots.append(_bootstrap(top, bottom, scale, n_boot, rng))
    diffs = boots[1] - boots[0]
    diffs = diffs[~np.isnan(diffs)]
    low, high = (None, None)
    if diffs.size:
        low, high = (float(q) for q in np.percentile(diffs, [2.5, 97.5]))
    difference = None if None in values else values[1] - values[0]
    significant = low is not None and high is not None and (low > 0 or high < 0)
    return RegimeDifference(
        metric, a, b, values[0], values[1], difference, low, high, significant, int(diffs.size)
    )


def order_table(orders: pd.DataFrame, fills: pd.DataFrame) -> pd.DataFrame:
    """One row per order: fill sums, size bucket, NBBO comparison and time to execution."""
    orders, fills = _checked(orders, fills)
    legs = _fill_legs(orders, fills, checked=True)
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
    classified = has_fill & valid
    elapsed_ns = last_exec_ns - orders["recv_ns"].to_numpy("int64")
    frame = pd.DataFrame(
        {
            "order_id": ids.to_numpy(),
            "regime": orders["regime"].to_numpy(),
            "size_bucket": _size_bucket(orders["qty"].to_numpy("int64"), bid + ask, valid),
            "ordered_shares": orders["qty"].to_numpy("int64"),
            "terminal_orders": (orders["status"] != "open").to_numpy(),
            "filled_orders": orders["filled_qty"].to_numpy("int64") > 0,
            "classified_orders": classified,
            "improved_orders": classified & (gap > 0),
            "at_quote_orders": classified & (gap == 0),
            "outside_quote_orders": classified & (gap < 0),
            "time_to_execution_ms": np.where(has_fill, elapsed_ns / 1e6, np.nan),
        }
    )
    return pd.concat([frame, sums.reset_index(drop=True)], axis=1)


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
    out["time_to_execution_ms_mean"] = tte.mean()
    out["time_to_execution_ms_p50"] = tte.quantile(0.5)
    out["time_to_execution_ms_p99"] = tte.quantile(0.99)
    out["pfof_paid_usd"] = sums["pfof_micros"] / MICROS_PER_DOLLAR
    out["fees_usd"] = sums["fee_micros"] / MICROS_PER_DOLLAR
    # sum of D*(px - mid)*qty = half the share-weighted effective spread sum
    out["retail_cost_vs_mid_usd"] = sums["effective_spread_micros_x_shares"] / (
        2 * MICROS_PER_DOLLAR
    )
    return out


def _fill_legs(orders: pd.DataFrame, fills: pd.DataFrame, checked: bool = False) -> pd.DataFrame:
    """Per-fill share-weighted building blocks, against the order's NBBO at receipt."""
    if not checked:
        orders, fills = _checked(orders, fills)
    by_id = orders.set_index("order_id")
    bid, ask, valid = _nbbo(
        by_id["nbbo_bid"].reindex(fills["order_id"]), by_id["nbbo_ask"].reindex(fills["order_id"])
    )
    qty, price = fills["qty"].to_numpy("int64"), fills["price"].to_numpy("int64")
    direction = _direction(fills["side"])
    weight = np.where(valid, qty, 0)
    two_mid = np.where(valid, bid + ask, 1)  # 1 only where weight is 0, to keep division clean
    improvement = np.where(direction > 0, ask - price, price - bid)
    effective = direction * (2 * price - (bid + ask))  # 2*D*(px - mid)
    quoted = ask - bid
    return pd.DataFrame(
        {
            "order_id": fills["order_id"].to_numpy(),
            "regime": by_id["regime"].reindex(fills["order_id"]).to_numpy(),
            "destination": fills["destination"].to_numpy(),
            "exec_ns": fills["exec_ns"].to_numpy("int64"),
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
        }
    )


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


def _nbbo(bid: pd.Series, ask: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integer bid/ask (0 where missing) and a mask of usable two-sided quotes."""
    bid_micros = bid.to_numpy("int64", na_value=0)
    ask_micros = ask.to_numpy("int64", na_value=0)
    return bid_micros, ask_micros, (bid_micros > 0) & (ask_micros > 0)


def _direction(side: pd.Series) -> np.ndarray:
    return np.where(side.to_numpy() == "buy", 1, -1).astype("int64")


def _size_bucket(qty: np.ndarray, two_mid: np.ndarray, valid: np.ndarray) -> np.ndarray:
    # qty * mid < edge  <=>  qty * (bid + ask) < 2 * edge, exact in integers
    two_notional = qty * two_mid
    edges = [2 * usd * MICROS_PER_DOLLAR for usd in _BUCKET_EDGES_USD]
    conditions = [~valid, two_notional < edges[0], two_notional < edges[1], two_notional < edges[2]]
    choices = [NO_NBBO_BUCKET, *SIZE_BUCKETS[:3]]
    return np.select(conditions, choices, default=SIZE_BUCKETS[3]).astype(object)


def _ratio(numerator: pd.Series, denominator: pd.Series, scale: float = 1.0) -> pd.Series:
    """Elementwise ``numerator / denominator * scale``; NaN where the denominator is 0."""
    return numerator / denominator.where(denominator != 0) * scale


def _bootstrap(
    top: np.ndarray, bottom: np.ndarray, scale: float, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    n = len(top)
    out = np.full(n_boot, np.nan)
    chunk = max(1, _BOOTSTRAP_CELLS // n)
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        picks = rng.integers(0, n, size=(size, n))
        sum_top, sum_bottom = top[picks].sum(axis=1), bottom[picks].sum(axis=1)
        np.divide(sum_top, sum_bottom, out=out[start : start + size], where=sum_bottom != 0)
    return out * scale


def _json_row(row: pd.Series) -> dict[str, int | float | None]:
    return {name: (int(v) if name in COUNT_METRICS else _py(v)) for name, v in row.items()}


def _py(value: object) -> float | None:
    """A plain float, or None for NaN/inf/missing (JSON has no NaN)."""
    if value is None or value is pd.NA:
        return None
    number = float(value)  # type: ignore[arg-type]
    return number if math.isfinite(number) else None
