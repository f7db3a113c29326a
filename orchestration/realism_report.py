"""The report's section on the market's stylized facts (``orchestration/realism.py``)."""

from __future__ import annotations

import pandas as pd

from orchestration.realism import BANDS
from orchestration.report_render import Block, Bullets, Column, Heading, Table, Text


def realism_blocks(computed: dict[str, pd.DataFrame]) -> list[Block]:
    """The report section: every fact per symbol beside its real-market band and source."""
    table = computed.get("realism")
    if table is None or table.empty:
        return []
    rows = [
        row | {"band": _band_text(row["band_low"], row["band_high"]), "verdict": _verdict(row)}
        for row in table.to_dict(orient="records")
    ]
    columns: list[Column] = [
        ("Symbol", "symbol", str),
        ("Fact", "fact", str),
        ("Measure", "metric", str),
        ("Horizon", "horizon", str),
        ("Value", "value", _value_text),
        ("± s.e.", "stderr", _stderr_text),
        ("n", "n", lambda v: "" if v is None or v != v else f"{int(v):,}"),  # type: ignore[call-overload]
        ("Real markets", "band", str),
        ("Verdict", "verdict", str),
    ]
    sources = sorted({f"{b.source}" for b in BANDS.values()})
    return [
        Heading(2, "Market realism (stylized facts)"),
        Text(
            "Does the background market behave like a real one? Mid returns sampled every 1, "
            "10 and 60 s, lit trade signs and sizes, per symbol (metaorder impact also with "
            "every symbol's metaorders pooled; trade signs also without the prints of the "
            "retail orders' own children, the input of the experiment); `realism.parquet` "
            "holds every row and "
            "`flowlab realism RUN_DIR` recomputes it. A fact needs 30 observations: short "
            "runs leave most rows without a value."
        ),
        Table(rows, columns),
        Bullets(tuple(sources)),
    ]


def _band_text(low: object, high: object) -> str:
    low_ok = low is not None and low == low  # type: ignore[comparison-overlap]
    high_ok = high is not None and high == high  # type: ignore[comparison-overlap]
    if low_ok and high_ok:
        return f"{low:g} to {high:g}"
    if low_ok:
        return f"> {low:g}"
    return f"< {high:g}" if high_ok else "—"


def _verdict(row: dict) -> str:
    inside = row.get("in_band")
    if inside is None or inside != inside:
        return row.get("note") or ""
    verdict = "in band" if inside else "**outside**"
    return f"{verdict} ({row['note']})" if row.get("note") else verdict


def number_text(value: object, digits: int, missing: str) -> str:
    """``value`` to ``digits`` significant digits (whole numbers past them in full: 1,790, not
    1.79e+03); ``missing`` for None or NaN. The report's columns and ``flowlab realism``."""
    if value is None or value != value:  # type: ignore[comparison-overlap]
        return missing
    number = float(value)  # type: ignore[arg-type]
    if abs(number) >= 10**digits:
        return f"{number:,.0f}"
    return f"{number:.{digits}g}"


def _stderr_text(value: object) -> str:
    return number_text(value, 2, "")


def _value_text(value: object) -> str:
    return number_text(value, 3, "n/a")
