"""The report's figures (PNG via matplotlib's Agg canvas; no pyplot, no display needed).

Each function takes the run's tables and returns a ``Figure`` or ``None`` when the tables hold
nothing to draw; ``render_plots`` writes every figure as ``plots/<name>.png`` and returns the PNG
bytes by name for the self-contained HTML report.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from orchestration.metrics import NO_NBBO_BUCKET, SIZE_BUCKETS, fill_legs, order_table

DPI = 100
TITLES = {
    "price_improvement": "Price improvement per fill, by regime",
    "effective_spread_by_size": "Effective spread by order size",
    "time_to_execution_cdf": "Time to execution (CDF)",
    "revenue_vs_cost": "Broker revenue and retail cost per 100 shares",
    "latency_by_hop": "Latency by hop",
    "market_and_fills": "NBBO, latent value and retail fills",
    "markups": "Held markup per dealer and channel",
    "flow_shares": "PFOF flow share per wholesaler (broker's scorecard)",
}


def render_plots(
    tables: dict[str, pd.DataFrame], computed: dict[str, pd.DataFrame], out_dir: Path
) -> dict[str, bytes]:
    """Draw every figure that has data; write ``out_dir/plots/<name>.png``; PNG bytes by name."""
    regimes = [str(r) for r in computed["regime_summary"]["regime"]]
    makers: dict[str, Callable[[], Figure | None]] = {
        "price_improvement": lambda: price_improvement(tables, regimes),
        "effective_spread_by_size": lambda: effective_spread_by_size(computed["size_buckets"]),
        "time_to_execution_cdf": lambda: time_to_execution_cdf(tables, regimes),
        "revenue_vs_cost": lambda: revenue_vs_cost(computed.get("economics")),
        "latency_by_hop": lambda: latency_by_hop(tables),
        "market_and_fills": lambda: market_and_fills(tables),
        "markups": lambda: markups(tables),
        "flow_shares": lambda: flow_shares(tables),
    }
    folder = out_dir / "plots"
    folder.mkdir(parents=True, exist_ok=True)
    images = {}
    for name, make in makers.items():
        figure = make()
        if figure is None:
            continue
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=DPI)
        images[name] = buffer.getvalue()
        (folder / f"{name}.png").write_bytes(images[name])
    return images


def _color(regime: str, regimes: list[str]) -> str:
    """One colour per regime, the same in every figure (regimes in report order)."""
    index = regimes.index(regime) if regime in regimes else len(regimes)
    return f"C{index % 10}"


def _figure(title: str, width: float = 7.5, height: float = 4.0) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(width, height), layout="constrained")
    axes = figure.add_subplot()
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    return figure, axes


def legend_outside(axes: Axes, **options: object) -> None:
    """The legend to the right of the data area, never over it (constrained layout makes room)."""
    if axes.get_legend_handles_labels()[0]:
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, **options)  # type: ignore[arg-type]


def price_improvement(tables: dict[str, pd.DataFrame], regimes: list[str]) -> Figure | None:
    legs = fill_legs(tables["orders"], tables["fills"])
    legs = legs[legs["has_nbbo"]]
    if legs.empty:
        return None
    figure, axes = _figure(TITLES["price_improvement"])
    usd = legs["improvement_usd_per_share"]
    # the central 99% of shares sets the range; the tails are piled into the end bins
    low, high = np.percentile(usd, [0.5, 99.5])
    low, high = min(low, 0.0), max(high, 0.0)
    bins = np.linspace(low, high, 41) if high > low else np.linspace(low - 0.01, high + 0.01, 3)
    for regime in [r for r in regimes if r in set(legs["regime"])]:
        group = legs[legs["regime"] == regime]
        clipped = np.clip(group["improvement_usd_per_share"], low, high)
        axes.hist(
            clipped,
            bins=bins,  # type: ignore[arg-type]  # matplotlib takes an array of edges
            weights=group["filled_shares"],
            histtype="step",
            linewidth=1.6,
            label=regime,
            color=_color(regime, regimes),
        )
    axes.axvline(0, color="black", linewidth=0.8)
    axes.set_xlabel("price improvement vs the NBBO at receipt ($ per share)")
    axes.set_ylabel("shares")
    legend_outside(axes)
    return figure


def effective_spread_by_size(size_buckets: pd.DataFrame) -> Figure | None:
    table = size_buckets[size_buckets["size_bucket"] != NO_NBBO_BUCKET]
    table = table[table["effective_spread_bps"].notna()]
    if table.empty:
        return None
    figure, axes = _figure(TITLES["effective_spread_by_size"])
    regimes = list(dict.fromkeys(table["regime"]))
    width = 0.8 / len(regimes)
    for i, regime in enumerate(regimes):
        rows = table[table["regime"] == regime].set_index("size_bucket")
        values = [rows["effective_spread_bps"].get(b, np.nan) for b in SIZE_BUCKETS]
        axes.bar(
            np.arange(len(SIZE_BUCKETS)) + i * width,
            values,
            width,
            label=regime,
            color=_color(regime, regimes),
        )
    labels = [bucket.replace("$", r"\$") for bucket in SIZE_BUCKETS]  # not mathtext
    axes.set_xticks(np.arange(len(SIZE_BUCKETS)) + 0.4 - width / 2, labels)
    axes.set_xlabel("order notional at the midpoint")
    axes.set_ylabel("share-weighted effective spread (bps)")
    legend_outside(axes)
    return figure


def time_to_execution_cdf(tables: dict[str, pd.DataFrame], regimes: list[str]) -> Figure | None:
    per_order = order_table(tables["orders"], tables["fills"])
    per_order = per_order[per_order["time_to_execution_ms"].notna()]
    if per_order.empty:
        return None
    figure, axes = _figure(TITLES["time_to_execution_cdf"])
    for regime in [r for r in regimes if r in set(per_order["regime"])]:
        group = per_order[per_order["regime"] == regime]
        times = np.sort(np.maximum(group["time_to_execution_ms"].to_numpy(), 1e-3))
        shares = np.arange(1, len(times) + 1) / len(times)
        axes.step(times, shares, where="post", label=regime, color=_color(regime, regimes))
    axes.set_xscale("log")
    axes.set_xlabel("broker receipt to last execution (ms, log scale)")
    axes.set_ylabel("share of filled orders")
    legend_outside(axes)
    return figure


def revenue_vs_cost(economics: pd.DataFrame | None) -> Figure | None:
    if economics is None or economics.empty or "filled_shares" not in economics.columns:
        return None
    figure, axes = _figure(TITLES["revenue_vs_cost"])
    per_100 = 100 / economics["filled_shares"].where(economics["filled_shares"] > 0)
    series = {
        "broker revenue (PFOF + commissions - fees)": economics["broker_revenue_usd"] * per_100,
        "investor cost vs mid (incl. commissions)": economics["total_retail_cost_usd"] * per_100,
    }
    positions = np.arange(len(economics))
    for i, (label, values) in enumerate(series.items()):
        axes.bar(positions + i * 0.4, values, 0.4, label=label)
    axes.set_xticks(positions + 0.2, economics["regime"].tolist())
    axes.axhline(0, color="black", linewidth=0.8)
    axes.set_ylabel("$ per 100 shares filled")
    axes.legend(loc="upper left", bbox_to_anchor=(0.0, -0.12), ncol=2, fontsize=8)
    return figure


def latency_by_hop(tables: dict[str, pd.DataFrame]) -> Figure | None:
    latency = tables.get("latency")
    hops: dict[str, np.ndarray] = {}
    if latency is not None and not latency.empty:
        for hop, group in latency.groupby("hop", sort=False):
            hops[str(hop)] = group["ns"].to_numpy("float64") / 1e6
    orders, fills = tables["orders"], tables["fills"]
    if not fills.empty:
        recv = orders.set_index("order_id")["recv_ns"].reindex(fills["order_id"]).to_numpy("int64")
        elapsed = (fills["exec_ns"].to_numpy("int64") - recv) / 1e6
        for regime in dict.fromkeys(fills["regime"]):
            mask = fills["regime"].to_numpy() == regime
            hops[f"broker->execution\n({regime})"] = elapsed[mask]
    hops = {k: v for k, v in hops.items() if len(v)}
    if not hops:
        return None
    # One panel per hop, each on its own linear scale: a narrow distribution (the auction's
    # window, ~100 ms give or take a few) shows its spread instead of a flat line beside hops
    # of a few ms on a shared axis.
    figure = Figure(figsize=(max(7.5, 2.1 * len(hops)), 3.6), layout="constrained")
    figure.suptitle(TITLES["latency_by_hop"])
    for i, (hop, values) in enumerate(hops.items()):
        axes = figure.add_subplot(1, len(hops), i + 1)
        axes.grid(True, axis="y", alpha=0.3)
        axes.boxplot([values], tick_labels=[hop], showfliers=False, widths=0.5)
        axes.tick_params(axis="x", labelsize=8)
        axes.set_title(f"median {np.median(values):.1f} ms", fontsize=8)
        if i == 0:
            axes.set_ylabel("ms (box: quartiles, whiskers: 1.5 IQR)")
    return figure


def market_and_fills(tables: dict[str, pd.DataFrame], max_symbols: int = 3) -> Figure | None:
    nbbo, fills = tables.get("nbbo"), tables["fills"]
    if nbbo is None or nbbo.empty:
        return None
    if "run" in nbbo.columns:  # several runs: draw the first one
        first = nbbo["run"].iloc[0]
        nbbo = nbbo[nbbo["run"] == first]
        fills = fills[fills["run"] == first] if "run" in fills.columns else fills
    symbols = list(dict.fromkeys(nbbo["symbol"]))[:max_symbols]
    start = int(nbbo["ts_ns"].min())
    figure = Figure(figsize=(8.5, 2.6 * len(symbols)), layout="constrained")
    figure.suptitle(TITLES["market_and_fills"])
    values = tables.get("values")
    for i, symbol in enumerate(symbols):
        axes = figure.add_subplot(len(symbols), 1, i + 1)
        axes.grid(True, alpha=0.3)
        quotes = nbbo[nbbo["symbol"] == symbol]
        seconds = (quotes["ts_ns"].to_numpy("int64") - start) / 1e9
        for side, color in (("bid_px", "tab:green"), ("ask_px", "tab:red")):
            prices = quotes[side].astype("Float64").to_numpy("float64", na_value=np.nan) / 1e6
            axes.step(seconds, prices, where="post", color=color, linewidth=0.8, label=side[:3])
        if values is not None and not values.empty:
            value = values[values["symbol"] == symbol]
            elapsed = (value["ts_ns"].to_numpy("int64") - start) / 1e9
            axes.plot(
                elapsed,
                value["value"] / 1e6,
                color="black",
                linewidth=1.0,
                linestyle="--",
                label="latent value",
            )
        own = fills[fills["symbol"] == symbol] if "symbol" in fills.columns else fills.iloc[:0]
        for side, marker in (("buy", "^"), ("sell", "v")):
            picked = own[own["side"] == side]
            axes.scatter(
                (picked["exec_ns"].to_numpy("int64") - start) / 1e9,
                picked["price"] / 1e6,
                marker=marker,
                s=14,
                alpha=0.7,
                label=f"retail {side}",
            )
        axes.set_ylabel(f"{symbol} ($)")
        axes.set_xlim(left=0)
        if i == 0:
            handles, labels = axes.get_legend_handles_labels()
            figure.legend(handles, labels, loc="outside lower center", ncol=6, fontsize=8)
    figure.axes[-1].set_xlabel("seconds since the first NBBO")
    return figure


def _first_run(table: pd.DataFrame) -> pd.DataFrame:
    """Several runs pooled: the first one's rows (each run learns on its own clock)."""
    if "run" in table.columns and len(table):
        return table[table["run"] == table["run"].iloc[0]]
    return table


