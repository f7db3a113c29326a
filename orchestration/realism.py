"""Stylized facts of a run's market: do its prices and order flow behave like a real market's?

Computed per symbol from the tape's ``nbbo`` (round-trip of the midpoint) and ``trades`` (lit
prints with their aggressor side), each beside the range a real market shows and the source of
that range. The facts and their numbering follow Cont (2001), "Empirical properties of asset
returns: stylized facts and statistical issues", Quantitative Finance 1, 223-236, section 2
(facts 1-11); ABIDES ships the same set as realism metrics (Vyetrenko et al., 2019, "Get Real:
Realism Metrics for Robust Limit Order Book Market Simulations", arXiv:1912.04941).

Returns are log changes of the NBBO midpoint sampled on a grid of ``h`` seconds (the last
two-sided midpoint at or before each grid point; runs of a pooled experiment are kept apart,
so no return spans two labs). Zero returns are kept: a real tick-constrained price has them
too. A statistic needs ``MIN_SAMPLES`` observations; below that its row says how many it had
and gives no value rather than a number no one should read.

Bands are what the literature reports for liquid equities at intraday horizons. Where a source
states only a sign ("positive", "insignificant") the band is that sign; where the lab chose a
tolerance the row's ``source`` says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from services.institutions import parent_of

# The symbol of the rows that pool every symbol's metaorders (``realism_table``).
POOLED = "all symbols"

COLUMNS = [
    "symbol",
    "fact",
    "metric",
    "horizon",
    "value",
    "n",
    "stderr",
    "band_low",
    "band_high",
    "in_band",
    "source",
    "note",
]
RETURN_HORIZONS_S = (1, 10, 60)
RETURN_LAGS = (1, 5)
ABS_RETURN_LAGS = (1, 10)
SIGN_LAGS = (1, 10, 100)
MIN_SAMPLES = 30
IMPACT_HORIZON_S = 1.0
IMPACT_BUCKETS = 5

CONT = "Cont (2001) Quant. Finance 1:223"


@dataclass(frozen=True, slots=True)
class Band:
    low: float | None
    high: float | None
    source: str


BANDS = {
    "heavy_tails": Band(
        3.0,
        None,
        f"{CONT}, fact 2 (heavy tails): intraday returns' excess kurtosis well above 3",
    ),
    "tail_index": Band(
        2.0,
        5.0,
        f"{CONT}, fact 2: a tail index above two and below five for most data sets",
    ),
    "aggregational_normality": Band(
        None,
        0.0,
        f"{CONT}, fact 4 (aggregational Gaussianity): kurtosis falls as the horizon grows",
    ),
    "no_autocorrelation": Band(
        -0.1,
        0.1,
        f"{CONT}, fact 1: insignificant beyond ~20 min, small below (the lab's tolerance ±0.1)",
    ),
    "volatility_clustering": Band(
        0.0,
        None,
        f"{CONT}, facts 6 and 8: |returns| positively autocorrelated, decaying slowly "
        "(a power law with exponent 0.2-0.4)",
    ),
    "order_sign_memory": Band(
        0.0,
        None,
        "Lillo & Farmer (2004) Stud. Nonlinear Dyn. Econom. 8(3); Bouchaud et al. (2004) Quant. "
        "Finance 4:176: trade signs positively autocorrelated, a power law in the lag "
        "(exponent ~0.5-0.6)",
    ),
    "volume_volatility": Band(
        0.0,
        None,
        f"{CONT}, fact 10: volume correlated with every measure of volatility",
    ),
    "concave_impact": Band(
        0.0,
        1.0,
        "Lillo, Farmer & Mantegna (2003) Nature 421:129 (single trades, exponent ~0.5 for small "
        "sizes); Toth et al. (2011) Phys. Rev. X 1:021006 (metaorders, ~0.5): impact concave in "
        "size (exponent below 1)",
    ),
    "impact_reversion": Band(
        0.0,
        1.0,
        "Farmer, Gerig, Lillo & Waelbroeck (2013) Quant. Finance 13:1743 (fair pricing predicts "
        "~2/3); Bershova & Rakhlin (2013) Quant. Finance 13:1759 (~2/3 measured): after a "
        "metaorder ends its impact partly reverts, a permanent part remains",
    ),
    "intraday_volume": Band(
        1.0,
        None,
        "Jain & Joh (1988) J. Financ. Quant. Anal. 23:269; Admati & Pfleiderer (1988) Rev. "
        "Financ. Stud. 1:3: volume U-shaped over the day, heaviest at the open and the close",
    ),
    "intraday_spread": Band(
        1.0,
        None,
        "McInish & Wood (1992) J. Finance 47:753: spreads widest at the open, narrowing through "
        "the morning (a reverse J)",
    ),
    "intraday_volatility": Band(
        1.0,
        None,
        "Wood, McInish & Ord (1985) J. Finance 40:723; Harris (1986) J. Financ. Econ. 16:99: "
        "returns most volatile at the open",
    ),
}


BAND_OF_FACT = {
    "no linear autocorrelation": "no_autocorrelation",
    "volatility clustering": "volatility_clustering",
}


def realism_table(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every fact per symbol (``COLUMNS``), from ``nbbo`` and, where present, ``trades``."""
    nbbo = tables.get("nbbo")
    trades = tables.get("trades")
    if nbbo is None or nbbo.empty:
        return pd.DataFrame(columns=COLUMNS)
    mids = _mid_paths(nbbo)
    values = _value_paths(tables.get("values"))
    rows: list[dict[str, object]] = []
    pooled: list[_Metaorders] = []
    retail = _retail_prints(tables)
    for symbol in sorted(mids):
        paths = mids[symbol]
        symbol_trades = _trades_of(trades, symbol)
        rows += _return_rows(symbol, paths)
        rows += _volume_volatility_rows(symbol, paths, symbol_trades)
        rows += _sign_rows(symbol, symbol_trades)
        rows += _market_sign_rows(symbol, symbol_trades, retail)
        rows += _impact_rows(symbol, paths, symbol_trades)
        found = _metaorders(symbol, paths, tables.get("destination_fills"), values)
        rows += _metaorder_rows(symbol, found)
        if found.moves:  # a symbol with nothing measured adds nothing, not even its name
            pooled.append(found)
        rows += _spread_rows(symbol, paths)
        rows += _intraday_rows(symbol, paths, symbol_trades, tables.get("session"))
    if len(pooled) > 1:  # every symbol's metaorders in one fit: a few times more of them
        together = _Metaorders()
        for found in pooled:
            together.extend(found)
        rows += _metaorder_rows(POOLED, together, pooled=len(pooled))
    return pd.DataFrame(rows, columns=COLUMNS)


