"""Rule 605 (as amended in 2024) categories of each order: type, lot class, notional size, and
when its clock starts. Release No. 34-99679, 89 FR 26428; definitions in 17 CFR 242.600(b).

- Covered order (§ 242.600(b)(22) as amended): an order received while an NBBO is disseminated;
  an order without a two-sided NBBO at receipt is not covered. A non-marketable limit order
  below the midpoint is covered only once it becomes *executable* (below).
- Order type (§ 242.600(b)(15) "categorized by order type"; Exhibit A codes MXXNN, LYNNN,
  LYNYN, LNYNN, LNYYN, LNNNN, LNNYN): market; marketable limit; marketable IOC;
  midpoint-or-better limit (a non-marketable limit priced at or better than the midpoint at
  receipt) and its IOC form; executable non-marketable limit and its IOC form. Stop orders are
  not in the lab.
- Executable (§ 242.600(b) "executable", as we read it): a buy limit priced at or above the
  national best bid, a sell limit at or below the national best offer. Its statistics run from
  the first NBBO on the tape, at or after receipt, that makes it executable (a fill before that
  NBBO counts as the moment it was).
- Order size (§ 242.600(b)(14) "categorized by order size"): fractional (< 1 share), odd lot
  (1 share to < 1 round lot) or round lot, each by notional value (qty x mid at receipt) in
  the Exhibit A buckets <$250, $250-<$1k, $1k-<$5k, $5k-<$10k, $10k-<$20k, $20k-<$50k,
  $50k-<$200k, >=$200k.
- Best available displayed price (§ 242.600(b) as amended in 2024, "best available displayed
  price"; the detailed report's improvement fields relative to it, Exhibit A
  ExctdPIOrderRltvBestPrQty …): for a buy the lower of the national best offer and the best
  odd-lot offer disseminated at receipt, for a sell the higher of the national best bid and the
  best odd-lot bid. The broker tapes it at receipt from the SIP's NBBO message
  (``best_bid``/``best_ask``); absent (older tapes), the columns relative to it are null.
- Round lot (§ 242.600(b)(93) as amended in 2024): 100 shares up to $250.00, 40 up to
  $1,000.00, 10 up to $10,000.00, 1 above, here by the mid at receipt (the rule uses the prior
  month's average closing price, which a lab run does not have).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

LOT_CLASSES = ("fractional", "odd lot", "round lot")
SIZE_EDGES_USD = (250, 1_000, 5_000, 10_000, 20_000, 50_000, 200_000)
SIZE_LABELS = (
    "<$250",
    "$250-$1k",
    "$1k-$5k",
    "$5k-$10k",
    "$10k-$20k",
    "$20k-$50k",
    "$50k-$200k",
    ">=$200k",
)
ORDER_TYPES = (
    "market",
    "marketable limit",
    "marketable IOC",
    "midpoint-or-better limit",
    "midpoint-or-better limit IOC",
    "executable non-marketable limit",
    "executable non-marketable IOC",
)
PRICED_TYPES = ORDER_TYPES[:3]  # the types with price statistics against the NBBO at receipt
_ROUND_LOT_TIERS_MICROS = ((250_000_000, 100), (1_000_000_000, 40), (10_000_000_000, 10))


def round_lot(price_micros: int) -> int:
    """Shares in a round lot at this price (§ 242.600(b)(93) as amended in 2024)."""
    for ceiling, lot in _ROUND_LOT_TIERS_MICROS:
        if price_micros <= ceiling:
            return lot
    return 1


def order_type(side: str, kind: str, limit: int, tif: str, bid: int, ask: int) -> str:
    """The order's Rule 605 type at receipt (both sides of the NBBO present)."""
    if kind != "limit":
        return ORDER_TYPES[0]
    ioc = tif == "ioc"
    buy = side == "buy"
    if (buy and limit >= ask) or (not buy and limit <= bid):
        return ORDER_TYPES[2] if ioc else ORDER_TYPES[1]
    # 2 * limit against bid + ask: "at or better than the midpoint", exactly in integers
    if (buy and 2 * limit >= bid + ask) or (not buy and 2 * limit <= bid + ask):
        return ORDER_TYPES[4] if ioc else ORDER_TYPES[3]
    return ORDER_TYPES[6] if ioc else ORDER_TYPES[5]


