"""A sweep's statistics and report: the regime difference per point, with two intervals.

Per point, metric and regime pair (every regime against the first: ``b - a``):

- **replication-level** (the one tests use): a cluster bootstrap that resamples replications
  (``orchestration.inference``; the unit of resampling is the replication, both regimes take the
  same draw because replication r shares its seeds across regimes and points); Student-t
  interval and p on n - 1 degrees of freedom;
- **within-run** (beside it, for reading): orders resampled within each replication
  (``orchestration.stats``; ratio metrics only), which leaves out run-to-run variance;
- Holm's adjustment over every test of the report (points x metrics x pairs), and no
  "significant" below ``MIN_REPLICATIONS`` replications.

``report.html`` has, per metric, a line plot (one swept key), a heatmap (two keys) or a row of
heatmaps, one per value of the third key (three keys), of the difference per point, every point
annotated with its replication-level 95% interval.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from orchestration.inference import (
    MIN_REPLICATIONS,
    assess,
    cluster_difference,
    cluster_difference_in_differences,
    format_p,
    holm,
)
from orchestration.metrics import RATIO_METRICS, regime_difference
from orchestration.report_render import Block, Heading, Image, Table, Text, to_html
from orchestration.report_text import number, significant
from orchestration.sweep_grid import MIX_KEY
from orchestration.sweep_task import SWEEP_METRICS

N_BOOT = 2000
DPI = 100


def analyse(
    rows: pd.DataFrame, terms: pd.DataFrame | None, regimes: list[str], keys: list[str], seed: int
) -> pd.DataFrame:
    """One row per (point, metric, regime pair) with both intervals, Holm and the verdict."""
    ok = rows[rows["status"] == "ok"]
    out = []
    for point, part in ok.groupby("point", sort=True):
        values = {k: part[k].iloc[0] for k in keys}
        for metric in SWEEP_METRICS:
            for b in regimes[1:]:
                out.append(
                    {
                        "point": point,
                        **values,
                        **_difference(part, terms, str(point), metric, regimes[0], b, seed),
                    }
                )
    table = pd.DataFrame(out)
    if table.empty:
        return table
    adjusted = holm([None if pd.isna(p) else float(p) for p in table["p_value"]])
    table["p_holm"] = adjusted
    verdicts = [assess(p, int(n)) for p, n in zip(adjusted, table["replications"], strict=True)]
    table["significant"] = pd.Series([v for v, _ in verdicts], dtype="object")
    table["verdict"] = [note for _, note in verdicts]
    return table


def _difference(
    part: pd.DataFrame,
    terms: pd.DataFrame | None,
    point: str,
    metric: str,
    a: str,
    b: str,
    seed: int,
) -> dict[str, Any]:
    rows = part[part["metric"] == metric]
    wide = rows.pivot_table(
        index="replication", columns="regime", values=["numerator", "denominator"], aggfunc="sum"
    ).dropna()
    scale = float(rows["scale"].iloc[0]) if len(rows) else 1.0
    have = len(wide) and a in wide["numerator"] and b in wide["numerator"]
    n = len(wide) if have else 0
    result = (
        cluster_difference(
            wide["numerator"][a],
            wide["denominator"][a],
            wide["numerator"][b],
            wide["denominator"][b],
            scale=scale,
            n_boot=N_BOOT,
            seed=seed,
        )
        if have
        else None
    )
    value = {r: _pooled(rows, r) for r in (a, b)}
    within_low = within_high = None
    if terms is not None and metric in RATIO_METRICS and n:
        within = regime_difference(
            pd.DataFrame(),
            pd.DataFrame(),
            a,
            b,
            metric,
            n_boot=N_BOOT,
            seed=seed,
            per_order=terms[terms["point"] == point],
        )
        within_low, within_high = within.ci_low, within.ci_high
    return {
        "metric": metric,
        "regime_a": a,
        "regime_b": b,
        "value_a": value[a],
        "value_b": value[b],
        "difference": result.estimate if result else None,
        "ci_low": result.ci_low if result else None,
        "ci_high": result.ci_high if result else None,
        "std_error": result.std_error if result else None,
        "p_value": result.p_value if result else None,
        "replications": n,
        "within_ci_low": within_low,
        "within_ci_high": within_high,
    }


def _pooled(rows: pd.DataFrame, regime: str) -> float | None:
    mine = rows[rows["regime"] == regime]
    bottom = mine["denominator"].sum()
    if not len(mine) or bottom == 0:
        return None
    return float(mine["numerator"].sum() / bottom * mine["scale"].iloc[0])


# ---------------------------------------------------------------------- report
def write_sweep_report(
    out: Path, rows: pd.DataFrame, terms: pd.DataFrame | None, record: dict[str, Any]
) -> pd.DataFrame:
    """Analyse, write ``differences.parquet``, ``report.html``, ``plots/<metric>.png``; print the
    figures; return the analysis."""
    keys = list(record["grid"]["keys"])
    regimes = list(record["regimes"])
    table = analyse(rows, terms, regimes, keys, seed=int(record["base_seed"]))
    if not table.empty:
        table.to_parquet(out / "differences.parquet", index=False)
    images = _figures(table, keys, out / "plots")
    blocks = _blocks(table, keys, record, images)
    mix = mix_dependence(rows, keys, regimes, seed=int(record["base_seed"]))
    if not mix.empty:
        mix.to_parquet(out / "mix_dependence.parquet", index=False)
        blocks += [Heading(2, "Interference: does the difference depend on the arm mix?")]
        blocks += [Text(line) for line in format_mix(mix)]
    title = f"flowlab sweep: {record['scenario']}"
    (out / "report.html").write_text(to_html(blocks, images, title), encoding="utf-8")
    print(format_differences(table, keys))
    for line in _notes(table, record):
        print(line)
    for line in format_mix(mix):
        print(line)
    print(f"report: {out / 'report.html'}  dataset: {out / 'results'}")
    return table


def mix_dependence(
    rows: pd.DataFrame, keys: list[str], regimes: list[str], seed: int
) -> pd.DataFrame:
    """The interference check (a sweep over ``stream.first_regime_share`` alone): per metric,
    how much the estimated ``b - a`` moves from the smallest share of the first arm to the
    largest, with a cluster bootstrap paired by replication (the points share their seeds). In a
    market the arms do not share, the difference would not depend on the mix; orders of both
    arms trade with the same dealers here, so it may."""
    if keys != [MIX_KEY] or len(regimes) < 2:
        return pd.DataFrame()
    ok = rows[rows["status"] == "ok"]
    shares = sorted(ok[MIX_KEY].dropna().unique())
    if len(shares) < 2:
        return pd.DataFrame()
    low, high = shares[0], shares[-1]
    a, b = regimes[0], regimes[1]
    out = []
    for metric in SWEEP_METRICS:
        mine = ok[ok["metric"] == metric]
        sides = []
        for share in (low, high):
            wide = mine[mine[MIX_KEY] == share].pivot_table(
                index="replication",
                columns="regime",
                values=["numerator", "denominator"],
                aggfunc="sum",
            )
            sides.append(wide)
        common = sides[0].dropna().index.intersection(sides[1].dropna().index)
        if len(common) < 2 or any(r not in w["numerator"] for w in sides for r in (a, b)):
            continue
        arrays = [
            tuple(
                w.loc[common][part][r]
                for part, r in (
                    ("numerator", a),
                    ("denominator", a),
                    ("numerator", b),
                    ("denominator", b),
                )
            )
            for w in sides
        ]
        scale = float(mine["scale"].iloc[0])
        result = cluster_difference_in_differences(
            arrays[0], arrays[1], scale=scale, n_boot=N_BOOT, seed=seed
        )
        out.append(
            {
                "metric": metric,
                "regime_a": a,
                "regime_b": b,
                "share_low": low,
                "share_high": high,
                "change": result.estimate,
                "ci_low": result.ci_low,
                "ci_high": result.ci_high,
                "p_value": result.p_value,
                "replications": len(common),
            }
        )
    table = pd.DataFrame(out)
    if not table.empty:
        table["p_holm"] = holm([None if pd.isna(p) else float(p) for p in table["p_value"]])
    return table


def format_mix(mix: pd.DataFrame) -> list[str]:
    """One line per metric: how far the difference moves with the mix, and the verdict."""
    if mix.empty:
        return []
    first = mix.iloc[0]
    lines = [
        f"interference check: ({first['regime_b']} - {first['regime_a']}) with "
        f"{first['share_high']:g} of orders in {first['regime_a']} minus with "
        f"{first['share_low']:g}; replications paired, Holm over {len(mix)} metrics"
    ]
    for row in mix.to_dict(orient="records"):
        verdict, why = assess(row["p_holm"], int(row["replications"]))
        said = (
            why
            if verdict is None
            else ("depends on the mix" if verdict else "no evidence that it depends on the mix")
        )
        lines.append(
            f"  {row['metric']}: {significant(row['change'])} "
            f"({_ci(row['ci_low'], row['ci_high'])}), p Holm {_p(row['p_holm'])}: {said}"
        )
    return lines


def format_differences(table: pd.DataFrame, keys: list[str]) -> str:
    """The differences as a fixed-width terminal table."""
    if table.empty:
        return "no point completed: nothing to compare"
    header = [
        "point",
        *keys,
        "metric",
        "diff",
        "95% CI (replications)",
        "95% CI (orders)",
        "p Holm",
    ]
    cells = [header]
    for row in table.to_dict(orient="records"):
        cells.append(
            [
                str(row["point"]),
                *(str(row[k]) for k in keys),
                f"{row['metric']} ({row['regime_b']}-{row['regime_a']})",
                significant(row["difference"]),
                _ci(row["ci_low"], row["ci_high"]),
                _ci(row["within_ci_low"], row["within_ci_high"]),
                _p(row["p_holm"]),
            ]
        )
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in cells
    )


def _p(value: Any) -> str:
    """``< 0.001`` or ``0.012`` (a table cell: the ``p`` is the column's name)."""
    return (
        format_p(None if value is None or pd.isna(value) else float(value))
        .removeprefix("p ")
        .removeprefix("= ")
    )


def _ci(low: Any, high: Any) -> str:
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return "n/a"
    return f"{significant(low)} to {significant(high)}"


def _notes(table: pd.DataFrame, record: dict[str, Any]) -> list[str]:
    lines = [
        "intervals: 95%, cluster bootstrap over replications (the unit of resampling; Student t "
        "on n-1 df); within-run: orders resampled within each replication",
        f"Holm adjustment over the {int(table['p_value'].notna().sum()) if len(table) else 0} "
        "tests above (points x metrics x regime pairs)",
    ]
    replications = int(record["replications"])
    if replications < MIN_REPLICATIONS:
        lines.append(
            f"significance not assessed: {replications} replications < {MIN_REPLICATIONS} "
            "(too few independent replications for a replication-level test)"
        )
    elif len(table):
        hits = table[table["significant"] == True]  # noqa: E712 (None = not assessed)
        lines.append(f"significant after Holm: {len(hits)} of {len(table)}")
    for failure in record["failures"]:
        lines.append(
            f"FAILED {failure['task']} after {failure['attempts']} attempts: {failure['reason']}"
        )
    return lines


def _blocks(
    table: pd.DataFrame, keys: list[str], record: dict[str, Any], images: dict[str, bytes]
) -> list[Block]:
    regimes = record["regimes"]
    blocks: list[Block] = [
        Heading(1, f"flowlab sweep: {record['scenario']}"),
        Text(
            f"Grid over {', '.join(f'`{k}`' for k in keys)}: {len(record['grid']['points'])} "
            f"points x {record['replications']} replications, regimes {', '.join(regimes)}, "
            f"design {record['design']}, {record['orders']} orders per replication; engine "
            f"{record['engine']} {record['engine_version']} ({record['cluster']}, "
            f"{len(record['workers'])} workers). Common random numbers: "
            f"{record['common_random_numbers']}."
        ),
        Text(
            "**Unit of resampling: the replication.** Each 95% interval is a cluster bootstrap "
            "that resamples replications (both regimes take the same draw), with Student's t on "
            "n - 1 degrees of freedom; the within-run interval beside it resamples orders within "
            "each replication and leaves out run-to-run variance. **Holm** adjusts the p-values "
            f"over all {int(table['p_value'].notna().sum()) if len(table) else 0} tests of this "
            f"report (points x metrics x regime pairs); nothing is called significant below "
            f"{MIN_REPLICATIONS} replications."
        ),
        *(Text(line) for line in _notes(table, record)[2:]),
    ]
    for metric in SWEEP_METRICS:
        rows = table[table["metric"] == metric].to_dict(orient="records") if len(table) else []
        blocks.append(Heading(2, metric))
        for name in sorted(n for n in images if n.startswith(metric + "__")):
            blocks.append(Image(name, name.replace("__", ": ").replace("_minus_", " - ")))
        blocks.append(Table(rows, _columns(keys)))
    return blocks


def _columns(keys: list[str]) -> list[tuple[str, str, Any]]:
    return [
        ("Point", "point", str),
        *((k, k, str) for k in keys),
        ("Pair", "regime_b", str),
        ("vs", "regime_a", str),
        ("Value a", "value_a", number(4)),
        ("Value b", "value_b", number(4)),
        ("Difference", "difference", significant),
        ("CI low (repl.)", "ci_low", significant),
        ("CI high (repl.)", "ci_high", significant),
        ("CI low (orders)", "within_ci_low", significant),
        ("CI high (orders)", "within_ci_high", significant),
        ("n", "replications", str),
        ("p", "p_value", _p),
        ("p Holm", "p_holm", _p),
        ("Verdict", "verdict", str),
    ]


def _figures(table: pd.DataFrame, keys: list[str], folder: Path) -> dict[str, bytes]:
    """Per metric and pair: a line plot (one key), a heatmap (two keys), or one heatmap panel
    per value of the third key (three keys); none for more keys."""
    if table.empty or len(keys) > 3:
        return {}
    folder.mkdir(parents=True, exist_ok=True)
    images = {}
    for group, part in table.groupby(["metric", "regime_a", "regime_b"], sort=False):
        metric, a, b = (str(g) for g in group)
        figure = (
            _line(part, keys[0], metric, a, b)
            if len(keys) == 1
            else _heatmaps(part, keys, metric, a, b)
        )
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=DPI)
        name = f"{metric}__{b}_minus_{a}"
        images[name] = buffer.getvalue()
        (folder / f"{name}.png").write_bytes(images[name])
    return images