# ---------------------------------------------------------------------- the facts
def _return_rows(symbol: str, paths: list[_Path]) -> list[dict[str, object]]:
    rows = []
    kurtosis: dict[int, float | None] = {}
    for h in RETURN_HORIZONS_S:
        r = _returns(paths, h)
        kurtosis[h] = _excess_kurtosis(r)
        rows.append(
            _row(symbol, "heavy tails", "excess kurtosis of mid returns", f"{h} s")
            | _valued(kurtosis[h], len(r), math.sqrt(24 / len(r)) if len(r) else None)
            | _banded("heavy_tails", kurtosis[h])
        )
    r1 = _returns(paths, RETURN_HORIZONS_S[0])
    alpha, tail_n = _hill_tail_index(r1)
    rows.append(
        _row(symbol, "heavy tails", "tail index of |returns| (Hill, top 5%)", "1 s")
        | _valued(alpha, tail_n, alpha / math.sqrt(tail_n) if alpha is not None else None)
        | _banded("tail_index", alpha)
    )
    short, long = kurtosis[RETURN_HORIZONS_S[0]], kurtosis[RETURN_HORIZONS_S[-1]]
    change = None if short is None or long is None else long - short
    rows.append(
        _row(
            symbol,
            "aggregational normality",
            "excess kurtosis at 60 s minus at 1 s",
            f"{RETURN_HORIZONS_S[0]}-{RETURN_HORIZONS_S[-1]} s",
        )
        | _valued(change, len(_returns(paths, RETURN_HORIZONS_S[-1])), None)
        | _banded("aggregational_normality", change)
    )
    for lag in RETURN_LAGS:
        for h in RETURN_HORIZONS_S[:2]:
            rows.append(
                _autocorrelation_row(
                    symbol, "no linear autocorrelation", "autocorrelation of returns",
                    _returns(paths, h), h, lag,
                )
            )  # fmt: skip
    for lag in ABS_RETURN_LAGS:
        rows.append(
            _autocorrelation_row(
                symbol, "volatility clustering", "autocorrelation of |returns|", np.abs(r1), 1, lag
            )
        )
    return rows


def _autocorrelation_row(
    symbol: str, fact: str, metric: str, series: np.ndarray, step_s: int, lag: int
) -> dict[str, object]:
    value = _autocorrelation(series, lag)
    n = len(series)
    return (
        _row(symbol, fact, metric, f"{step_s} s, lag {lag}")
        | _valued(value, n, 1 / math.sqrt(n) if n else None)
        | _banded(BAND_OF_FACT[fact], value)
    )


def _volume_volatility_rows(
    symbol: str, paths: list[_Path], trades: pd.DataFrame
) -> list[dict[str, object]]:
    step = RETURN_HORIZONS_S[0]
    volumes, moves = [], []
    for path in paths:
        grid = _grid(path, step)
        if len(grid) < 2:
            continue
        mids = path.at(grid)
        moves.append(np.abs(np.diff(np.log(mids))))
        runs = trades[trades["run"] == path.run] if "run" in trades.columns else trades
        bucket = np.searchsorted(grid, runs["ts_ns"].to_numpy("int64"), side="right") - 1
        ok = (bucket >= 0) & (bucket < len(grid) - 1)
        volumes.append(
            np.bincount(
                bucket[ok], weights=runs["qty"].to_numpy(float)[ok], minlength=len(grid) - 1
            )
        )
    volume = np.concatenate(volumes) if volumes else np.array([])
    move = np.concatenate(moves) if moves else np.array([])
    value = _correlation(volume, move)
    return [
        _row(symbol, "volume-volatility correlation", "corr(volume, |return|) per interval", "1 s")
        | _valued(value, len(move), 1 / math.sqrt(len(move)) if len(move) else None)
        | _banded("volume_volatility", value)
    ]


