"""Retail order streams: generated (Poisson arrivals, chosen symbols, side, order-type and size
mixes, random arms) or read from a CSV/Parquet file, validated before anything is sent, and
written as the CSV the injector paces out. The file schema is documented in docs/STREAMS.md:

| column | type | meaning |
|---|---|---|
| ``t_ns`` | int >= 0 | ns after the start of injection (or give ``timestamp``) |
| ``timestamp`` | ISO-8601 / datetime | instead of ``t_ns``: offsets from the first row |
| ``order_id`` | str, unique | the client's order id |
| ``symbol`` | str | a symbol of the scenario |
| ``side`` | ``buy``/``sell`` | |
| ``qty`` | int > 0 | shares |
| ``order_type`` | ``market``/``limit`` | |
| ``limit_price`` | int > 0 or empty | micro-dollars; empty for a limit: priced from the NBBO |
| ``limit_offset_bps`` | float or empty | such a limit's bps through the far touch (< 0: away) |
| ``regime`` | str or empty | the broker's arm (empty: the broker's first regime) |
| ``strategy`` | str or empty | the SOR allocation strategy (parents sent to the SOR) |
| ``tif`` | ``day``/``ioc`` or empty | limits only; empty: ``day`` (rests until the close) |
| ``informed`` | ``1``/``0`` or empty | ``1``: side set when sent, toward the latent value |
| ``natural_person`` | ``1``/``0`` or empty | a natural person's account (Rule 615 segmented) |
| ``avg_daily_trades`` | int >= 0 or empty | the account's highest monthly average of daily trades |
"""

from __future__ import annotations

import csv
from collections.abc import Hashable, Sequence
from pathlib import Path

import numpy as np

from config.scenario import Scenario, StreamSpec
from orchestration.stream_options import (
    ROUND_LOTS,
    SIZE_MODELS,
    StreamError,
    StreamOptions,
    add_stream_arguments,
    options_from_args,
)

__all__ = [
    "COLUMNS",
    "FILE_COLUMNS",
    "ROUND_LOTS",
    "SIZE_MODELS",
    "StreamError",
    "StreamOptions",
    "add_stream_arguments",
    "generate_stream",
    "options_from_args",
    "read_stream_file",
    "rows_from_table",
    "validate_rows",
    "write_stream",
]

COLUMNS = (
    "t_ns",
    "order_id",
    "symbol",
    "side",
    "qty",
    "order_type",
    "limit_price",
    "limit_offset_bps",
    "regime",
    "strategy",
    "tif",
    "informed",
    "natural_person",
    "avg_daily_trades",
)
FILE_COLUMNS = (*COLUMNS, "timestamp")
REQUIRED = ("order_id", "symbol", "side", "qty", "order_type")


def generate_stream(
    scenario: Scenario,
    regimes: Sequence[str],
    *,
    orders: int | None = None,
    rate_per_s: float | None = None,
    seed: int | None = None,
    spec: StreamSpec | None = None,
    id_prefix: str = "R",
    options: StreamOptions | None = None,
) -> list[dict[str, object]]:
    """A seeded retail stream; each order is assigned at random to one of ``regimes`` (equally,
    or ``[stream] first_regime_share`` of them to the first and the rest evenly to the others).

    ``orders``/``rate_per_s`` override ``options``, which override the scenario's ``[stream]``.
    The same seed and options always give the same stream.
    """
    spec = spec or scenario.stream
    options = options or StreamOptions()
    options.check(scenario)
    rate = rate_per_s or options.rate_per_s or spec.rate_per_s
    rng = np.random.default_rng([seed if seed is not None else scenario.seed, 0x5EED])
    times = _arrivals(rng, rate, orders or options.orders, options.duration_s, spec.orders)
    symbols = list(options.symbols or scenario.symbol_names)
    market_share = _pick(options.market_share, spec.market_share)
    limit_share = options.marketable_limit_share
    nonmarketable = limit_share is not None and market_share + limit_share < 1.0
    buy_share = _pick(options.buy_share, spec.buy_share)
    informed_share = _pick(options.informed_share, spec.informed_share)
    offset = _pick(options.marketable_limit_bps, spec.marketable_limit_bps)
    limit_tif = options.limit_tif or spec.limit_tif
    sizes = list(options.sizes or spec.sizes)
    first_share = spec.first_regime_share

    def regime() -> str:
        if not regimes:
            return ""
        if not first_share or len(regimes) == 1:
            return regimes[int(rng.integers(len(regimes)))]
        if rng.random() < first_share:
            return regimes[0]
        return regimes[1 + int(rng.integers(len(regimes) - 1))]

    rows: list[dict[str, object]] = []
    for i, t in enumerate(times):
        draw = rng.random()
        is_market = draw < market_share
        symbol = symbols[int(rng.integers(len(symbols)))]
        side = "buy" if rng.random() < buy_share else "sell"
        qty = _size(rng, options, sizes)
        order_offset: object = "" if is_market else offset
        if nonmarketable and not is_market and draw >= market_share + (limit_share or 0.0):
            order_offset = -options.nonmarketable_bps
        rows.append(
            {
                "t_ns": int(t * 1e9),
                "order_id": f"{id_prefix}{i + 1:06d}",
                "symbol": symbol,
                "side": side,
                "qty": qty,
                "order_type": "market" if is_market else "limit",
                "limit_price": "",
                "limit_offset_bps": order_offset,
                "regime": regime(),
                "strategy": "",
                "tif": "" if is_market else limit_tif,
                # Drawn only when asked for, so streams without informed flow stay as they were.
                "informed": int(rng.random() < informed_share) if informed_share > 0 else "",
                # Account attributes not stated: the broker's own retail clients (segmented).
                "natural_person": "",
                "avg_daily_trades": "",
            }
        )
    return rows


