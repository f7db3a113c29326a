"""Retail order streams: generated (Poisson arrivals, mixed sizes, sides, types, symbols, arms)
or read from a file, validated, and written as the CSV the injector paces out.

Stream schema (CSV or Parquet; one row per order):

| column | type | meaning |
|---|---|---|
| ``t_ns`` | int >= 0 | send time offset from the start of injection, nanoseconds |
| ``order_id`` | str, unique | the client's order id |
| ``symbol`` | str | a symbol of the scenario |
| ``side`` | ``buy``/``sell`` | |
| ``qty`` | int > 0 | shares |
| ``order_type`` | ``market``/``limit`` | |
| ``limit_price`` | int > 0 or empty | micro-dollars; empty for a limit means "marketable": priced at send time ``limit_offset_bps`` through the far touch |
| ``limit_offset_bps`` | float >= 0 or empty | see above |
| ``regime`` | str or empty | the broker's arm for this order (empty: the broker's first regime) |
| ``strategy`` | str or empty | the SOR allocation strategy (parents sent to the SOR) |
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from orchestration.scenario import Scenario, StreamSpec

COLUMNS = (
    "t_ns", "order_id", "symbol", "side", "qty", "order_type", "limit_price",
    "limit_offset_bps", "regime", "strategy",
)


class StreamError(ValueError):
    """A stream that cannot be injected; names the row and column."""


def generate_stream(
    scenario: Scenario,
    regimes: Sequence[str],
    *,
    orders: int | None = None,
    rate_per_s: float | None = None,
    seed: int | None = None,
    spec: StreamSpec | None = None,
    id_prefix: str = "R",
) -> list[dict[str, object]]:
    """A seeded retail stream; each order is assigned at random to one of ``regimes``."""
    spec = spec or scenario.stream
    n = orders if orders is not None else spec.orders
    rate = rate_per_s if rate_per_s is not None else spec.rate_per_s
    rng = np.random.default_rng([seed if seed is not None else scenario.seed, 0x5EED])
    gaps = rng.exponential(1.0 / rate, size=n)
    times = np.cumsum(gaps) - gaps[0]
    symbols = scenario.symbol_names
    rows: list[dict[str, object]] = []
    for i in range(n):
        is_market = rng.random() < spec.market_share
        rows.append({
            "t_ns": int(times[i] * 1e9),
            "order_id": f"{id_prefix}{i + 1:06d}",
            "symbol": symbols[int(rng.integers(len(symbols)))],
            "side": "buy" if rng.random() < spec.buy_share else "sell",
            "qty": int(spec.sizes[int(rng.integers(len(spec.sizes)))]),
            "order_type": "market" if is_market else "limit",
            "limit_price": "",
            "limit_offset_bps": "" if is_market else spec.marketable_limit_bps,
            "regime": regimes[int(rng.integers(len(regimes)))] if regimes else "",
            "strategy": "",
        })
    return rows


def validate_rows(rows: Sequence[dict[str, object]], scenario: Scenario) -> None:
    """Refuse a stream before anything is sent: the first bad cell names its row and column."""
    seen: set[str] = set()
    symbols = set(scenario.symbol_names)
    for i, row in enumerate(rows, start=1):
        def bad(column: str, reason: str, row_number: int = i) -> StreamError:
            return StreamError(f"stream row {row_number}, column {column!r}: {reason}")

        for column in ("t_ns", "order_id", "symbol", "side", "qty", "order_type"):
            if row.get(column) in (None, ""):
                raise bad(column, "missing value")
        try:
            if int(str(row["t_ns"])) < 0:
                raise bad("t_ns", "must be >= 0")
        except ValueError:
            raise bad("t_ns", f"not an integer: {row['t_ns']!r}") from None
        order_id = str(row["order_id"])
        if order_id in seen:
            raise bad("order_id", f"duplicate {order_id!r}")
        seen.add(order_id)
        if row["symbol"] not in symbols:
            raise bad("symbol", f"unknown symbol {row['symbol']!r} (scenario has {', '.join(sorted(symbols))})")
        if row["side"] not in ("buy", "sell"):
            raise bad("side", f"must be buy or sell, got {row['side']!r}")
        try:
            qty = int(str(row["qty"]))
        except ValueError:
            raise bad("qty", f"not an integer: {row['qty']!r}") from None
        if qty <= 0:
            raise bad("qty", "must be > 0")
        if row["order_type"] not in ("market", "limit"):
            raise bad("order_type", f"must be market or limit, got {row['order_type']!r}")
        limit = row.get("limit_price", "")
        if limit not in (None, ""):
            if row["order_type"] == "market":
                raise bad("limit_price", "must be empty for a market order")
            try:
                if int(str(limit)) <= 0:
                    raise bad("limit_price", "must be > 0 (micro-dollars)")
            except ValueError:
                raise bad("limit_price", f"not an integer number of micro-dollars: {limit!r}") from None
        offset = row.get("limit_offset_bps", "")
        if offset not in (None, ""):
            try:
                if float(str(offset)) < 0:
                    raise bad("limit_offset_bps", "must be >= 0")
            except ValueError:
                raise bad("limit_offset_bps", f"not a number: {offset!r}") from None
        regime = row.get("regime", "")
        if regime not in (None, "") and regime not in scenario.broker.regimes:
            raise bad("regime", f"{regime!r} is not enabled in the scenario ({', '.join(scenario.broker.regimes)})")


def read_stream_file(path: Path) -> list[dict[str, object]]:
    """Read a CSV or Parquet stream file into rows (values as strings or numbers)."""
    if path.suffix.lower() == ".parquet":
        import pandas as pd

        frame = pd.read_parquet(path)
        frame = frame.astype(object).where(frame.notna(), "")
        rows = frame.to_dict(orient="records")
    else:
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f))
    if rows:
        unknown = set(rows[0]) - set(COLUMNS)
        if unknown:
            raise StreamError(f"stream file {path}: unknown column(s) {', '.join(sorted(unknown))}")
    return rows


def write_stream(rows: Sequence[dict[str, object]], path: Path) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in COLUMNS})
    return path
