"""Best execution per SOR parent, from a run's tape; and ``flowlab sor``, which produces one.

One row per parent the SOR finished (its ``ParentCompleted`` event), with:

- ``vwap`` (fill prices only) and ``all_in_vwap`` (fees included), micro-dollars;
- ``arrival_mid`` (NBBO midpoint when the SOR received the parent) and implementation shortfall
  against it: ``shortfall_bps`` on the executed shares, ``total_shortfall_bps`` adding fees and the
  opportunity cost of unexecuted shares at the NBBO far touch (what taking them would cost) 100 ms
  after the parent ended, once the SIP shows what the parent left behind (after Perold);
- ``fill_rate``, ``time_to_completion_ms``, ``children``, ``waves``;
- ``vs_best_bps``: share-weighted fill price against the best price in the router's view when it
  sent that child (``OrderRouted.best_price``) -- what the reallocation cost;
- leakage: ``lit_shown_qty`` (shares sent to lit venues) and ``detection_prob`` =
  1 - exp(-lit_shown_qty / lit displayed size at the first decision), a stand-in for the SOR
  mini-project's detection model (an observer is likelier to notice the more of the lit book a
  parent takes);
- ``late_fill_qty``: executions reported by abandoned children after the parent ended;
- against the single-venue baselines of the same run and round (``direct:<venue>`` parents of the
  same side and size): ``best_baseline`` and ``vs_baseline_bps`` (total shortfall minus the best
  baseline's; negative = better).

``flowlab sor --rounds K`` runs every strategy and baseline K times in one lab, each round in its
own seeded random order (or, with a symbol per parent, on fresh symbols), so each
round is a block: ``bestex_rounds`` then gives per strategy the mean over rounds and a 95%
cluster-bootstrap interval (over rounds) of its within-round difference to the best baseline,
Holm-adjusted p-values, and no "significant" below 5 rounds.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from config.runconfig import RunConfig
from config.scenario import Scenario
from orchestration.bestex_report import write_bestex_html
from orchestration.inference import assess, cluster_mean, format_p, holm
from orchestration.launcher import LabSupervisor
from orchestration.streams import validate_rows, write_stream
from orchestration.tape import read_tape
from protocol.marketdata import NBBO
from protocol.money import format_price, round_div
from protocol.orders import OrderFilled, OrderRouted, ParentCompleted

# What ``run_sor`` calls after each injection: its parents' rows, the injector's account
# (``InjectionDone``) and the seconds it took.
BatchDone = Callable[[list[dict[str, Any]], Any, float], None]
SETTLE_NS = 100_000_000  # opportunity cost: the NBBO this long after the parent ended
STRATEGIES = ("greedy", "optimal", "min-impact", "fill-aware", "twap", "pov")
COLUMNS = [
    "order_id",
    "round",
    "strategy",
    "symbol",
    "side",
    "qty",
    "state",
    "filled_qty",
    "fill_rate",
    "vwap",
    "all_in_vwap",
    "arrival_mid",
    "shortfall_bps",
    "total_shortfall_bps",
    "time_to_completion_ms",
    "children",
    "waves",
    "vs_best_bps",
    "lit_shown_qty",
    "detection_prob",
    "late_fill_qty",
    "reason",
]


def bestex_table(entries: Iterable[tuple[str, int, Any]], config: RunConfig) -> pd.DataFrame:
    """One row per finished SOR parent (columns in the module docstring)."""
    sor = config.scenario.sor.name
    lit = {v.name for v in config.scenario.venues}
    completed: list[ParentCompleted] = []
    routes: dict[str, list[OrderRouted]] = defaultdict(list)
    fills: dict[str, list[OrderFilled]] = defaultdict(list)
    child_fills: dict[str, int] = defaultdict(int)
    quotes: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    for service, _recv_ns, msg in entries:
        match msg:
            case ParentCompleted() if service == sor:
                completed.append(msg)
            case OrderRouted() if service == sor:
                routes[msg.order_id].append(msg)
            case OrderFilled() if service == sor:
                fills[msg.order_id].append(msg)
            case OrderFilled() if service != sor and "/" in msg.order_id:
                child_fills[msg.order_id] += msg.fill_qty
            case NBBO() if msg.bid_px is not None and msg.ask_px is not None and not msg.crossed:
                quotes[msg.symbol].append((msg.ts_ns, msg.bid_px, msg.ask_px))
    rows = [
        _row(p, routes[p.order_id], fills[p.order_id], child_fills, quotes[p.symbol], lit)
        for p in completed
    ]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    baseline_last = frame["strategy"].str.startswith("direct:")
    frame = (
        frame.assign(_last=baseline_last).sort_values("_last", kind="stable").drop(columns="_last")
    )
    return add_baselines(frame.reset_index(drop=True))


def _row(
    parent: ParentCompleted,
    routes: list[OrderRouted],
    fills: list[OrderFilled],
    child_fills: dict[str, int],
    quotes: list[tuple[int, int, int]],
    lit: set[str],
) -> dict[str, Any]:
    sign = parent.side.sign
    mid = None
    if parent.arrival_bid is not None and parent.arrival_ask is not None:
        mid = (parent.arrival_bid + parent.arrival_ask) / 2
    filled = parent.cum_qty
    all_in = (parent.notional + sign * parent.fees) / filled if filled else None
    far = _far_touch_at(quotes, parent.done_ns + SETTLE_NS, sign)
    shortfall = total = None
    if mid:
        if filled:
            shortfall = sign * (parent.notional / filled - mid) / mid * 1e4
        unfilled = max(0, parent.qty - filled)
        cost = (
            sign * (parent.notional - filled * mid)
            + parent.fees
            + unfilled * sign * ((far or mid) - mid)
        )
        total = cost / (parent.qty * mid) * 1e4
    best = {r.child_id: r.best_price for r in routes if r.best_price is not None}
    slip = [
        (f.fill_qty, sign * (f.fill_price - best[f.correlation_id]) / best[f.correlation_id])
        for f in fills
        if f.correlation_id in best
    ]
    slip_qty = sum(q for q, _ in slip)
    first = next((r for r in routes if r.quotes), None)
    displayed = sum(q.qty for q in first.quotes if q.venue in lit) if first else 0
    children = {r.child_id for r in routes}
    executed = sum(child_fills.get(c, 0) for c in children)
    return {
        "order_id": parent.order_id,
        "round": round_of(parent.order_id),
        "strategy": parent.strategy,
        "symbol": parent.symbol,
        "side": str(parent.side),
        "qty": parent.qty,
        "state": parent.state,
        "filled_qty": filled,
        "fill_rate": filled / parent.qty,
        "vwap": parent.avg_price,
        "all_in_vwap": round(all_in) if all_in is not None else None,
        "arrival_mid": mid,
        "shortfall_bps": shortfall,
        "total_shortfall_bps": total,
        "time_to_completion_ms": (parent.done_ns - parent.recv_ns) / 1e6,
        "children": parent.children,
        "waves": parent.waves,
        "vs_best_bps": sum(q * s for q, s in slip) / slip_qty * 1e4 if slip_qty else None,
        "lit_shown_qty": parent.lit_shown_qty,
        "detection_prob": 1 - math.exp(-parent.lit_shown_qty / displayed) if displayed else None,
        "late_fill_qty": max(0, executed - filled),
        "reason": parent.reason,
    }


def _far_touch_at(quotes: list[tuple[int, int, int]], ts_ns: int, sign: int) -> int | None:
    """The NBBO far touch (ask for a buy, bid for a sell) at ``ts_ns``: what the shares a parent
    left would cost to take then."""
    last = None
    for stamp, bid, ask in quotes:
        if stamp > ts_ns:
            break
        last = ask if sign > 0 else bid
    return last


def round_of(order_id: str) -> int:
    """The round of a ``flowlab sor`` parent (``sor-r<round>-<i>``); 1 for any other parent."""
    head, _, rest = order_id.partition("-r")
    number = rest.partition("-")[0]
    return int(number) if head == "sor" and number.isdigit() else 1


def add_baselines(frame: pd.DataFrame) -> pd.DataFrame:
    """Each parent against the best single-venue (``direct:``) parent of the same round, side
    and size."""
    frame = frame.reset_index(drop=True)  # rows are addressed by position below
    frame["best_baseline"] = None
    frame["vs_baseline_bps"] = None
    direct = frame[frame["strategy"].str.startswith("direct:")]
    for index, row in frame.iterrows():
        peers = direct[
            (direct["side"] == row["side"])
            & (direct["qty"] == row["qty"])
            & (direct["round"] == row["round"])
        ]
        peers = peers[peers["total_shortfall_bps"].notna()]
        if peers.empty or row["total_shortfall_bps"] is None or pd.isna(row["total_shortfall_bps"]):
            continue
        best = peers.loc[peers["total_shortfall_bps"].idxmin()]
        frame.at[index, "best_baseline"] = best["strategy"]
        frame.at[index, "vs_baseline_bps"] = (
            row["total_shortfall_bps"] - best["total_shortfall_bps"]
        )
    return frame


def format_bestex(frame: pd.DataFrame) -> str:
    """The report as a Markdown table (prices in dollars, shortfalls in bps)."""
    head = (
        "| strategy | symbol | filled | fill rate | VWAP | all-in VWAP | IS bps | IS+opp bps "
        "| vs best baseline bps | vs best px bps | time ms | children/waves | lit shown | "
        "P(detect) | late |"
    )
    rounds = frame["round"].nunique() > 1
    if rounds:
        head = "| round " + head
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for row in frame.itertuples(index=False):
        cells = [
            *([row.round] if rounds else []),
            row.strategy,
            row.symbol,
            f"{row.filled_qty:,} / {row.qty:,}",
            f"{row.fill_rate:.1%}",
            _px(row.vwap),
            _px(row.all_in_vwap),
            _num(row.shortfall_bps),
            _num(row.total_shortfall_bps),
            _num(row.vs_baseline_bps),
            _num(row.vs_best_bps),
            f"{row.time_to_completion_ms:.1f}",
            f"{row.children}/{row.waves}",
            f"{row.lit_shown_qty:,}",
            _num(row.detection_prob),
            f"{row.late_fill_qty:,}",
        ]
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    return "\n".join(lines)


def _missing(value: Any) -> bool:
    return value is None or bool(pd.isna(value))


def _px(value: Any) -> str:
    if value is None or pd.isna(value):
        return "-"
    return format_price((round_div(int(value), 100) or 0) * 100, 4)  # to $0.0001, half-even


def _num(value: Any, places: int = 2) -> str:
    return "-" if value is None or pd.isna(value) else f"{value:.{places}f}"


ROUTE_COLUMNS = [
    "ts_ns",
    "order_id",
    "strategy",
    "wave",
    "child_id",
    "destination",
    "qty",
    "limit_price",
    "reason",
    "best_price",
    "quotes_seen",
    "filled_qty",
    "fill_vwap",
    "vs_best_bps",
]


def sor_routes_table(entries: Iterable[tuple[str, int, Any]], config: RunConfig) -> pd.DataFrame:
    """Every SOR decision (a child sent, canceled or timed out) with the quotes it was made on,
    and the child's fills against the best price available at that moment."""
    sor = config.scenario.sor.name
    routes: list[OrderRouted] = []
    fills: dict[str, list[tuple[int, int]]] = defaultdict(list)
    sides: dict[str, int] = {}
    for service, _recv_ns, msg in entries:
        if service == sor and isinstance(msg, OrderRouted):
            routes.append(msg)
        elif service == sor and isinstance(msg, OrderFilled) and msg.correlation_id:
            fills[msg.correlation_id].append((msg.fill_qty, msg.fill_price))
            sides[msg.correlation_id] = msg.side.sign
    rows = []
    sent: set[str] = set()
    for r in routes:
        # A child's fills go on the row that sent it; its cancel/timeout rows carry none.
        got = [] if r.child_id in sent else fills.get(r.child_id, [])
        sent.add(r.child_id)
        qty = sum(q for q, _ in got)
        vwap = sum(q * p for q, p in got) / qty if qty else None
        sign = sides.get(r.child_id, 1)
        vs_best = None
        if vwap is not None and r.best_price:
            vs_best = sign * (vwap - r.best_price) / r.best_price * 1e4
        quotes = " ".join(f"{q.venue}:{q.qty}@{q.price}" for q in r.quotes)
        rows.append(
            {
                "ts_ns": r.ts_ns,
                "order_id": r.order_id,
                "strategy": r.strategy,
                "wave": r.wave,
                "child_id": r.child_id,
                "destination": r.destination,
                "qty": r.qty,
                "limit_price": r.limit_price,
                "reason": r.reason,
                "best_price": r.best_price,
                "quotes_seen": quotes,
                "filled_qty": qty,
                "fill_vwap": vwap,
                "vs_best_bps": vs_best,
            }
        )
    frame = pd.DataFrame(rows, columns=ROUTE_COLUMNS)
    return frame.astype({"limit_price": "Int64", "best_price": "Int64"})