def markups(tables: dict[str, pd.DataFrame]) -> Figure | None:
    """Per channel, each dealer's held markup (line) and the markup it played (dots)."""
    table = tables.get("markups")
    if table is None or table.empty:
        return None
    table = _first_run(table).sort_values("ts_ns", kind="stable")
    start = int(table["ts_ns"].min())
    channels = list(dict.fromkeys(table["channel"]))
    dealers = sorted(dict.fromkeys(table["dealer"]))
    figure = Figure(figsize=(8.5, 2.8 * len(channels)), layout="constrained")
    figure.suptitle(TITLES["markups"])
    for i, channel in enumerate(channels):
        axes = figure.add_subplot(len(channels), 1, i + 1)
        axes.grid(True, alpha=0.3)
        rows = table[table["channel"] == channel]
        for k, dealer in enumerate(dealers):
            own = rows[rows["dealer"] == dealer]
            if own.empty:
                continue
            seconds = (own["ts_ns"].to_numpy("int64") - start) / 1e9
            color = _color(dealer, dealers)
            width = max(0.8, 3.0 - 0.5 * k)  # the first drawn widest: overlaps stay visible
            axes.step(
                seconds, own["held_share"], where="post", color=color, linewidth=width, label=dealer
            )
            axes.scatter(seconds, own["markup_share"], color=color, s=10, alpha=0.4)
        axes.set_ylabel(f"{channel}\nshare of half-spread")
        axes.set_xlim(left=0)
        legend_outside(axes, fontsize=7)
    figure.axes[-1].set_xlabel("seconds since the first settled period (dots: markup played)")
    return figure


