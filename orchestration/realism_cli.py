"""``flowlab realism``: the stylized facts of a run's market, or of real data beside it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from orchestration.realdata import RealDataError, read_lobster, read_taq
from orchestration.realism import realism_table
from orchestration.realism_report import number_text


def cmd_realism(args: argparse.Namespace) -> int:
    """Recompute ``realism.parquet`` from a run's tape, a LOBSTER pair or a trades/quotes pair,
    print the table, and say where it was written."""
    try:
        tables, default_out = _source(args)
    except RealDataError as exc:
        print(f"flowlab realism: {exc}", file=sys.stderr)
        return 1
    table = realism_table(tables)
    out: Path = args.out or default_out
    out.mkdir(parents=True, exist_ok=True)
    table.to_parquet(out / "realism.parquet", index=False)
    print(format_realism(table))
    print(f"realism: {out / 'realism.parquet'}")
    return 0


def _source(args: argparse.Namespace) -> tuple[dict[str, pd.DataFrame], Path]:
    if args.lobster:
        message, orderbook = (Path(p) for p in args.lobster)
        return read_lobster(message, orderbook, symbol=args.symbol), message.parent
    if args.taq:
        trades, quotes = (Path(p) for p in args.taq)
        return read_taq(trades, quotes), trades.parent
    if args.run_dir is None:
        raise RealDataError("give a RUN_DIR, --lobster MESSAGE ORDERBOOK or --taq TRADES QUOTES")
    from config.runconfig import load_run_config
    from orchestration.tape import build_tables

    config_path = args.run_dir / "config.toml"
    if not config_path.exists():
        raise RealDataError(f"{args.run_dir} is not a run directory (no config.toml)")
    return build_tables(args.run_dir, load_run_config(config_path)), args.run_dir


def format_realism(table: pd.DataFrame) -> str:
    """The table as aligned text, per symbol: measure, horizon, value, real-market band, verdict."""
    if table.empty:
        return "no two-sided NBBO in this data: nothing to measure"
    lines = []
    for symbol, group in table.groupby("symbol", sort=False):
        lines.append(f"{symbol}")
        for row in group.to_dict(orient="records"):
            value = number_text(row["value"], 3, "n/a")
            if not pd.isna(row["value"]) and not pd.isna(row["stderr"]):
                value += f" ± {number_text(row['stderr'], 2, '')}"
            inside = row["in_band"]
            if pd.isna(inside) or inside is None:
                verdict = row["note"]
            else:
                verdict = "in band" if inside else "OUTSIDE"
                verdict += f" ({row['note']})" if row["note"] else ""
            lines.append(
                f"  {row['metric'][:40]:<40} {row['horizon'][:12]:<12} {value:>15}  "
                f"{_band(row['band_low'], row['band_high']):<10} {verdict}"
            )
    return "\n".join(lines)


def _band(low: float | None, high: float | None) -> str:
    has_low, has_high = low is not None and low == low, high is not None and high == high
    if has_low and has_high:
        return f"{low:g}..{high:g}"
    if has_low:
        return f"> {low:g}"
    return f"< {high:g}" if has_high else ""