def write_bestex(run_dir: Path, config: RunConfig, out: Path) -> pd.DataFrame:
    """Write ``bestex.parquet``, ``bestex.md``, ``sor_routes.parquet`` and (with parents)
    ``bestex.html`` (``orchestration.bestex_report``) from the run's tape."""
    entries = list(read_tape(run_dir))
    frame = bestex_table(entries, config)
    out.mkdir(parents=True, exist_ok=True)
    routes = sor_routes_table(entries, config)
    routes.to_parquet(out / "sor_routes.parquet")
    frame.astype({"best_baseline": "string", "vs_baseline_bps": "Float64"}).to_parquet(
        out / "bestex.parquet"
    )
    text = f"# Best execution per SOR parent\n\nRun: `{run_dir}`\n\n{format_bestex(frame)}\n"
    if frame["round"].nunique() > 1:
        summary = bestex_rounds(frame, seed=config.scenario.seed)
        summary.to_parquet(out / "bestex_rounds.parquet")
        text += (
            f"\n## Across {frame['round'].nunique()} rounds\n\n"
            "Each strategy's total shortfall against the best single venue *of the same round*; "
            "95% interval: cluster bootstrap over rounds (the round is the unit of resampling), "
            "Student t on rounds - 1 df; p Holm-adjusted over the strategies; no significance "
            "below 5 rounds.\n\n"
            f"{format_rounds(summary)}\n"
        )
    (out / "bestex.md").write_text(text)
    if len(frame):
        write_bestex_html(
            out,
            frame,
            bestex_rounds(frame, seed=config.scenario.seed),
            routes,
            scenario=config.scenario.name,
            run_dir=run_dir,
            seed=config.scenario.seed,
        )
    return frame