def _line(part: pd.DataFrame, key: str, metric: str, a: str, b: str) -> Figure:
    figure = Figure(figsize=(7, 4), layout="constrained")
    ax = figure.add_subplot()
    x = np.arange(len(part))
    y = part["difference"].astype(float).to_numpy()
    low, high = (part[c].astype(float).to_numpy() for c in ("ci_low", "ci_high"))
    ax.errorbar(x, y, yerr=[y - low, high - y], fmt="o-", capsize=4, label="95% CI, replications")
    w_low, w_high = (part[c].astype(float).to_numpy() for c in ("within_ci_low", "within_ci_high"))
    if not np.isnan(w_low).all():
        ax.errorbar(
            x + 0.08,
            y,
            yerr=[y - w_low, w_high - y],
            fmt="none",
            capsize=2,
            alpha=0.5,
            label="95% CI, orders within runs",
        )
    for xi, yi, lo, hi in zip(x, y, low, high, strict=True):
        ax.annotate(
            f"[{lo:+.3g}, {hi:+.3g}]",
            (xi, yi),
            textcoords="offset points",
            xytext=(6, 6),
            fontsize=8,
        )
    ax.axhline(0, color="#888", lw=0.8)
    ax.set_xlim(-0.5, len(x) - 0.5)
    ax.set_xticks(x, [str(v) for v in part[key]])
    ax.set_xlabel(key)
    ax.set_ylabel(f"{b} - {a}")
    ax.set_title(f"{metric}: {b} - {a}")
    ax.legend(fontsize=8)
    return figure