def _sign_rows(
    symbol: str,
    trades: pd.DataFrame,
    metric: str = "autocorrelation of trade signs",
    note: str = "",
) -> list[dict[str, object]]:
    signs = np.where(trades["aggressor"].astype(str) == "buy", 1.0, -1.0)
    known = trades["aggressor"].astype(str).isin(["buy", "sell"]).to_numpy()
    series = _split_by_run(trades, signs, known)
    rows = []
    for lag in SIGN_LAGS:
        value = _pooled_autocorrelation(series, lag)
        n = sum(max(len(s) - lag, 0) for s in series)
        row = (
            _row(symbol, "order-sign memory", metric, f"lag {lag}")
            | _valued(value, n, 1 / math.sqrt(n) if n else None)
            | _banded("order_sign_memory", value)
        )
        if note and value is not None:
            row["note"] = note
        rows.append(row)
    return rows


MARKET_SIGNS = "sign autocorrelation, retail prints out"


def _retail_prints(tables: dict[str, pd.DataFrame]) -> set[str]:
    """Keys (``_print_keys``) of the prints a retail order's child set off: the fill of an
    order id that a router's decision named as a child (``routes.child_id``: the broker's
    children and the SOR's) that took liquidity — a lit venue's taker fill, or a dark pool's
    midpoint fill on the side that arrived (the print's aggressor) — matched to the print by
    its exec id. Empty when the tape has no routes or no venue fills (real data)."""
    routes, fills = tables.get("routes"), tables.get("destination_fills")
    if routes is None or routes.empty or fills is None or fills.empty:
        return set()
    children = set(_keyed(routes, routes["child_id"].astype(str)))
    liquidity = fills["liquidity"].astype(str)
    fills = fills[liquidity.isin(["taker", "midpoint"])]
    fills = fills[_keyed(fills, _own_ids(fills)).isin(children)]
    return set(_keyed(fills, fills["exec_id"].astype(str) + "|" + fills["side"].astype(str)))


def _print_keys(trades: pd.DataFrame) -> pd.Series:
    """Each print's run, trade id and aggressor side as one key (``_retail_prints``)."""
    return _keyed(trades, trades["trade_id"].astype(str) + "|" + trades["aggressor"].astype(str))


def _keyed(table: pd.DataFrame, ids: pd.Series) -> pd.Series:
    """``ids`` with the run in front when ``table`` pools several runs (ids repeat across runs:
    every lab's first print on lit-a is ``lit-a-1``)."""
    if "run" not in table.columns:
        return ids
    return table["run"].astype(str) + "\x1f" + ids


def _own_ids(table: pd.DataFrame) -> pd.Series:
    """A table's order ids as their service gave them: pooled experiments put the run's label
    and a colon in front of them (``orchestration.experiment.pool_tables``; welfare's
    ``_per_run`` takes it off the same way, one run at a time)."""
    ids = table["order_id"].astype(str)
    if "run" not in table.columns:
        return ids
    runs = table["run"].astype(str)
    return pd.Series(
        [i.removeprefix(f"{r}:") for i, r in zip(ids, runs, strict=True)],
        index=ids.index,
        dtype=object,
    )


def _market_sign_rows(
    symbol: str, trades: pd.DataFrame, retail: set[str]
) -> list[dict[str, object]]:
    """The sign memory of the market beside the experiment: the same autocorrelations over the
    prints that no retail order's child set off. The retail stream is the lab's input (its
    sides independent draws unless the stream says otherwise), and at a high injection rate
    its prints can be most of a thin market's tape; this row reads the background market's own
    order flow. No rows when no print of the symbol was a retail child's."""
    if not retail or "trade_id" not in trades.columns:
        return []
    mine = _print_keys(trades).isin(retail).to_numpy()
    if not mine.any():
        return []
    note = f"{int(mine.sum()):,} of {len(mine):,} prints left out"
    return _sign_rows(symbol, trades[~mine], MARKET_SIGNS, note)