# ---------------------------------------------------------------------- flowlab sor
def parent_rows(
    scenario: Scenario,
    names: list[str],
    *,
    qty: int,
    side: str,
    symbol: str | None,
    limit_offset_bps: float | None,
    rounds: int = 1,
    seed: int = 0,
) -> list[list[dict[str, object]]]:
    """The parents to inject, grouped into injections run one after another.

    With a symbol per parent available (and no ``symbol`` forced) every parent of a round gets
    its own symbol and the round runs at once; later rounds move on to fresh symbols while
    there are any (a seeded book is consumed by the parent that trades it), then wrap around;
    otherwise they run one at a time on ``symbol``, each round in its own seeded random order.
    ``side="alternate"`` buys in odd rounds and sells in even ones: in a live market, round
    after round of large buys would drain the market makers' inventory (at their limit they
    quote one side only).
    """
    if rounds < 1:
        raise ValueError(f"rounds: must be >= 1, got {rounds}")
    symbols = scenario.symbol_names
    parallel = symbol is None and len(symbols) >= len(names)
    batches: list[list[dict[str, object]]] = []
    for r in range(1, rounds + 1):
        order = list(range(len(names)))
        if not parallel and r > 1:
            order = [int(i) for i in np.random.default_rng([seed, r]).permutation(len(names))]
        rows: list[dict[str, object]] = [
            {
                "t_ns": 0,
                "order_id": f"sor-r{r}-{i + 1}",
                "symbol": (
                    symbols[((r - 1) * len(names) + i) % len(symbols)]
                    if parallel
                    else (symbol or symbols[0])
                ),
                "side": ("buy" if r % 2 else "sell") if side == "alternate" else side,
                "qty": qty,
                "order_type": "market" if limit_offset_bps is None else "limit",
                "limit_price": "",
                "limit_offset_bps": "" if limit_offset_bps is None else limit_offset_bps,
                "regime": "",
                "strategy": names[i],
            }
            for i in order
        ]
        batches.extend([rows] if parallel else [[row] for row in rows])
    return batches


