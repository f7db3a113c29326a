"""Rule 605 as amended in 2024: the monthly detailed report and the summary report, per regime.

Source: Release No. 34-99679, "Disclosure of Order Execution Information", 89 FR 26428
(Apr. 15, 2024), amending 17 CFR 242.600 and 242.605. The field layout follows the Rule 605 NMS
Plan's Exhibit A (the detailed file's 55 fields: ``LotSizeFlag``, ``OrderSize``, ``OrderType``,
``CvrdOrderQtyto100microsec`` … ``AvgRealSprd5min`` … ``ExctdSIOutsizedQty``) and the SEC's
Order Execution Summary specification for § 242.605(a)(2) (github.com/sec-gov/oes). Each regime
is reported as if it were its own broker; the order is the unit of receipt (the broker's
``OrderReceived``), the NBBO at receipt the benchmark. Column meanings and every simplification:
docs/TABLES.md ("rule605") and docs/REPORTS.md ("Rule 605 and Rule 606 as the rules define them").

Quantities are float shares here (the rule's fractional category needs them; the lab's wire
carries whole shares); prices stay integer micro-dollars until a group's final division.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from orchestration.markouts import future_two_mids
from orchestration.rule605_orders import (
    LOT_CLASSES,
    ORDER_TYPES,
    PRICED_TYPES,
    SIZE_LABELS,
    classify_orders,
)
from protocol.money import MICROS_PER_DOLLAR, signed_improvement

# § 242.605(a)(1)(ii): realized spread at 50 ms, 1 s, 15 s, 1 min and 5 min after execution
# (Exhibit A: AvgRealSprd50millisec … AvgRealSprd5min)
HORIZONS_605: dict[str, int] = {
    "50ms": 50_000_000,
    "1s": 1_000_000_000,
    "15s": 15_000_000_000,
    "1min": 60_000_000_000,
    "5min": 300_000_000_000,
}
# § 242.605(a)(1)(ii): cumulative shares executed by time after receipt (for executable
# non-marketable limits: after they became executable). Exhibit A: CvrdOrderQtyto100microsec,
# …to1millisec, …to10millisec, …to1sec, …to10sec, …to30sec, …to5min, CvrdOrderQtyOthr.
TTE_EDGES_NS = (100_000, 1_000_000, 10_000_000, 10**9, 10 * 10**9, 30 * 10**9, 300 * 10**9)
TTE_LABELS = ("<100us", "100us-1ms", "1ms-10ms", "10ms-1s", "1s-10s", "10s-30s", "30s-5min")
TTE_BUCKETS = (*TTE_LABELS, ">=5min")
# The same statistics relative to the best available displayed price (odd lots included)
BEST_SUMS = (
    "best_priced_shares",
    *(
        f"best_{kind}_{part}"
        for kind in ("improved", "outside")
        for part in ("shares", "amount_x", "tte_x")
    ),
    "best_at_shares",
    "best_at_tte_x",
)
DETAIL_KEYS = ["regime", "month", "symbol", "order_type", "lot_class", "size_bucket"]
SUMS = (
    "covered_orders",
    "covered_shares",
    "notional_x",
    "canceled_shares",
    "executed_shares",
    "filled_orders",
    "tte_x",
    *(f"tte_{label}" for label in TTE_BUCKETS),
    "priced_shares",
    "mid_x",
    "quoted_x",
    "effective_x",
    "improvement_x",
    "improved_shares",
    "improved_amount_x",
    "improved_tte_x",
    "at_quote_shares",
    "at_quote_tte_x",
    "outside_shares",
    "outside_amount_x",
    "outside_tte_x",
    "size_benchmark_shares",
    "size_improved_shares",
    *BEST_SUMS,
    *(f"{kind}_{h}" for h in HORIZONS_605 for kind in ("realized_x", "marked", "marked_mid_x")),
)


def rule605_orders(
    orders: pd.DataFrame, fills: pd.DataFrame, nbbo: pd.DataFrame | None
) -> pd.DataFrame:
    """One row per order: its categories and the sums its fills contribute; an order the rule
    does not cover has no ``order_type`` and zero sums (``not_covered`` says why)."""
    per_order = classify_orders(orders, fills, nbbo)
    is_covered = per_order["order_type"].notna()
    covered = per_order[is_covered].reset_index(drop=True)
    legs = _fill_legs(covered, fills, nbbo)
    sums = legs.groupby("order_id", sort=False).sum(numeric_only=True)
    sums = sums.reindex(covered["order_id"], fill_value=0.0).reset_index(drop=True)
    executed = sums["executed_shares"].to_numpy("float64")
    size = _size_improvement(covered, sums)
    frame = covered.assign(
        covered_orders=1,
        covered_shares=covered["qty"],
        notional_x=covered["qty"] * covered["two_mid"] / 2,
        canceled_shares=np.where(covered["status"] != "open", covered["qty"] - executed, 0.0),
        filled_orders=(executed >= covered["qty"]).astype("int64"),
        size_benchmark_shares=size[0],
        size_improved_shares=size[1],
    )
    missing = [c for c in SUMS if c not in frame.columns]
    frame = pd.concat([frame, sums.reindex(columns=missing, fill_value=0.0)], axis=1)
    others = per_order[~is_covered].reindex(columns=frame.columns)
    others[list(SUMS)] = 0.0
    return pd.concat([frame, others], ignore_index=True) if len(others) else frame


def not_covered_table(per_order: pd.DataFrame) -> pd.DataFrame:
    """Orders in no Rule 605 row: ``regime``, ``reason`` (no NBBO at receipt, a non-marketable
    limit never executable), ``orders``."""
    left_out = per_order[per_order["order_type"].isna()]
    counts = left_out.groupby(["regime", "not_covered"], sort=False).size()
    table = counts.rename("orders").reset_index().rename(columns={"not_covered": "reason"})
    return table.astype({"orders": "int64"})


def rule605_table(per_order: pd.DataFrame) -> pd.DataFrame:
    """The detailed report (§ 242.605(a)(1)): regime x month x symbol x type x lot x size."""
    if per_order["order_type"].notna().sum() == 0:
        empty = _detail_metrics(pd.DataFrame({c: pd.Series(dtype="float64") for c in SUMS}))
        return pd.DataFrame(columns=[*DETAIL_KEYS, *empty.columns])
    covered = per_order[per_order["order_type"].notna()]
    sums = covered.groupby(DETAIL_KEYS, sort=False)[list(SUMS)].sum().reset_index()
    table = pd.concat([sums[DETAIL_KEYS], _detail_metrics(sums)], axis=1)
    return _sorted(table, DETAIL_KEYS)


def _detail_metrics(s: pd.DataFrame) -> pd.DataFrame:
    usd = 1 / MICROS_PER_DOLLAR
    out: dict[str, object] = {
        "covered_orders": s["covered_orders"].astype("int64"),
        "covered_shares": s["covered_shares"],
        "notional_usd": s["notional_x"] * usd,
        "canceled_shares": s["canceled_shares"],
        "executed_shares": s["executed_shares"],
        "filled_orders": s["filled_orders"].astype("int64"),
        **{f"shares_executed_{b}": s[f"tte_{b}"] for b in TTE_BUCKETS},
        # § 242.605(a)(1)(ii): average time to execution, share-weighted, in milliseconds
        "avg_time_to_execution_ms": _div(s["tte_x"], s["executed_shares"], 1e-6),
        "avg_midpoint_usd": _div(s["mid_x"], s["priced_shares"], usd),
        "avg_quoted_spread_usd": _div(s["quoted_x"], s["priced_shares"], usd),
        "avg_effective_spread_usd": _div(s["effective_x"], s["priced_shares"], usd),
        "avg_effective_spread_bps": _div(s["effective_x"], s["mid_x"], 1e4),
        # E/Q as the rule defines "average effective over quoted spread": the average effective
        # spread over the average quoted spread of the same executions (OES field 15,
        # § 242.605(a)(2)(ix); Exhibit A AvgEFQPct), i.e. a ratio of share-weighted sums
        "eq_ratio": _div(s["effective_x"], s["quoted_x"]),
        "improved_shares": s["improved_shares"],
        "improvement_usd_per_share": _div(s["improved_amount_x"], s["improved_shares"], usd),
        "improved_time_ms": _div(s["improved_tte_x"], s["improved_shares"], 1e-6),
        "at_quote_shares": s["at_quote_shares"],
        "at_quote_time_ms": _div(s["at_quote_tte_x"], s["at_quote_shares"], 1e-6),
        "outside_quote_shares": s["outside_shares"],
        "outside_quote_usd_per_share": _div(s["outside_amount_x"], s["outside_shares"], usd),
        "outside_quote_time_ms": _div(s["outside_tte_x"], s["outside_shares"], 1e-6),
        "size_benchmark_shares": s["size_benchmark_shares"],
        "size_improved_shares": s["size_improved_shares"],
        **_best_metrics(s),
    }
    for h in HORIZONS_605:
        out[f"realized_spread_usd_{h}"] = _div(s[f"realized_x_{h}"], s[f"marked_{h}"], usd)
        out[f"realized_spread_bps_{h}"] = _div(s[f"realized_x_{h}"], s[f"marked_mid_x_{h}"], 1e4)
        out[f"realized_spread_note_{h}"] = realized_notes(s[f"marked_{h}"], s["priced_shares"], h)
    return pd.DataFrame(out)


def _best_metrics(s: pd.DataFrame) -> dict[str, pd.Series]:
    """Improvement, at and outside the best available displayed price (amended Rule 605: the
    detailed report's fields relative to it, ExctdPIOrderRltvBestPrQty …), as the NBBO columns
    are; shares null where no execution had that price at receipt (a tape from before it)."""
    usd = 1 / MICROS_PER_DOLLAR
    known = s["best_priced_shares"] > 0
    return {
        "best_priced_shares": s["best_priced_shares"],
        "improved_vs_best_shares": s["best_improved_shares"].where(known),
        "improvement_vs_best_usd_per_share": _div(
            s["best_improved_amount_x"], s["best_improved_shares"], usd
        ),
        "improved_vs_best_time_ms": _div(s["best_improved_tte_x"], s["best_improved_shares"], 1e-6),
        "at_best_shares": s["best_at_shares"].where(known),
        "at_best_time_ms": _div(s["best_at_tte_x"], s["best_at_shares"], 1e-6),
        "outside_best_shares": s["best_outside_shares"].where(known),
        "outside_best_usd_per_share": _div(
            s["best_outside_amount_x"], s["best_outside_shares"], usd
        ),
        "outside_best_time_ms": _div(s["best_outside_tte_x"], s["best_outside_shares"], 1e-6),
    }


def realized_notes(marked: pd.Series, priced: pd.Series, horizon: str) -> list[str]:
    """Why a realized spread is missing or partial ("" when every priced share has a mark)."""
    notes = []
    for m, p in zip(marked.to_numpy("float64"), priced.to_numpy("float64"), strict=True):
        if p == 0:
            notes.append("n/a: no executions with a price benchmark")
        elif m == 0:
            notes.append(f"unavailable: the run's NBBO ends less than {horizon} after every fill")
        elif m < p:
            notes.append(
                f"partial: {m / p:.0%} of shares (the run's NBBO ends less than {horizon} "
                "after the other fills)"
            )
        else:
            notes.append("")
    return notes


def _fill_legs(covered: pd.DataFrame, fills: pd.DataFrame, nbbo: pd.DataFrame | None):
    """Per fill of a covered order: the share-weighted building blocks of every metric."""
    by_id = covered.set_index("order_id")
    fills = fills[fills["order_id"].isin(by_id.index)].reset_index(drop=True)
    order = by_id.reindex(fills["order_id"])
    qty = fills["qty"].to_numpy("float64")
    price = fills["price"].to_numpy("int64")
    direction = np.where(order["side"].to_numpy() == "buy", 1, -1)
    bid, ask = order["bid"].to_numpy("int64"), order["ask"].to_numpy("int64")
    two_mid = order["two_mid"].to_numpy("int64")
    tte = np.maximum(fills["exec_ns"].to_numpy("int64") - order["start_ns"].to_numpy("int64"), 0)
    priced = order["order_type"].isin(PRICED_TYPES).to_numpy()
    w = np.where(priced, qty, 0.0)
    improvement = signed_improvement(direction, price, np.where(direction > 0, ask, bid))
    legs = {
        "order_id": fills["order_id"].to_numpy(),
        "executed_shares": qty,
        "tte_x": tte * qty,
        **_tte_buckets(tte, qty),
        "priced_shares": w,
        "mid_x": two_mid / 2 * w,
        "quoted_x": (ask - bid) * w,
        "effective_x": direction * (2 * price - two_mid) * w,
        "improvement_x": improvement * w,
        "at_or_better_shares": np.where(improvement >= 0, w, 0.0),
    }
    legs.update(_against(improvement, w, tte, "", "at_quote"))
    # the best available displayed price at receipt (weight 0 where unknown: older tapes)
    best_far = np.where(direction > 0, order["best_ask"], order["best_bid"]).astype("int64")
    best_w = np.where(best_far > 0, w, 0.0)
    best_improvement = signed_improvement(direction, price, best_far)
    legs["best_priced_shares"] = best_w
    legs.update(_against(best_improvement, best_w, tte, "best_", "best_at"))
    for h, two_mid_later in future_two_mids(fills, nbbo, HORIZONS_605).items():
        marked = np.where(two_mid_later > 0, w, 0.0)
        legs[f"realized_x_{h}"] = direction * (2 * price - two_mid_later) * marked
        legs[f"marked_{h}"] = marked
        legs[f"marked_mid_x_{h}"] = two_mid / 2 * marked
    return pd.DataFrame(legs)


def _against(
    improvement: np.ndarray, w: np.ndarray, tte: np.ndarray, prefix: str, at: str
) -> dict[str, np.ndarray]:
    """Shares improved, at and outside a benchmark, with amounts and times, from each fill's
    signed improvement over it (positive: better for the customer) and its weight."""
    legs = {}
    for name, mask, sign in (("improved", improvement > 0, 1), ("outside", improvement < 0, -1)):
        legs[f"{prefix}{name}_shares"] = np.where(mask, w, 0.0)
        legs[f"{prefix}{name}_amount_x"] = np.where(mask, sign * improvement * w, 0.0)
        legs[f"{prefix}{name}_tte_x"] = np.where(mask, tte * w, 0.0)
    legs[f"{at}_shares"] = np.where(improvement == 0, w, 0.0)
    legs[f"{at}_tte_x"] = np.where(improvement == 0, tte * w, 0.0)
    return legs


def _tte_buckets(tte_ns: np.ndarray, qty: np.ndarray) -> dict[str, np.ndarray]:
    index = np.searchsorted(np.asarray(TTE_EDGES_NS), tte_ns, side="right")
    return {f"tte_{label}": np.where(index == i, qty, 0.0) for i, label in enumerate(TTE_BUCKETS)}


def _size_improvement(covered: pd.DataFrame, sums: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """Exhibit A ExctdOrderSizeBnchmrkQty / ExctdSIOutsizedQty, for priced orders larger than
    the size displayed at the far side of the NBBO at receipt: shares executed at the quote or
    better up to that displayed size (the benchmark), and beyond it (size improvement)."""
    displayed = covered["displayed_qty"].to_numpy("float64")  # NaN: unknown
    outsized = covered["order_type"].isin(PRICED_TYPES).to_numpy() & (covered["qty"] > displayed)
    at_or_better = sums["at_or_better_shares"].to_numpy("float64")
    benchmark = np.where(outsized, np.minimum(at_or_better, displayed), 0.0)
    improved = np.where(outsized, np.maximum(at_or_better - displayed, 0.0), 0.0)
    return benchmark, improved


def _sorted(table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    orders = {
        "order_type": ORDER_TYPES,
        "lot_class": LOT_CLASSES,
        "size_bucket": (*SIZE_LABELS, "<$200k (all)"),
    }
    rank = pd.Series(0, index=table.index, dtype="int64")
    for key in keys:
        values = orders.get(key) or list(dict.fromkeys(table[key]))
        rank = rank * 1_000 + table[key].map({v: i for i, v in enumerate(values)}).fillna(999)
    return table.iloc[np.argsort(rank.to_numpy(), kind="stable")].reset_index(drop=True)


def _div(numerator: pd.Series, denominator: pd.Series, scale: float = 1.0) -> pd.Series:
    return numerator / denominator.where(denominator != 0) * scale