def _impact_rows(symbol: str, paths: list[_Path], trades: pd.DataFrame) -> list[dict[str, object]]:
    """Impact of single lit trades against their size: the mid ``IMPACT_HORIZON_S`` after the
    trade less the mid before it, in the aggressor's direction (bps), averaged per size quantile;
    the exponent is the slope of log impact on log size over the quantiles whose mean impact is
    positive. Whole metaorders: ``_metaorder_rows``."""
    moves, sizes = [], []
    horizon = int(IMPACT_HORIZON_S * 1e9)
    for path in paths:
        runs = trades[trades["run"] == path.run] if "run" in trades.columns else trades
        runs = runs[runs["aggressor"].astype(str).isin(["buy", "sell"])]
        ts = runs["ts_ns"].to_numpy("int64")
        inside = (ts > path.ts[0]) & (ts + horizon <= path.ts[-1])
        if not inside.any():
            continue
        runs, ts = runs[inside], ts[inside]
        before, after = path.at(ts - 1), path.at(ts + horizon)
        sign = np.where(runs["aggressor"].astype(str) == "buy", 1.0, -1.0)
        moves.append(sign * (after - before) / before * 1e4)
        sizes.append(runs["qty"].to_numpy(float))
    move = np.concatenate(moves) if moves else np.array([])
    size = np.concatenate(sizes) if sizes else np.array([])
    exponent, used = _impact_exponent(size, move)
    return [
        _row(symbol, "concave price impact", "exponent of impact against trade size", "1 s")
        | _valued(exponent, len(move), None)
        | _banded("concave_impact", exponent)
        | {"note": f"single trades, {used} size quantiles with positive mean impact"},
    ]


METAORDER_SETTLE_S = 0.1  # the mid read this long after a metaorder's last child
METAORDER_REVERSION_S = 10.0  # and again this long after it: what remains of the impact


@dataclass(slots=True)
class _Metaorders:
    """One symbol's (or the pooled symbols') metaorders, as ``_metaorder_rows`` measures them:
    per parent its move (bps, in its direction), shares and children; the moves at the end and
    ``METAORDER_REVERSION_S`` later of those the tape covers that long; ``note`` when there
    are none to measure, ``net`` when every move is net of the latent value's."""

    moves: list[float] = field(default_factory=list)
    sizes: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    peaks: list[float] = field(default_factory=list)
    remains: list[float] = field(default_factory=list)
    net: bool = True
    note: str = ""

    def extend(self, other: _Metaorders) -> None:
        self.moves += other.moves
        self.sizes += other.sizes
        self.lengths += other.lengths
        self.peaks += other.peaks
        self.remains += other.remains
        self.net = self.net and other.net


def _metaorders(
    symbol: str,
    paths: list[_Path],
    fills: pd.DataFrame | None,
    values: dict[tuple[str, str], _Path] | None = None,
) -> _Metaorders:
    """Impact of whole metaorders (``[agents.institutional]``) against their size: per parent,
    the mid ``METAORDER_SETTLE_S`` after its last child's fill less the mid just before its
    first, in the parent's direction (bps), against the shares its children took; the exponent
    is fitted over parents binned by their number of children, in powers of two
    (``_binned_exponent``). Not by shares: a parent whose one child took only part of its size
    (25-60 of 100 shares) met a thin book, so binning by the shares taken would put the parents
    that moved the price most in a bin of their own below the smallest whole child. The
    children are the taker fills whose order id names a parent
    (``services.institutions.parent_of``).

    Where the tape holds the latent value (a lab's ``values``), each move is taken net of the
    value's own move over the same interval: the change in the mid's gap from the value. No
    trade moves the value (services/value.py: an OU process about the reference price, plus
    jumps). A parent whose side is a coin (``informed_share`` 0, the default) is independent of
    the value's later move, so that move has mean zero given the side: taking it out removes
    none of the impact and most of the noise (over 4 s the default's value moves 13-16 bps
    RMS, while the mid's gap from it is 3-5 bps RMS). With informed parents (``informed_share``
    > 0: they buy when they see the value above the mid) it is not quite so: the value is then
    more often above its anchor when a parent buys, its expected move (the OU's pull, half-life
    120 s by default) runs against the parent by about ln 2 / 120 s x the time x its distance
    from the anchor, a few tenths of a bps over 2-20 s, and the net move counts that as impact.
    Real data has no latent value: the raw mid move."""
    if fills is None:  # real data: no order names a parent
        return _Metaorders(note="no metaorders in this data (only a lab's tape names parents)")
    kids = _children_of(fills, symbol)
    if kids.empty:
        return _Metaorders(note="no metaorders in this run ([agents.institutional] traders = 0)")
    settle = int(METAORDER_SETTLE_S * 1e9)
    later = int(METAORDER_REVERSION_S * 1e9)
    out = _Metaorders()
    for path in paths:
        mine = kids[kids["run"] == path.run] if "run" in kids.columns else kids
        value = (values or {}).get((symbol, path.run))
        out.net = out.net and value is not None
        for _, parent in mine.groupby("parent", sort=False):
            first, last = int(parent["exec_ns"].min()), int(parent["exec_ns"].max())
            if first <= path.ts[0] or last + settle > path.ts[-1]:
                continue  # cut by the run's start or end
            stamps = np.array([first - 1, last + settle, last + later])
            moved = _relative_moves(path.at(stamps), None if value is None else value.at(stamps))
            sign = 1.0 if str(parent["side"].iloc[0]) == "buy" else -1.0
            out.moves.append(sign * moved[0])
            out.sizes.append(float(parent["qty"].sum()))
            out.lengths.append(int(parent["order_id"].nunique()))
            if last + later <= path.ts[-1]:
                out.peaks.append(out.moves[-1])
                out.remains.append(sign * moved[1])
    return out