def _heatmaps(part: pd.DataFrame, keys: list[str], metric: str, a: str, b: str) -> Figure:
    """Rows: the first key, columns: the second; one panel per value of a third key. One
    colour scale for every panel."""
    rows_key, cols_key = keys[:2]
    panels = (
        [(None, part)]
        if len(keys) == 2
        else [(value, part[part[keys[2]] == value]) for value in dict.fromkeys(part[keys[2]])]
    )
    row_values = list(dict.fromkeys(part[rows_key]))
    col_values = list(dict.fromkeys(part[cols_key]))
    diffs = part["difference"].astype(float).to_numpy()
    bound = float(np.nanmax(np.abs(diffs))) if not np.isnan(diffs).all() else 1.0
    figure = Figure(
        figsize=(len(panels) * (1.8 * len(col_values) + 1.5) + 1.0, 1.1 * len(row_values) + 1.8),
        layout="constrained",
    )
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    image = None
    for ax, (value, cells) in zip(axes, panels, strict=True):
        image = _heatmap_panel(ax, cells, rows_key, cols_key, row_values, col_values, bound)
        if value is not None:
            ax.set_title(f"{keys[2]} = {value}", fontsize=9)
    # two lines: one panel of two columns is narrower than the metric name and the note
    figure.suptitle(f"{metric}: {b} - {a}\n(95% CI over replications)", fontsize=10)
    if image is not None:
        figure.colorbar(image, ax=list(axes))
    return figure