def _pick(value: float | None, default: float) -> float:
    return default if value is None else value


def _arrivals(
    rng: np.random.Generator,
    rate: float,
    orders: int | None,
    duration_s: float | None,
    default: int,
) -> np.ndarray:
    """Poisson arrival times (s) starting at 0: a count, or every arrival before ``duration_s``."""
    if orders is None and duration_s is not None:
        gaps = rng.exponential(1.0 / rate, size=max(16, int(rate * duration_s * 1.5) + 16))
        times = np.cumsum(gaps) - gaps[0]
        while times[-1] < duration_s:  # rare: draw more
            more = rng.exponential(1.0 / rate, size=len(gaps))
            times = np.concatenate([times, times[-1] + np.cumsum(more)])
        return times[times < duration_s]
    n = orders if orders is not None else default
    gaps = rng.exponential(1.0 / rate, size=n)
    return np.cumsum(gaps) - gaps[0]


def _size(rng: np.random.Generator, options: StreamOptions, sizes: list[int]) -> int:
    match options.size_model:
        case "lognormal":
            value = rng.lognormal(np.log(options.size_median), options.size_sigma)
            return int(min(options.size_max, max(1, round(value))))
        case "round-lot":
            if rng.random() < options.round_lot_share:
                return ROUND_LOTS[int(rng.integers(len(ROUND_LOTS)))]
            return int(rng.integers(1, 100))
    return int(sizes[int(rng.integers(len(sizes)))])


def validate_rows(
    rows: Sequence[dict[str, object]],
    scenario: Scenario,
    index: Sequence[Hashable] | None = None,
) -> None:
    """Refuse a stream before anything is sent: the first bad cell names its row and column.

    Rows of a file are numbered from 1 (the first order; in a CSV that is line 2, after the
    header); with ``index`` (a DataFrame's index labels, one per row) the row is named by its
    label, as pandas counts (``DataFrame index 0`` is the first row of a default index).
    """
    seen: set[str] = set()
    for i, row in enumerate(rows):
        _check_row(_row_name(i, index), row, scenario, seen)


def _row_name(i: int, index: Sequence[Hashable] | None) -> str:
    """How an error names the ``i``-th row (0-based): a file's row from 1, a DataFrame's label."""
    return f"stream row {i + 1}" if index is None else f"DataFrame index {index[i]!r}"