def _metaorder_rows(symbol: str, found: _Metaorders, pooled: int = 0) -> list[dict[str, object]]:
    """The exponent of metaorder impact against size and its reversion (``_metaorders``);
    ``pooled``: the number of symbols whose metaorders ``found`` holds together (their moves
    are in bps and their children of one size, so one fit takes them all)."""
    metric = "exponent of metaorder impact against size"
    row = _row(symbol, "concave price impact", metric, "first child to last + 0.1 s")
    if found.note:
        return [row | {"note": found.note}]
    exponent, used, stderr = _binned_exponent(
        np.array(found.sizes), np.array(found.moves), np.array(found.lengths)
    )
    basis = "net of the latent value's move" if found.net and found.moves else "mid moves"
    which = f"{len(found.moves)} metaorders" + (f" of {pooled} symbols" if pooled else "")
    reversion = _reversion_row(symbol, np.array(found.peaks), np.array(found.remains))
    return [
        row
        | _valued(exponent, len(found.moves), stderr)
        | _banded("concave_impact", exponent)
        | {"note": f"{which}, {used} bins (1, 2-3, 4-7... children); {basis}"},
        reversion,
    ]


def _relative_moves(mid: np.ndarray, value: np.ndarray | None) -> np.ndarray:
    """The mid's moves from ``mid[0]`` to each later point (bps), less the latent value's over
    the same intervals when it is known."""
    moved = (mid[1:] - mid[0]) / mid[0] * 1e4
    if value is None:
        return moved
    return moved - (value[1:] - value[0]) / value[0] * 1e4


def _reversion_row(symbol: str, peak: np.ndarray, remain: np.ndarray) -> dict[str, object]:
    """What remains of metaorder impact ``METAORDER_REVERSION_S`` after the last child, as a
    share of the impact at its end: mean remaining over mean peak impact (bps, in each
    parent's direction), its standard error by the delta method; none unless the mean peak
    impact is positive by more than two standard errors (a ratio over a peak that cannot be
    told from zero measures nothing)."""
    row = _row(
        symbol,
        "concave price impact",
        "impact reversion: remaining / peak",
        f"last child + {METAORDER_REVERSION_S:g} s vs + {METAORDER_SETTLE_S:g} s",
    ) | _banded("impact_reversion", None)
    n = len(peak)
    if n < MIN_SAMPLES:
        return row | _valued(None, n, None)
    mean_peak, mean_remain = float(peak.mean()), float(remain.mean())
    peak_se = float(peak.std(ddof=1)) / math.sqrt(n)
    if mean_peak <= 2 * peak_se:
        return (
            row
            | _valued(None, n, None)
            | {"note": f"mean peak impact {mean_peak:.2f} bps (se {peak_se:.2f}): not above zero"}
        )
    ratio = mean_remain / mean_peak
    # Var(A/B) ~ (Var A - 2 R Cov(A, B) + R^2 Var B) / (n B^2) for means A, B and R = A / B
    cov = np.cov(remain, peak)
    var = (cov[0, 0] - 2 * ratio * cov[0, 1] + ratio**2 * cov[1, 1]) / (n * mean_peak**2)
    return (
        row
        | _valued(ratio, n, math.sqrt(max(0.0, float(var))))
        | _banded("impact_reversion", ratio)
        | {"note": f"{n} metaorders, mean peak {mean_peak:.2f} bps"}
    )


def _children_of(fills: pd.DataFrame | None, symbol: str) -> pd.DataFrame:
    """This symbol's metaorder children's own fills (liquidity taker), with their ``parent``."""
    if fills is None or fills.empty:
        return pd.DataFrame(columns=["parent", "side", "qty", "exec_ns"])
    mine = fills[(fills["symbol"].astype(str) == symbol) & (fills["liquidity"] == "taker")]
    parents = _own_ids(mine).map(parent_of)
    mine = mine.assign(parent=parents)[parents.notna()]
    if "run" in mine.columns:  # parents of pooled runs kept apart
        run = mine["run"].astype(str)
        mine = mine.assign(run=run, parent=run + ":" + mine["parent"].astype(str))
    return mine