def flow_shares(tables: dict[str, pd.DataFrame]) -> Figure | None:
    """The PFOF flow split after every review, stacked per wholesaler; x = demoted."""
    table = tables.get("scorecards")
    if table is None or table.empty or not (table["flow_share"] > 0).any():
        return None
    table = _first_run(table)
    shares = table.pivot_table(
        index="review", columns="wholesaler", values="flow_share", aggfunc="last"
    ).fillna(0.0)
    demoted = table.pivot_table(
        index="review", columns="wholesaler", values="demoted", aggfunc="last"
    ).reindex_like(shares)
    times = table.groupby("review")["ts_ns"].min().reindex(shares.index).to_numpy("int64")
    seconds = (times - times.min()) / 1e9
    names = [str(n) for n in shares.columns]
    figure, axes = _figure(TITLES["flow_shares"])
    axes.stackplot(
        seconds,
        *(shares[n].to_numpy("float64") for n in names),
        labels=names,
        colors=[_color(n, names) for n in names],
        step="post",
        alpha=0.8,
    )
    below = np.zeros(len(shares))
    for name in names:
        share = shares[name].to_numpy("float64")
        marked = demoted[name].fillna(False).astype(bool).to_numpy()
        axes.scatter(seconds[marked], (below + share / 2)[marked], color="black", marker="x", s=18)
        below += share
    axes.set_ylim(0, 1.0)
    axes.set_xlabel("seconds since the first review (x: demoted for the next period)")
    axes.set_ylabel("share of the next period's PFOF flow")
    legend_outside(axes, fontsize=8)
    return figure