def bestex_rounds(frame: pd.DataFrame, seed: int = 0, n_boot: int = 2000) -> pd.DataFrame:
    """Per strategy over rounds: means, and the within-round difference to the best baseline.

    ``vs_baseline_bps_mean`` is the mean over rounds of (total shortfall - the round's best
    single-venue total shortfall); its 95% interval is a cluster bootstrap over rounds
    (``orchestration.inference.cluster_mean``: rounds resampled whole, so each round's market
    state is kept; Student t on rounds - 1 df), with a t-test p. The p-values of the strategies
    are Holm-adjusted together (``p_holm``); ``significant`` is None (not assessed) below
    ``MIN_REPLICATIONS`` rounds, and ``significance`` says why. With fewer than two rounds, and
    for the baselines themselves, there is no interval.
    """
    rows = []
    for strategy, group in frame.groupby("strategy", sort=False):
        diffs = pd.to_numeric(group["vs_baseline_bps"], errors="coerce").dropna().to_numpy()
        result = None
        # A baseline is measured against the best baseline of its round, itself included: its
        # difference is >= 0 by construction, so it gets a mean but no test.
        if len(diffs) >= 2 and not str(strategy).startswith("direct:"):
            result = cluster_mean(diffs, n_boot=n_boot, seed=seed)
        total = pd.to_numeric(group["total_shortfall_bps"], errors="coerce")
        rows.append(
            {
                "strategy": strategy,
                "rounds": int(group["round"].nunique()),
                "fill_rate_mean": float(group["fill_rate"].mean()),
                "filled_qty_mean": float(group["filled_qty"].mean()),
                "total_shortfall_bps_mean": float(total.mean()) if total.notna().any() else None,
                "vs_baseline_bps_mean": float(diffs.mean()) if len(diffs) else None,
                "ci_low": result.ci_low if result else None,
                "ci_high": result.ci_high if result else None,
                "p_value": result.p_value if result else None,
                "tested_rounds": len(diffs) if result else 0,
            }
        )
    summary = pd.DataFrame(rows)
    if summary.empty:
        return summary
    summary["p_holm"] = holm([None if pd.isna(p) else float(p) for p in summary["p_value"]])
    verdicts = [
        assess(p, int(n), unit="rounds") if n else (None, "no test")
        for p, n in zip(summary["p_holm"], summary["tested_rounds"], strict=True)
    ]
    summary["significant"] = pd.Series([v for v, _ in verdicts], dtype="object")
    summary["significance"] = [note for _, note in verdicts]
    return summary