def _binned_exponent(
    size: np.ndarray, move: np.ndarray, length: np.ndarray | None = None, min_per_bin: int = 5
) -> tuple[float | None, int, float | None]:
    """Slope of log mean impact on log mean size, and its standard error, over bins by powers
    of two of ``length`` (a metaorder's children: 1, 2-3, 4-7, ...) or, without it, of the size
    over the median size (metaorder sizes have a Pareto tail, so quantile bins would collapse
    onto the commonest size); the bins holding ``min_per_bin`` metaorders with a positive mean
    impact count, and three are needed.

    Weighted least squares: a bin's log mean impact has variance ``(se / mean)^2`` by the delta
    method (``se`` the standard error of its mean), and each bin is weighted by the inverse of
    it, so a bin of five large metaorders whose mean is mostly noise does not count as much as
    one of hundreds. The slope's standard error is the weighted fit's, ``1 / sqrt(sum w (x -
    xbar_w)^2)``, times ``sqrt(chi^2 / (bins - 2))`` when the bins scatter about the line by
    more than their own errors say (a reduced chi-square above 1: the line, not only the
    bins' noise, is off)."""
    if len(size) < MIN_SAMPLES:
        return None, 0, None
    if length is None:
        bins = np.floor(np.log2(size / float(np.median(size)))).astype(int)
    else:
        bins = np.floor(np.log2(np.maximum(length, 1))).astype(int)
    xs, ys, ws = [], [], []
    for b in np.unique(bins):
        inside = bins == b
        n = int(inside.sum())
        mean_move = float(move[inside].mean())
        if n < min_per_bin or mean_move <= 0:
            continue
        se = float(move[inside].std(ddof=1)) / math.sqrt(n)
        xs.append(math.log(float(size[inside].mean())))
        ys.append(math.log(mean_move))
        ws.append((mean_move / se) ** 2 if se > 0 else 1e12)
    if len(xs) < 3:
        return None, len(xs), None
    x, y, w = np.array(xs), np.array(ys), np.array(ws)
    xbar, ybar = float(np.average(x, weights=w)), float(np.average(y, weights=w))
    sxx = float((w * (x - xbar) ** 2).sum())
    if sxx <= 0:
        return None, len(xs), None
    slope = float((w * (x - xbar) * (y - ybar)).sum()) / sxx
    chi2 = float((w * (y - ybar - slope * (x - xbar)) ** 2).sum())
    spread = max(1.0, chi2 / (len(xs) - 2))
    return slope, len(xs), math.sqrt(spread / sxx)


def _spread_rows(symbol: str, paths: list[_Path]) -> list[dict[str, object]]:
    rows = []
    spreads = np.concatenate([p.spread_bps_at(_grid(p, 1)) for p in paths] or [np.array([])])
    for q in (10, 50, 90):
        value = float(np.percentile(spreads, q)) if len(spreads) else None
        rows.append(
            _row(symbol, "spread distribution", f"NBBO quoted spread bps, p{q}", "1 s samples")
            | _valued(value, len(spreads), None)
            | {"note": "descriptive: no band (spreads depend on the stock)"}
        )
    depths = np.concatenate([p.depth_at(_grid(p, 1)) for p in paths] or [np.array([])])
    depths = depths[~np.isnan(depths)]
    for q in (10, 50, 90):
        value = float(np.percentile(depths, q)) if len(depths) else None
        rows.append(
            _row(
                symbol,
                "depth distribution",
                f"NBBO depth at the touch, shares, p{q}",
                "1 s samples",
            )
            | _valued(value, len(depths), None)
            | {"note": "descriptive: no band (depth depends on the stock and its tick)"}
        )
    return rows


# Parts of the day compared (phase in [0, 1) of the session day): the first and last tenth
# against the middle fifth.
OPEN_PART = (0.0, 0.1)
MIDDAY_PART = (0.4, 0.6)
CLOSE_PART = (0.9, 1.0)


def _intraday_rows(
    symbol: str, paths: list[_Path], trades: pd.DataFrame, session: pd.DataFrame | None
) -> list[dict[str, object]]:
    """Open and close against midday: lit volume per second of observation, the median quoted
    spread and the mean |1 s return| (1 s samples), pooled over days and runs. Needs the
    lab's session clock (the ``session`` table: each run's day start and length)."""
    fact = "intraday patterns"
    if session is None or session.empty:
        return [
            _row(symbol, fact, "U-shaped volume, spread through the day", "day")
            | {"note": "not measured: no session clock ([session] day_s = 0)"}
        ]
    days = {
        str(r.get("run", "")): (int(r["origin_ns"]), float(r["day_s"]))
        for r in session.to_dict(orient="records")
    }
    seconds: list[np.ndarray] = []
    spreads: list[tuple[np.ndarray, np.ndarray]] = []
    moves: list[tuple[np.ndarray, np.ndarray]] = []
    volume: list[tuple[np.ndarray, np.ndarray]] = []
    for path in paths:
        origin, day_s = days.get(path.run, next(iter(days.values())))
        origin = origin or int(path.ts[0])  # 0: the day started with the run's first quote
        grid = _grid(path, 1)
        phase = ((grid - origin) % int(day_s * 1e9)) / (day_s * 1e9)
        seconds.append(phase)
        spreads.append((phase, path.spread_bps_at(grid)))
        moves.append((phase[1:], np.abs(np.diff(np.log(path.at(grid))))))
        mine = trades[trades["run"].astype(str) == path.run] if "run" in trades else trades
        ts = mine["ts_ns"].to_numpy("int64")
        volume.append((((ts - origin) % int(day_s * 1e9)) / (day_s * 1e9), mine["qty"].to_numpy()))
    phases = np.concatenate(seconds)

    def part_of(phase: np.ndarray, part: tuple[float, float]) -> np.ndarray:
        return (phase >= part[0]) & (phase < part[1])

    def rate(part: tuple[float, float]) -> tuple[float | None, int]:
        exposed = int(part_of(phases, part).sum())  # seconds observed in that part of the day
        shares = sum(float(q[part_of(ph, part)].sum()) for ph, q in volume)
        return (shares / exposed if exposed else None), exposed

    def stat(
        samples: list[tuple[np.ndarray, np.ndarray]],
        part: tuple[float, float],
        how: Callable[[np.ndarray], Any],
    ) -> tuple[float | None, int]:
        values = np.concatenate([v[part_of(ph, part)] for ph, v in samples] or [np.array([])])
        values = values[np.isfinite(values)]
        return (float(how(values)) if len(values) else None), len(values)

    rows = []
    measures = [
        ("volume per second, open / midday", "intraday_volume", rate(OPEN_PART), rate(MIDDAY_PART)),
        (
            "volume per second, close / midday",
            "intraday_volume",
            rate(CLOSE_PART),
            rate(MIDDAY_PART),
        ),
        (
            "median quoted spread, open / midday",
            "intraday_spread",
            stat(spreads, OPEN_PART, np.median),
            stat(spreads, MIDDAY_PART, np.median),
        ),
        (
            "mean |1 s return|, open / midday",
            "intraday_volatility",
            stat(moves, OPEN_PART, np.mean),
            stat(moves, MIDDAY_PART, np.mean),
        ),
    ]
    for metric, band, (top, n_top), (bottom, n_bottom) in measures:
        n = min(n_top, n_bottom)
        ok = top is not None and bottom and n >= MIN_SAMPLES
        value = top / bottom if ok else None  # type: ignore[operator]
        rows.append(
            _row(symbol, fact, metric, "first, last tenth vs middle fifth of the day")
            | _valued(value, n, None)
            | _banded(band, value)
        )
    return rows


