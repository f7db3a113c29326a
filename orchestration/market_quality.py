"""Market quality of a run, per symbol and venue: is the background market believable?

From the tape's ``quotes``, ``nbbo``, ``trades`` and ``values`` tables:
- quoted spread (time-weighted, bps of the mid) per venue and for the NBBO;
- depth at the top (time-weighted mean of bid and ask size);
- volume and trade count per venue (lit and dark);
- share of time the NBBO was locked or crossed;
- how closely the NBBO mid tracks the latent value: RMS and mean absolute gap in bps, sampled at
  every value update;
- NBBO updates per second.
Time weights run from each update to the next (the last one to the end of the tape).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

COLUMNS = [
    "symbol",
    "venue",
    "quoted_spread_bps",
    "top_depth_shares",
    "volume_shares",
    "trades",
    "locked_crossed_share",
    "nbbo_updates_per_s",
    "mid_value_rms_bps",
    "mid_value_mae_bps",
]


def _time_weights(ts: pd.Series, end_ns: int) -> np.ndarray:
    t = ts.to_numpy(dtype="int64")
    nxt = np.append(t[1:], max(end_ns, int(t[-1])))
    return np.maximum(nxt - t, 0).astype(float)


def _weighted(values: np.ndarray, weights: np.ndarray) -> float | None:
    ok = ~np.isnan(values)
    if not ok.any() or weights[ok].sum() <= 0:
        return None
    return float(np.average(values[ok], weights=weights[ok]))


def _spread_depth(frame: pd.DataFrame, end_ns: int) -> tuple[float | None, float | None]:
    frame = frame.sort_values("ts_ns")
    bid = frame["bid_px"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    ask = frame["ask_px"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    mid = (bid + ask) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        spread_bps = np.where((ask > bid), (ask - bid) / mid * 1e4, np.nan)
    if {"bid_qty", "ask_qty"} <= set(frame.columns):
        depth = (frame["bid_qty"].to_numpy(float) + frame["ask_qty"].to_numpy(float)) / 2
    else:
        depth = np.full(len(frame), np.nan)
    weights = _time_weights(frame["ts_ns"], end_ns)
    return _weighted(spread_bps, weights), _weighted(
        np.where(np.isnan(spread_bps), np.nan, depth), weights
    )


def market_quality(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per (symbol, venue) plus one per symbol with venue ``NBBO``."""
    quotes, nbbo, trades, values = (
        tables.get(k, pd.DataFrame()) for k in ("quotes", "nbbo", "trades", "values")
    )
    stamps = [int(f["ts_ns"].max()) for f in (quotes, nbbo, trades, values) if len(f)]
    if not stamps:
        return pd.DataFrame(columns=COLUMNS)
    end_ns = max(stamps)
    rows = []
    if len(quotes):
        rows += _quoting_venue_rows(quotes, trades, end_ns)
    if len(trades):
        rows += _other_venue_rows(quotes, trades)
    if len(nbbo):
        rows += _nbbo_rows(nbbo, trades, values, end_ns)
    return pd.DataFrame(rows, columns=COLUMNS).sort_values(["symbol", "venue"], ignore_index=True)


def _quoting_venue_rows(
    quotes: pd.DataFrame, trades: pd.DataFrame, end_ns: int
) -> list[dict[str, object]]:
    """Each lit venue's quotes (time-weighted spread and depth) and trades, per symbol."""
    rows: list[dict[str, object]] = []
    for (symbol, venue), frame in quotes.groupby(["symbol", "venue"]):
        spread, depth = _spread_depth(frame, end_ns)
        traded = (
            trades[(trades["symbol"] == symbol) & (trades["venue"] == venue)]
            if len(trades)
            else trades
        )
        rows.append(
            {
                "symbol": symbol,
                "venue": venue,
                "quoted_spread_bps": spread,
                "top_depth_shares": depth,
                "volume_shares": int(traded["qty"].sum()) if len(traded) else 0,
                "trades": len(traded),
            }
        )
    return rows


def _other_venue_rows(quotes: pd.DataFrame, trades: pd.DataFrame) -> list[dict[str, object]]:
    """Volume and trades of the venues that trade without quoting (dark pools), per symbol."""
    lit = set(quotes["venue"]) if len(quotes) else set()
    return [
        {
            "symbol": symbol,
            "venue": venue,
            "volume_shares": int(frame["qty"].sum()),
            "trades": len(frame),
        }
        for (symbol, venue), frame in trades[~trades["venue"].isin(lit)].groupby(
            ["symbol", "venue"]
        )
    ]


def _nbbo_rows(
    nbbo: pd.DataFrame, trades: pd.DataFrame, values: pd.DataFrame, end_ns: int
) -> list[dict[str, object]]:
    """Per symbol, the NBBO: spread, depth, locked/crossed time, update rate, every venue's
    volume, and how far its mid strays from the latent value."""
    rows: list[dict[str, object]] = []
    for symbol, frame in nbbo.groupby("symbol"):
        frame = frame.sort_values("ts_ns")
        spread, depth = _spread_depth(frame, end_ns)
        weights = _time_weights(frame["ts_ns"], end_ns)
        flags = [frame[c].astype(bool) for c in ("locked", "crossed") if c in frame.columns]
        bad = (flags[0] | flags[1]).to_numpy(float) if len(flags) == 2 else np.zeros(len(frame))
        span = (end_ns - int(frame["ts_ns"].iloc[0])) / 1e9
        row: dict[str, object] = {
            "symbol": symbol,
            "venue": "NBBO",
            "quoted_spread_bps": spread,
            "top_depth_shares": depth,
            "locked_crossed_share": float(np.average(bad, weights=weights))
            if weights.sum() > 0
            else None,
            "nbbo_updates_per_s": len(frame) / span if span > 0 else None,
        }
        if len(trades):
            sym_trades = trades[trades["symbol"] == symbol]
            row["volume_shares"], row["trades"] = int(sym_trades["qty"].sum()), len(sym_trades)
        row.update(_tracking(frame, values[values["symbol"] == symbol] if len(values) else values))
        rows.append(row)
    return rows


def _tracking(nbbo: pd.DataFrame, values: pd.DataFrame) -> dict[str, float | None]:
    if not len(values):
        return {"mid_value_rms_bps": None, "mid_value_mae_bps": None}
    two_sided = nbbo.dropna(subset=["bid_px", "ask_px"])
    if {"locked", "crossed"} <= set(two_sided.columns):
        two_sided = two_sided[
            ~(two_sided["locked"].astype(bool) | two_sided["crossed"].astype(bool))
        ]
    if not len(two_sided):
        return {"mid_value_rms_bps": None, "mid_value_mae_bps": None}
    mids = pd.DataFrame(
        {
            "ts_ns": two_sided["ts_ns"].astype("int64"),
            "mid": (two_sided["bid_px"].astype(float) + two_sided["ask_px"].astype(float)) / 2,
        }
    ).sort_values("ts_ns")
    vals = values[["ts_ns", "value"]].astype({"ts_ns": "int64"}).sort_values("ts_ns")
    joined = pd.merge_asof(vals, mids, on="ts_ns").dropna()
    if not len(joined):
        return {"mid_value_rms_bps": None, "mid_value_mae_bps": None}
    gap = (joined["mid"] - joined["value"]) / joined["value"] * 1e4
    return {
        "mid_value_rms_bps": float(np.sqrt((gap**2).mean())),
        "mid_value_mae_bps": float(gap.abs().mean()),
    }