def format_rounds(summary: pd.DataFrame) -> str:
    """``bestex_rounds`` as a Markdown table."""
    head = (
        "| strategy | rounds | mean fill rate | mean IS+opp bps | vs best baseline bps (mean) "
        "| 95% CI | p Holm | significant |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for row in summary.itertuples(index=False):
        ci = "-" if _missing(row.ci_low) else f"{row.ci_low:+.2f} to {row.ci_high:+.2f}"
        p = "-" if _missing(row.p_holm) else format_p(float(row.p_holm)).removeprefix("p ")  # type: ignore[arg-type]
        cells = [
            row.strategy,
            row.rounds,
            f"{row.fill_rate_mean:.1%}",
            _num(row.total_shortfall_bps_mean),
            _num(row.vs_baseline_bps_mean),
            ci,
            p,
            "-" if row.significance == "no test" else row.significance,
        ]
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    return "\n".join(lines)


async def run_sor(
    scenario: Scenario,
    names: list[str],
    *,
    qty: int,
    side: str,
    symbol: str | None,
    limit_offset_bps: float | None,
    runs: Path,
    out: Path | None,
    timeout_s: float,
    gap_s: float,
    rounds: int = 1,
    on_batch: BatchDone | None = None,
) -> tuple[Path, pd.DataFrame, dict[str, int | None]]:
    """Start the lab, send each parent to the SOR, stop, and write the best-execution report.

    ``rounds``: every strategy and baseline that many times (see ``parent_rows``);
    ``on_batch``: called after each injection with its parents and how long it took (else a
    line is printed)."""
    batches = parent_rows(
        scenario,
        names,
        qty=qty,
        side=side,
        symbol=symbol,
        limit_offset_bps=limit_offset_bps,
        rounds=rounds,
        seed=scenario.seed,
    )
    for batch in batches:
        validate_rows(batch, scenario)
    lab = LabSupervisor(scenario, runs_root=runs)
    try:
        await lab.start()
        await _send_parents(lab, batches, timeout_s=timeout_s, gap_s=gap_s, on_batch=on_batch)
    finally:
        exit_codes = await lab.stop()
    frame = write_bestex(lab.run_dir, lab.config, out or lab.run_dir)
    return lab.run_dir, frame, exit_codes


async def _send_parents(
    lab: LabSupervisor,
    batches: list[list[dict[str, Any]]],
    *,
    timeout_s: float,
    gap_s: float,
    on_batch: BatchDone | None = None,
) -> None:
    """Inject each batch of parents straight to the SOR, one after another, ``gap_s`` apart."""
    for index, batch in enumerate(batches):
        if index:
            await asyncio.sleep(gap_s)  # let the market recover between sequential parents
        stream = write_stream(batch, lab.run_dir / f"parents-{index + 1}.csv")
        started = time.monotonic()
        done = await lab.inject(
            stream, target=lab.scenario.sor.name, name=f"injector-{index + 1}", timeout_s=timeout_s
        )
        elapsed = time.monotonic() - started
        if on_batch is not None:
            on_batch(batch, done, elapsed)
            continue
        names_sent = ", ".join(f"{r['strategy']} ({r['order_id']})" for r in batch)
        print(f"  {names_sent}: terminal {done.terminal}/{done.sent} in {elapsed:.1f}s", flush=True)