# ---------------------------------------------------------------------- mid paths
@dataclass(frozen=True, slots=True)
class _Path:
    """One run's two-sided NBBO of one symbol: times and mids, spreads, and the shares shown
    at the touch (the mean of the bid's and the ask's size)."""

    run: str
    ts: np.ndarray
    mid: np.ndarray
    spread_bps: np.ndarray
    depth: np.ndarray

    def index(self, t: np.ndarray) -> np.ndarray:
        return np.clip(np.searchsorted(self.ts, t, side="right") - 1, 0, len(self.ts) - 1)

    def at(self, t: np.ndarray) -> np.ndarray:
        return self.mid[self.index(t)]

    def spread_bps_at(self, t: np.ndarray) -> np.ndarray:
        return self.spread_bps[self.index(t)]

    def depth_at(self, t: np.ndarray) -> np.ndarray:
        return self.depth[self.index(t)]


def _mid_paths(nbbo: pd.DataFrame) -> dict[str, list[_Path]]:
    bid = nbbo["bid_px"].to_numpy("float64", na_value=np.nan)
    ask = nbbo["ask_px"].to_numpy("float64", na_value=np.nan)
    mid = (bid + ask) / 2
    depth = (
        (
            nbbo["bid_qty"].to_numpy("float64", na_value=np.nan)
            + nbbo["ask_qty"].to_numpy("float64", na_value=np.nan)
        )
        / 2
        if {"bid_qty", "ask_qty"} <= set(nbbo.columns)
        else np.full(len(nbbo), np.nan)
    )
    paths = _paths_by_run(nbbo, mid, (ask - bid) / mid * 1e4, (bid > 0) & (ask > bid), depth)
    out: dict[str, list[_Path]] = {}
    for (symbol, _run), path in paths.items():
        out.setdefault(symbol, []).append(path)
    return out


def _value_paths(values: pd.DataFrame | None) -> dict[tuple[str, str], _Path]:
    """The latent value's path per (symbol, run) from a lab's ``values`` table (none in real
    data), as a step function like the mid's (no spread: zeros)."""
    if values is None or values.empty:
        return {}
    value = values["value"].to_numpy("float64")
    return _paths_by_run(values, value, np.zeros(len(value)), value > 0)


def _paths_by_run(
    table: pd.DataFrame,
    level: np.ndarray,
    spread_bps: np.ndarray,
    ok: np.ndarray,
    depth: np.ndarray | None = None,
) -> dict[tuple[str, str], _Path]:
    """A step path per (symbol, run) of ``table``'s rows where ``ok``, in time order (runs of
    pooled labs kept apart), sorted by symbol then run."""
    frame = pd.DataFrame(
        {
            "run": table["run"].astype(str).to_numpy() if "run" in table.columns else "",
            "symbol": table["symbol"].astype(str).to_numpy(),
            "ts_ns": table["ts_ns"].to_numpy("int64"),
            "level": level,
            "spread_bps": spread_bps,
            "depth": np.full(len(level), np.nan) if depth is None else depth,
        }
    )[ok].sort_values(["symbol", "run", "ts_ns"], kind="stable")
    return {
        (str(symbol), str(run)): _Path(
            str(run),
            g["ts_ns"].to_numpy("int64"),
            g["level"].to_numpy(float),
            g["spread_bps"].to_numpy(float),
            g["depth"].to_numpy(float),
        )
        for (symbol, run), g in frame.groupby(["symbol", "run"], sort=True)
    }