def lot_class(qty: float, price_micros: int) -> str:
    if qty < 1:
        return LOT_CLASSES[0]
    return LOT_CLASSES[1] if qty < round_lot(price_micros) else LOT_CLASSES[2]


def size_bucket(qty: float, two_mid: int) -> str:
    """Notional qty x mid against the bucket edges (qty x (bid + ask) < 2 x edge)."""
    two_notional = qty * two_mid
    for edge, label in zip(SIZE_EDGES_USD, SIZE_LABELS, strict=False):
        if two_notional < 2 * edge * 1_000_000:
            return label
    return SIZE_LABELS[-1]


def classify_orders(
    orders: pd.DataFrame, fills: pd.DataFrame, nbbo: pd.DataFrame | None
) -> pd.DataFrame:
    """One row per order: order_type (None: not covered, ``not_covered`` says why), lot_class,
    size_bucket, month,
    bid/ask/two_mid at receipt, start_ns (receipt, or when it became executable) and the size
    displayed at the far side of the NBBO at receipt (``displayed_qty``, NaN if unknown)."""
    frame = _base(orders)
    first_fill = fills.groupby("order_id")["exec_ns"].min() if len(fills) else pd.Series()
    quotes = _quotes_by_key(nbbo)
    rows = []
    for row in frame.itertuples(index=False):
        rows.append(_classify(row, quotes.get(str(row.key)), first_fill.get(row.order_id)))
    columns = ["order_type", "lot_class", "size_bucket", "start_ns", "displayed_qty"]
    columns.append("not_covered")  # why an order is in no Rule 605 row ("" when covered)
    return pd.concat([frame, pd.DataFrame(rows, columns=columns)], axis=1)


def _base(orders: pd.DataFrame) -> pd.DataFrame:
    bid = orders["nbbo_bid"].to_numpy("int64", na_value=0)
    ask = orders["nbbo_ask"].to_numpy("int64", na_value=0)
    run = (
        orders["run"].astype(str) if "run" in orders.columns else pd.Series("", index=orders.index)
    )
    symbol = orders["symbol"].astype(str) if "symbol" in orders.columns else run.map(lambda _: "")
    limit = orders["limit_price"] if "limit_price" in orders.columns else pd.Series(pd.NA)
    return pd.DataFrame(
        {
            "order_id": orders["order_id"].to_numpy(),
            "regime": orders["regime"].to_numpy(),
            "month": pd.to_datetime(orders["recv_ns"].to_numpy("int64"), unit="ns", utc=True)
            .strftime("%Y-%m")
            .to_numpy(),
            "symbol": symbol.to_numpy(),
            "key": (run + "|" + symbol).to_numpy(),
            "side": orders["side"].to_numpy(),
            "kind": _column(orders, "order_type", "market"),
            "tif": _column(orders, "tif", "day"),
            "limit": pd.Series(limit, index=orders.index).to_numpy("int64", na_value=0)
            if "limit_price" in orders.columns
            else np.zeros(len(orders), dtype="int64"),
            "qty": orders["qty"].to_numpy("float64"),
            "status": orders["status"].to_numpy(),
            "recv_ns": orders["recv_ns"].to_numpy("int64"),
            "terminal_ns": _column(orders, "terminal_ns", None),
            "bid": bid,
            "ask": ask,
            "two_mid": bid + ask,
            # the best available displayed price at receipt (odd lots included); 0: unknown
            "best_bid": _prices(orders, "best_bid"),
            "best_ask": _prices(orders, "best_ask"),
        }
    )