def _heatmap_panel(
    ax: Any,
    cells: pd.DataFrame,
    rows_key: str,
    cols_key: str,
    row_values: list[Any],
    col_values: list[Any],
    bound: float,
) -> Any:
    grid = np.full((len(row_values), len(col_values)), np.nan)
    labels = [["" for _ in col_values] for _ in row_values]
    for rec in cells.to_dict(orient="records"):
        i, j = row_values.index(rec[rows_key]), col_values.index(rec[cols_key])
        diff = rec["difference"]
        grid[i, j] = np.nan if diff is None else diff
        labels[i][j] = f"{significant(diff)}\n{_ci(rec['ci_low'], rec['ci_high'])}"
    image = ax.imshow(grid, cmap="RdBu_r", vmin=-bound, vmax=bound, aspect="auto")
    for i, j in np.ndindex(grid.shape):
        dark = not np.isnan(grid[i, j]) and abs(grid[i, j]) > 0.6 * bound
        color = "white" if dark else "black"
        ax.text(j, i, labels[i][j], ha="center", va="center", fontsize=8, color=color)
    ax.set_xticks(range(len(col_values)), [str(v) for v in col_values])
    ax.set_yticks(range(len(row_values)), [str(v) for v in row_values])
    ax.set_xlabel(cols_key)
    ax.set_ylabel(rows_key)
    return image