def _check_row(where: str, row: dict[str, object], scenario: Scenario, seen: set[str]) -> None:
    def bad(column: str, reason: str) -> StreamError:
        return StreamError(f"{where}, column {column!r}: {reason}")

    for column in ("t_ns", *REQUIRED):
        if _blank(row.get(column)):
            raise bad(column, "missing value")
    t_ns = _integer(row["t_ns"], bad("t_ns", f"not an integer: {row['t_ns']!r}"))
    if t_ns < 0:
        raise bad("t_ns", "must be >= 0")
    order_id = str(row["order_id"])
    if order_id in seen:
        raise bad("order_id", f"duplicate {order_id!r}")
    seen.add(order_id)
    if row["symbol"] not in scenario.symbol_names:
        known = ", ".join(sorted(scenario.symbol_names))
        raise bad("symbol", f"unknown symbol {row['symbol']!r} (scenario has {known})")
    if row["side"] not in ("buy", "sell"):
        raise bad("side", f"must be buy or sell, got {row['side']!r}")
    if _integer(row["qty"], bad("qty", f"not an integer: {row['qty']!r}")) <= 0:
        raise bad("qty", "must be > 0")
    if row["order_type"] not in ("market", "limit"):
        raise bad("order_type", f"must be market or limit, got {row['order_type']!r}")
    limit = row.get("limit_price")
    if not _blank(limit):
        if row["order_type"] == "market":
            raise bad("limit_price", "must be empty for a market order")
        reason = f"not an integer number of micro-dollars: {limit!r}"
        if _integer(limit, bad("limit_price", reason)) <= 0:
            raise bad("limit_price", "must be > 0 (micro-dollars)")
    offset = row.get("limit_offset_bps")
    if not _blank(offset):
        if row["order_type"] == "market":
            raise bad("limit_offset_bps", "must be empty for a market order")
        try:
            offset_bps = float(str(offset))
        except ValueError:
            raise bad("limit_offset_bps", f"not a number: {offset!r}") from None
        if not -10_000 < offset_bps < 10_000:
            raise bad("limit_offset_bps", "must be between -10000 and 10000 bps")
    tif = row.get("tif")
    if not _blank(tif):
        if row["order_type"] == "market":
            raise bad("tif", "must be empty for a market order")
        if tif not in ("day", "ioc"):
            raise bad("tif", f"must be day or ioc, got {tif!r}")
    for flag in ("informed", "natural_person"):
        value = row.get(flag)
        if not _blank(value) and str(value) not in ("0", "1"):
            raise bad(flag, f"must be 0 or 1, got {value!r}")
    trades = row.get("avg_daily_trades")
    if not _blank(trades):
        reason = f"not an integer: {trades!r}"
        if not 0 <= _integer(trades, bad("avg_daily_trades", reason)) <= 10_000_000:
            raise bad("avg_daily_trades", "must be between 0 and 10000000")
    regime = row.get("regime")
    if not _blank(regime) and regime not in scenario.broker.regimes:
        enabled = ", ".join(scenario.broker.regimes)
        raise bad("regime", f"{regime!r} is not enabled in the scenario ({enabled})")


def _blank(value: object) -> bool:
    return value is None or value == "" or (isinstance(value, float) and value != value)


def _integer(value: object, error: StreamError) -> int:
    if isinstance(value, bool):
        raise error
    if isinstance(value, float | np.floating):
        if not float(value).is_integer():
            raise error
        return int(value)
    try:
        return int(str(value))
    except ValueError:
        raise error from None


def read_stream_file(path: Path) -> list[dict[str, object]]:
    """Read a CSV or Parquet stream file into rows; check its columns and timestamps.

    Raises ``StreamError`` naming the column (unknown or missing) or the row and column (a
    timestamp that does not parse). Cell values are checked by ``validate_rows``.
    """
    path = Path(path)
    if not path.exists():
        raise StreamError(f"stream file {path}: no such file")
    if path.suffix.lower() == ".parquet":
        import pandas as pd

        frame = pd.read_parquet(path)
        columns = [str(c) for c in frame.columns]
        frame = frame.astype(object).where(frame.notna(), "")
        rows = frame.to_dict(orient="records")
    else:
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            columns = list(reader.fieldnames or [])
            rows = list(reader)
    # pandas-stubs types record keys as Hashable; a stream file's columns are str.
    return rows_from_table(rows, columns, str(path))  # type: ignore[arg-type]


def rows_from_table(
    rows: list[dict[str, object]],
    columns: list[str],
    source: str,
    index: Sequence[Hashable] | None = None,
) -> list[dict[str, object]]:
    """Check a table's columns, turn ``timestamp`` into ``t_ns`` offsets; rows as dicts.

    ``index``: a DataFrame's index labels, so a bad timestamp is named as pandas counts."""
    unknown = sorted(set(columns) - set(FILE_COLUMNS))
    if unknown:
        raise StreamError(
            f"stream file {source}: unknown column(s) {', '.join(unknown)} "
            f"(known: {', '.join(FILE_COLUMNS)})"
        )
    missing = [c for c in REQUIRED if c not in columns]
    if "t_ns" not in columns and "timestamp" not in columns:
        missing.insert(0, "t_ns (or timestamp)")
    if missing:
        raise StreamError(f"stream file {source}: missing column(s) {', '.join(missing)}")
    if "t_ns" not in columns:
        _timestamps_to_offsets(rows, source, index)
    return rows


def _timestamps_to_offsets(
    rows: list[dict[str, object]], source: str, index: Sequence[Hashable] | None
) -> None:
    import pandas as pd

    stamps = []
    for i, row in enumerate(rows):
        try:
            stamp = pd.Timestamp(row["timestamp"])  # type: ignore[arg-type]
            if pd.isna(stamp):
                raise ValueError("empty")
        except (ValueError, TypeError):
            raise StreamError(
                f"stream file {source}: {_row_name(i, index).removeprefix('stream ')}, "
                "column 'timestamp': "
                f"not a date-time: {row['timestamp']!r}"
            ) from None
        stamps.append(stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp)
    first = min(stamps) if stamps else None
    for row, stamp in zip(rows, stamps, strict=True):
        row["t_ns"] = int((stamp - first).value)  # type: ignore[operator]
        del row["timestamp"]


def write_stream(rows: Sequence[dict[str, object]], path: Path) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in COLUMNS})
    return path
