"""Who gained what, per regime and kind of party, from the welfare accounting.

``orchestration.welfare`` marks every execution at the latent value and gives every transfer a
payer and a receiver, so each regime's parties sum to exactly zero (micro-dollars). This module
adds the parties up by kind (investors, broker, wholesalers, ...) for the report's "Who gained
what": $ per regime, $ per 100 shares the investors had filled in that regime, and each regime
minus the first; the rows of a regime sum to zero, and the report shows that sum.
"""

from __future__ import annotations

import pandas as pd

from orchestration.report_labels import PARTY_TYPES
from orchestration.report_render import Block, Column, Heading, Table, Text, number
from orchestration.welfare import OUTSIDE, RETAIL, TYPE_ORDER
from protocol.money import MICROS_PER_DOLLAR

SUM_ROW = "Sum (each transfer has a payer and a receiver)"


def who_gained(welfare: pd.DataFrame) -> pd.DataFrame:
    """One row per party type (``TYPE_ORDER``): ``<regime>_usd``, ``<regime>_micros``,
    ``<regime>_usd_per_100_shares`` (per 100 retail shares filled in the regime) and
    ``<regime>_minus_<first>_usd_per_100_shares``; executions outside the regimes left out."""
    inside = welfare[welfare["regime"] != OUTSIDE] if not welfare.empty else welfare
    if inside.empty:
        return pd.DataFrame({"party_type": pd.Series(dtype=object)})
    regimes = [str(r) for r in dict.fromkeys(inside["regime"])]
    micros = inside.groupby(["party_type", "regime"])["gain_micros"].sum()
    retail = inside[inside["party_type"] == RETAIL].groupby("regime")["shares"].sum()
    present = set(inside["party_type"])
    types = [t for t in TYPE_ORDER if t in present] + sorted(present - set(TYPE_ORDER))
    rows = []
    for party_type in types:
        row: dict[str, object] = {"party_type": party_type}
        per_100: dict[str, float | None] = {}
        for regime in regimes:
            gain = int(micros.get((party_type, regime), 0))
            shares = int(retail.get(regime, 0))
            per_100[regime] = 100 * gain / MICROS_PER_DOLLAR / shares if shares else None
            row[f"{regime}_micros"] = gain
            row[f"{regime}_usd"] = gain / MICROS_PER_DOLLAR
            row[f"{regime}_usd_per_100_shares"] = per_100[regime]
        first = per_100[regimes[0]]
        for regime in regimes[1:]:
            value = per_100[regime]
            row[f"{regime}_minus_{regimes[0]}_usd_per_100_shares"] = (
                None if value is None or first is None else value - first
            )
        rows.append(row)
    return pd.DataFrame(rows)


def who_gained_blocks(table: pd.DataFrame, regimes: list[str]) -> list[Block]:
    """The report's sub-section: the table with its sum row, or why there is none."""
    heading = Heading(3, "Who gained what")
    regimes = [r for r in regimes if f"{r}_usd" in table.columns]
    if table.empty or not regimes:
        return [
            heading,
            Text(
                "Not computed: the run's tables lack the venues' fills or the latent value "
                "(`destination_fills`, `values`), which the welfare accounting marks against."
            ),
        ]
    rows = [
        {**r, "party": PARTY_TYPES.get(r["party_type"], r["party_type"])} for r in _records(table)
    ]
    total: dict[str, object] = {"party": SUM_ROW}
    for regime in regimes:
        total[f"{regime}_usd"] = int(table[f"{regime}_micros"].sum()) / MICROS_PER_DOLLAR
    for key in table.columns:
        if key.endswith("_per_100_shares") and table[key].notna().any():
            total[key] = float(table[key].sum())
    columns: list[Column] = [("Party", "party", str)]
    for regime in regimes:
        columns += [
            (f"{regime}, $", f"{regime}_usd", number(2, signed=True)),
            (f"{regime}, $ per 100 shares", f"{regime}_usd_per_100_shares", number(3, signed=True)),
        ]
    columns += [
        (f"{regime} - {regimes[0]}, $ per 100 shares", key, number(3, signed=True))
        for regime in regimes[1:]
        if (key := f"{regime}_minus_{regimes[0]}_usd_per_100_shares") in table.columns
    ]
    return [
        heading,
        Text(
            "Each kind of party's gain against the latent value at execution (the welfare "
            "accounting below, added up by kind), in $ over the whole run and per 100 shares "
            "the investors had filled in that regime; positive = that party gained. Prices "
            "paid and received, fees, PFOF and commissions all have both sides here, so each "
            "regime's rows sum to zero. Executions with no retail side (background trading, "
            "hedges) are in the welfare table's `outside` block, not here."
        ),
        Table([*rows, total], columns),
    ]


def _records(table: pd.DataFrame) -> list[dict]:
    return table.astype(object).where(table.notna(), None).to_dict(orient="records")