def _prices(orders: pd.DataFrame, name: str) -> np.ndarray:
    """A nullable price column as int64 micro-dollars, 0 where null or absent (older tapes)."""
    if name not in orders.columns:
        return np.zeros(len(orders), dtype="int64")
    return orders[name].to_numpy("int64", na_value=0)


NO_NBBO = "no NBBO at receipt"
NEVER_EXECUTABLE = "non-marketable limit never executable"


def _classify(row, quotes: pd.DataFrame | None, first_fill: int | None) -> tuple:
    if row.bid <= 0 or row.ask <= 0:
        return (None, None, None, 0, np.nan, NO_NBBO)
    kind: str | None = order_type(
        row.side, row.kind, int(row.limit), str(row.tif), row.bid, row.ask
    )
    start: int | None = int(row.recv_ns)
    if kind in ORDER_TYPES[5:]:
        start = _executable_ns(row, quotes, first_fill)
        if start is None:
            kind = None
    return (
        kind,
        lot_class(row.qty, row.two_mid // 2),
        size_bucket(row.qty, row.two_mid),
        start or 0,
        _displayed(row, quotes),
        "" if kind else NEVER_EXECUTABLE,
    )


def _executable_ns(row, quotes: pd.DataFrame | None, first_fill: int | None) -> int | None:
    """When a non-marketable limit below the midpoint became executable (None: never)."""
    buy = row.side == "buy"
    if (buy and row.limit >= row.bid) or (not buy and row.limit <= row.ask):
        return int(row.recv_ns)
    found: int | None = None
    if quotes is not None:
        times = quotes["ts_ns"].to_numpy("int64")
        start = int(np.searchsorted(times, row.recv_ns, side="left"))
        end = len(times)
        if row.terminal_ns is not None and not pd.isna(row.terminal_ns):
            end = int(np.searchsorted(times, int(row.terminal_ns), side="right"))
        side = quotes["bid"] if buy else quotes["ask"]
        prices = side.to_numpy("int64")[start:end]
        hits = np.flatnonzero(
            (prices > 0) & ((prices <= row.limit) if buy else (prices >= row.limit))
        )
        found = int(times[start + hits[0]]) if hits.size else None
    if first_fill is not None and (found is None or first_fill < found):
        return int(first_fill)
    return found


def _displayed(row, quotes: pd.DataFrame | None) -> float:
    """Size shown at the far side of the tape's NBBO in force at receipt, when its prices are
    the ones the broker saw (else unknown: NaN)."""
    if quotes is None:
        return np.nan
    at = np.searchsorted(quotes["ts_ns"].to_numpy("int64"), row.recv_ns, side="right") - 1
    if at < 0:
        return np.nan
    quote = quotes.iloc[at]
    if int(quote["bid"]) != row.bid or int(quote["ask"]) != row.ask:
        return np.nan
    return float(quote["ask_qty"] if row.side == "buy" else quote["bid_qty"])


def _quotes_by_key(nbbo: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
    if nbbo is None or nbbo.empty:
        return {}
    run = nbbo["run"].astype(str) if "run" in nbbo.columns else pd.Series("", index=nbbo.index)
    frame = pd.DataFrame(
        {
            "key": (run + "|" + nbbo["symbol"].astype(str)).to_numpy(),
            "ts_ns": nbbo["ts_ns"].to_numpy("int64"),
            "bid": nbbo["bid_px"].to_numpy("int64", na_value=0),
            "ask": nbbo["ask_px"].to_numpy("int64", na_value=0),
            "bid_qty": _column(nbbo, "bid_qty", 0),
            "ask_qty": _column(nbbo, "ask_qty", 0),
        }
    ).sort_values(["key", "ts_ns"], kind="stable")
    groups = frame.groupby("key", sort=False)
    return {str(key): group.reset_index(drop=True) for key, group in groups}


def _column(frame: pd.DataFrame, name: str, default: object) -> np.ndarray:
    if name in frame.columns:
        return frame[name].to_numpy(dtype=object)
    return np.full(len(frame), default, dtype=object)