def _grid(path: _Path, step_s: float) -> np.ndarray:
    step = int(step_s * 1e9)
    return np.arange(int(path.ts[0]), int(path.ts[-1]) + 1, step, dtype="int64")


def _returns(paths: list[_Path], step_s: float) -> np.ndarray:
    parts = [np.diff(np.log(p.at(_grid(p, step_s)))) for p in paths]
    return np.concatenate(parts) if parts else np.array([])


def _trades_of(trades: pd.DataFrame | None, symbol: str) -> pd.DataFrame:
    if trades is None or trades.empty:
        return pd.DataFrame(columns=["symbol", "ts_ns", "qty", "aggressor"])
    mine = trades[trades["symbol"].astype(str) == symbol]
    keys = ["run", "ts_ns"] if "run" in mine.columns else ["ts_ns"]
    if "run" in mine.columns:
        mine = mine.assign(run=mine["run"].astype(str))
    return mine.sort_values(keys, kind="stable")


def _split_by_run(trades: pd.DataFrame, values: np.ndarray, keep: np.ndarray) -> list[np.ndarray]:
    if "run" not in trades.columns:
        return [values[keep]]
    runs = trades["run"].to_numpy()
    return [values[keep & (runs == run)] for run in pd.unique(runs)]


# ---------------------------------------------------------------------- statistics
def _excess_kurtosis(x: np.ndarray) -> float | None:
    """Sample excess kurtosis m4 / m2^2 - 3 (None below MIN_SAMPLES or with no variation)."""
    if len(x) < MIN_SAMPLES:
        return None
    d = x - x.mean()
    m2 = float(np.mean(d**2))
    return None if m2 <= 0 else float(np.mean(d**4)) / m2**2 - 3.0


def _hill_tail_index(x: np.ndarray, top: float = 0.05) -> tuple[float | None, int]:
    """Hill's estimator of the tail index over the largest ``top`` share of |x| (nonzero)."""
    a = np.sort(np.abs(x[x != 0]))[::-1]
    k = int(len(a) * top)
    if k < 10:
        return None, k
    logs = np.log(a[:k]) - math.log(a[k])
    mean = float(logs.mean())
    return (None if mean <= 0 else 1.0 / mean), k


def _autocorrelation(x: np.ndarray, lag: int) -> float | None:
    return _pooled_autocorrelation([x], lag)


def _pooled_autocorrelation(series: list[np.ndarray], lag: int) -> float | None:
    """Autocorrelation at ``lag`` over several series (no pair spans two), around the pooled
    mean and variance; None below MIN_SAMPLES pairs or with no variation."""
    series = [np.asarray(s, dtype=float) for s in series if len(s)]
    if not series:
        return None
    pooled = np.concatenate(series)
    mean, variance = pooled.mean(), pooled.var()
    pairs = [(s[:-lag] - mean) * (s[lag:] - mean) for s in series if len(s) > lag]
    n = sum(len(p) for p in pairs)
    if n < MIN_SAMPLES or variance <= 0:
        return None
    return float(sum(p.sum() for p in pairs) / n / variance)


def _correlation(a: np.ndarray, b: np.ndarray) -> float | None:
    if len(a) < MIN_SAMPLES or a.std() == 0 or b.std() == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def _impact_exponent(size: np.ndarray, move: np.ndarray) -> tuple[float | None, int]:
    """Slope of log mean impact on log mean size over size quantiles with positive impact."""
    if len(size) < MIN_SAMPLES or len(np.unique(size)) < 2:
        return None, 0
    edges = np.unique(np.quantile(size, np.linspace(0, 1, IMPACT_BUCKETS + 1)))
    bucket = np.clip(np.searchsorted(edges, size, side="right") - 1, 0, len(edges) - 2)
    xs, ys = [], []
    for b in np.unique(bucket):
        mean_move = float(move[bucket == b].mean())
        if mean_move > 0:
            xs.append(math.log(float(size[bucket == b].mean())))
            ys.append(math.log(mean_move))
    if len(xs) < 3 or np.ptp(xs) == 0:
        return None, len(xs)
    return float(np.polyfit(xs, ys, 1)[0]), len(xs)


# ---------------------------------------------------------------------- rows
def _row(symbol: str, fact: str, metric: str, horizon: str) -> dict[str, object]:
    return {"symbol": symbol, "fact": fact, "metric": metric, "horizon": horizon, "note": ""}


def _valued(value: float | None, n: int, stderr: float | None) -> dict[str, object]:
    if value is None:
        return {"value": None, "n": int(n), "stderr": None, "note": f"not enough data ({n})"}
    return {"value": value, "n": int(n), "stderr": stderr, "note": ""}


def _banded(name: str, value: float | None) -> dict[str, object]:
    band = BANDS[name]
    inside = None
    if value is not None:
        inside = (band.low is None or value > band.low) and (band.high is None or value < band.high)
    return {
        "band_low": band.low,
        "band_high": band.high,
        "in_band": inside,
        "source": band.source,
    }
