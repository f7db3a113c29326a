"""``flowlab bench --load``: the full lab at a sweep of retail order rates (issue 15).

Each rate runs one fresh lab of the scenario (pfof and auction regimes, the random design),
injects a generated stream of ``orders`` at that Poisson rate, lets it close and stops, and
measures from the tape and from every process's last counters (``RUN_DIR/counters.json``):

- achieved throughput: orders the injector sent per second of sending, and orders the broker
  received per second (the lab keeping up or not);
- per regime: orders terminal, fill rate, time to execution p50 / p99 (``orchestration.metrics``);
- the run's state (``complete``, ``overloaded``, ``aborted``...: ``orchestration.faults``);
- the longest delay queue (service and peak messages) and the longest lag;
- peak resident memory per process and in total, CPU seconds per process;
- what an order costs: every process's CPU time from the injection's start to the stop per
  order sent ("all"), and the same less what each process spends with the lab up and idle
  (``IDLE_S`` measured before each injection: the background market), "net";
- how long the lab took to be ready.

``assess`` then checks each rate against the targets of issue 15, taken relative to the
lowest rate of the same sweep (machines are noisy: a ratio within one run): every order
terminal, a clean run, fill rates within one point of the lowest rate's, pfof TTE p99 at most
3x the lowest rate's, auction TTE p99 at most 1.5x the auction window, all processes under
1 GiB of memory in total (the sum of their peak proportional set sizes, which count each
shared page once; the sum of peak RSS, which counts the shared libraries in every process, is
reported beside it). The highest rate that met them all is the sweep's answer.
"""

from __future__ import annotations

import asyncio
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from config.scenario import Scenario, SecurityMode
from orchestration.experiment import plan_runs, plan_streams, run_scenario
from orchestration.faults import add_unended, injection_account, load_counters, run_state
from orchestration.launcher import LabError, LabSupervisor, cpu_ms
from orchestration.stream_options import StreamOptions
from orchestration.streams import write_stream

T = TypeVar("T")

FULL_RATES = (500, 1_000, 2_000, 4_000, 8_000, 16_000)
QUICK_RATES = (100, 300)
FULL_ORDERS = 20_000
QUICK_ORDERS = 300
REGIMES = ("pfof", "auction")

# Targets (issue 15, "Targets"), relative to the lowest rate of the same sweep
FILL_POINTS = 0.01  # fill rate within one point of the lowest rate's
PFOF_P99_RATIO = 3.0  # pfof TTE p99 at most 3x the lowest rate's
AUCTION_P99_WINDOWS = 1.5  # auction TTE p99 at most 1.5x the auction window
MEMORY_TOTAL_MIB = 1_024.0  # every process of the lab together (proportional set sizes)
READY_S = 2.0  # the lab ready (not a pass/fail of a rate: reported beside it)
IDLE_S = 2.0  # the lab up with no retail flow before each injection: the background's CPU


class RegimeLoad(msgspec.Struct, frozen=True, kw_only=True):
    orders: int
    terminal: int
    fill_rate: float | None
    tte_p50_ms: float | None
    tte_p99_ms: float | None


class ServiceLoad(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    role: str
    rss_peak_mib: float | None  # the kernel's peak resident set (shared pages in each process)
    pss_peak_mib: float | None  # peak proportional set as sampled (shared pages split)
    cpu_s: float | None  # CPU time over the whole run, start-up included
    cpu_inject_s: float | None  # CPU time from the injection's start to the stop
    idle_cpu_per_s: float | None = None  # CPU seconds per second with the lab up, no flow
    injecting_s: float = 0.0  # seconds from the injection's start to the stop

    @property
    def order_cpu_s(self) -> float | None:
        """CPU time the orders cost it: the injection's less what it would have spent idle."""
        if self.cpu_inject_s is None:
            return None
        return self.cpu_inject_s - (self.idle_cpu_per_s or 0.0) * self.injecting_s

    queued_peak: int
    lag_peak_ms: int
    messages_in: int = 0  # messages its readers took in over the run (counters ``*.in``)


class LoadPoint(msgspec.Struct, frozen=True, kw_only=True):
    rate_per_s: int
    orders: int
    accepted: int  # orders the broker took (on the tape); the rest it refused busy
    terminal: int
    sent_per_s: float | None  # the injector's sends per second of sending
    received_per_s: float | None  # the broker's receipts per second between first and last
    state: str
    detail: str
    ready_s: float
    regimes: dict[str, RegimeLoad]
    services: list[ServiceLoad]
    rss_total_mib: float | None  # sum of peak RSS: counts shared libraries once per process
    pss_total_mib: float | None  # sum of peak PSS: the memory the lab used (the target)
    # every process's CPU time from the injection's start to the stop, per order accepted: what
    # one order costs the lab (background market included); 2 cores carry 2,000 ms a second
    cpu_ms_per_order: float | None = None
    # the same less each process's idle rate over the injection: what the orders themselves
    # cost, and the background market's cost with no flow (cores busy)
    order_cpu_ms_per_order: float | None = None
    # messages every process's readers took in, per order accepted (start-up and the
    # idle seconds included): how much machinery one retail order sets in motion
    messages_per_order: float | None = None
    idle_cores: float | None = None
    met: bool = False
    misses: list[str] = []


class LoadResult(msgspec.Struct, frozen=True, kw_only=True):
    date: str
    scenario: str
    security: str
    cpus: int | None
    python: str
    window_ms: int
    orders_per_rate: int
    points: list[LoadPoint]
    highest_met_rate: int | None
    seconds: float


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def load_scenario_for(scenario: Scenario, security: SecurityMode) -> Scenario:
    """The scenario each rate runs: its own, with the pfof and auction regimes only (the ones
    the issue's table measures) and the chosen security mode."""
    regimes = [r for r in REGIMES if r in scenario.broker.regimes] or list(REGIMES)
    return msgspec.structs.replace(
        scenario,
        broker=msgspec.structs.replace(scenario.broker, regimes=regimes),
        security=msgspec.structs.replace(scenario.security, mode=security),
    )


async def measure_rate(scenario: Scenario, rate: int, orders: int, root: Path) -> LoadPoint:
    """One fresh lab at ``rate`` orders/s for ``orders`` orders; never raises for a lab that
    broke or fell behind (that is a figure: its state says so)."""
    from orchestration.metrics import regime_table
    from orchestration.tape import build_tables

    regimes = list(scenario.broker.regimes)
    plan = plan_runs(scenario, regimes, "random", 1)[0]
    options = StreamOptions(orders=orders, rate_per_s=float(rate))
    rows = plan_streams(scenario, [plan], options)[plan.label]
    lab = LabSupervisor(run_scenario(scenario, plan), runs_root=root)
    stream = write_stream(rows, lab.run_dir / "stream.csv")
    started = time.monotonic()
    ready_s = float("nan")
    detail = ""
    idle: dict[str, float] = {}  # CPU ms per second of each process, the lab up but idle
    injecting_s = injected = 0.0
    try:
        await lab.start()
        ready_s = time.monotonic() - started
        idle = await idle_cpu(lab, IDLE_S)
        injected = time.monotonic()
        done = await lab.inject(stream, timeout_s=scenario.stream.terminal_timeout_s)
        if done.timed_out:  # accepted orders that never ended: the run is incomplete
            add_unended(lab.run_dir, injection_account(done))
    except LabError as exc:  # a fault (LabAborted) or a lab that could not start: a figure
        detail = str(exc).splitlines()[0]
    finally:
        if injected:  # the injection ran until now
            injecting_s = time.monotonic() - injected
        await lab.stop()
    try:
        tables = build_tables(lab.run_dir, lab.config)
    except FileNotFoundError:  # the lab never started: no tape
        return _unmeasured(rate, len(rows), ready_s, detail or "no tape")
    placed = tables["orders"]
    state = run_state([(None, lab.run_dir)], placed, tables)
    if not detail and state["state"] != "complete":
        detail = "; ".join(
            [str(f.get("detail", f.get("kind", ""))) for f in state.get("faults", [])]
            + [f"{o['name']} {o['detail']}" for o in state.get("overloads", [])]
        )
    per_regime = {}
    if len(placed):
        summary = regime_table(placed, tables["fills"], tables.get("nbbo"))
        for row in summary.to_dict("records"):
            per_regime[str(row["regime"])] = RegimeLoad(
                orders=int(row["orders"]),
                terminal=int(row["terminal_orders"]),
                fill_rate=_num(row.get("fill_rate")),
                tte_p50_ms=_num(row.get("time_to_execution_ms_p50")),
                tte_p99_ms=_num(row.get("time_to_execution_ms_p99")),
            )
    services = _services(load_counters(lab.run_dir), idle, injecting_s)
    rss = [s.rss_peak_mib for s in services if s.rss_peak_mib is not None]
    pss = [s.pss_peak_mib for s in services if s.pss_peak_mib is not None]
    return LoadPoint(
        rate_per_s=rate,
        orders=len(rows),
        accepted=len(placed),
        terminal=sum(r.terminal for r in per_regime.values()),
        sent_per_s=_per_second(placed["created_ns"]) if len(placed) else None,
        received_per_s=_per_second(placed["recv_ns"]) if len(placed) else None,
        state=str(state["state"]),
        detail=detail,
        ready_s=ready_s,
        regimes=per_regime,
        services=services,
        rss_total_mib=sum(rss) if rss else None,
        pss_total_mib=sum(pss) if pss else None,
        cpu_ms_per_order=_cpu_per_order(services, len(placed)),
        order_cpu_ms_per_order=_order_cpu_per_order(services, len(placed)),
        messages_per_order=sum(s.messages_in for s in services) / len(placed)
        if len(placed)
        else None,
        idle_cores=sum(idle.values()) / 1000 if idle else None,
    )


def _unmeasured(rate: int, orders: int, ready_s: float, detail: str) -> LoadPoint:
    return LoadPoint(
        rate_per_s=rate,
        orders=orders,
        accepted=0,
        terminal=0,
        sent_per_s=None,
        received_per_s=None,
        state="not measured",
        detail=detail,
        ready_s=ready_s,
        regimes={},
        services=[],
        rss_total_mib=None,
        pss_total_mib=None,
    )


def _cpu_per_order(services: list[ServiceLoad], orders: int) -> float | None:
    spent = [s.cpu_inject_s for s in services if s.cpu_inject_s is not None]
    return 1_000 * sum(spent) / orders if spent and orders else None


def _order_cpu_per_order(services: list[ServiceLoad], orders: int) -> float | None:
    spent = [s.order_cpu_s for s in services if s.order_cpu_s is not None]
    return 1_000 * sum(spent) / orders if spent and orders else None


def _num(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return None if out != out else out  # NaN: no such figure (e.g. nothing filled)


def _per_second(ns: Any) -> float | None:
    """Events per second between the first and the last of the stamps ``ns``."""
    stamps = [int(t) for t in ns if t == t and t is not None]
    if len(stamps) < 2 or max(stamps) == min(stamps):
        return None
    return (len(stamps) - 1) / ((max(stamps) - min(stamps)) / 1e9)


async def idle_cpu(lab: LabSupervisor, seconds: float) -> dict[str, float]:
    """Each process's CPU ms per second over ``seconds`` of the lab up with no retail flow
    (the background market: market makers, noise traders, the value feed, heartbeats)."""
    before = {n: cpu_ms(p) for n, p in lab.procs.items()}
    t0 = time.monotonic()
    await lab.guard(asyncio.sleep(seconds))  # a measured duration, not a handshake
    elapsed = time.monotonic() - t0
    after = {n: cpu_ms(p) for n, p in lab.procs.items()}
    rates = {}
    for n, b in before.items():
        a = after.get(n)
        if b is not None and a is not None:
            rates[n] = (a - b) / elapsed
    return rates


def _services(
    record: dict[str, Any], idle: dict[str, float] | None = None, injecting_s: float = 0.0
) -> list[ServiceLoad]:
    idle = idle or {}
    out = []
    for name, entry in sorted(record.items()):
        c = entry.get("counters", {})
        out.append(
            ServiceLoad(
                name=name,
                role=str(entry.get("role", "")),
                rss_peak_mib=c["rss.peak_kb"] / 1024 if "rss.peak_kb" in c else None,
                pss_peak_mib=c["pss.peak_kb"] / 1024 if "pss.peak_kb" in c else None,
                cpu_s=c["cpu.ms"] / 1000 if "cpu.ms" in c else None,
                cpu_inject_s=(c["cpu.ms"] - (entry.get("cpu_ms_at_inject") or 0)) / 1000
                if "cpu.ms" in c
                else None,
                idle_cpu_per_s=idle[name] / 1000 if name in idle else None,
                injecting_s=injecting_s,
                queued_peak=max(c.get("queue.peak", 0), c.get("busy.queued_peak", 0)),
                messages_in=sum(v for k, v in c.items() if k.endswith(".in")),
                lag_peak_ms=c.get("busy.lag_peak_us", 0) // 1_000,
            )
        )
    return out


def assess(points: list[LoadPoint], window_ms: int) -> list[LoadPoint]:
    """Each point with ``met`` and the targets it missed, against the lowest rate's figures
    (the reference is held to the absolute targets only)."""
    ordered = sorted(points, key=lambda p: p.rate_per_s)
    return [
        msgspec.structs.replace(p, met=not misses, misses=misses)
        for p in ordered
        for misses in [misses_of(p, ordered[0], window_ms)]
    ]


def misses_of(p: LoadPoint, base: LoadPoint, window_ms: int) -> list[str]:
    """The targets ``p`` missed, ``base`` the sweep's lowest rate."""
    misses = []
    if p.accepted < p.orders:
        misses.append(f"{p.orders - p.accepted:,} of {p.orders:,} orders refused (busy)")
    if p.terminal < p.accepted:
        misses.append(f"{p.accepted - p.terminal:,} accepted orders never ended")
    if p.state != "complete":
        misses.append(f"run {p.state}")
    for regime, r in p.regimes.items():
        ref = base.regimes.get(regime)
        ref_fill = None if ref is None else ref.fill_rate
        if (
            r.fill_rate is not None
            and ref_fill is not None
            and r.fill_rate < ref_fill - FILL_POINTS
        ):
            misses.append(f"{regime} fill {r.fill_rate:.1%} < {ref_fill:.1%} - 1 point")
    p99 = _p99(p, "pfof")
    ref_p99 = _p99(base, "pfof")
    if p99 is not None and ref_p99 and p99 > PFOF_P99_RATIO * ref_p99:
        misses.append(f"pfof TTE p99 {p99:,.1f} ms > {PFOF_P99_RATIO:g}x {ref_p99:,.1f} ms")
    p99 = _p99(p, "auction")
    if p99 is not None and p99 > AUCTION_P99_WINDOWS * window_ms:
        misses.append(
            f"auction TTE p99 {p99:,.1f} ms > {AUCTION_P99_WINDOWS:g}x the {window_ms} ms window"
        )
    if p.pss_total_mib is not None and p.pss_total_mib > MEMORY_TOTAL_MIB:
        misses.append(f"memory (PSS) {p.pss_total_mib:,.0f} MiB > {MEMORY_TOTAL_MIB:,.0f} MiB")
    return misses


def _p99(p: LoadPoint, regime: str) -> float | None:
    r = p.regimes.get(regime)
    return None if r is None else r.tte_p99_ms


def highest_met(points: list[LoadPoint]) -> int | None:
    """The highest rate at which the targets were met, every lower rate meeting them too."""
    best = None
    for p in sorted(points, key=lambda p: p.rate_per_s):
        if not p.met:
            break
        best = p.rate_per_s
    return best


async def run_load(
    scenario: Scenario,
    rates: list[int],
    orders: int,
    *,
    root: Path,
) -> LoadResult:
    started = time.perf_counter()
    points = []
    for rate in sorted(set(rates)):
        _say(f"load: {orders:,} orders at {rate:,}/s...")
        point = await measure_rate(scenario, rate, orders, root)
        _say(f"load: {rate:,}/s done: {point.state}, {point.terminal:,}/{point.orders:,} terminal")
        points.append(point)
    assessed = assess(points, scenario.auction.window_ms)
    return LoadResult(
        date=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        scenario=scenario.name,
        security=scenario.security.mode.value,
        cpus=os.cpu_count(),
        python=platform.python_version(),
        window_ms=scenario.auction.window_ms,
        orders_per_rate=orders,
        points=assessed,
        highest_met_rate=highest_met(assessed),
        seconds=time.perf_counter() - started,
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _fig(regime: RegimeLoad | None, name: str) -> float | None:
    return None if regime is None else getattr(regime, name)


def _ms2(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def format_load(result: LoadResult) -> str:
    """The sweep as a plain table, then each rate's missed targets."""
    head = (
        "rate/s",
        "sent/s",
        "recv/s",
        "ended/accepted/orders",
        "state",
        "pfof p50/p99 ms",
        "auction p50/p99 ms",
        "fill % pfof/auction",
        "longest queue",
        "peak MiB: max RSS; PSS total",
        "CPU ms/order: all / net",
        "ready s",
        "met",
    )
    rows = [head]
    for p in result.points:
        pfof = p.regimes.get("pfof")
        auction = p.regimes.get("auction")
        longest = max(p.services, key=lambda s: s.queued_peak, default=None)
        biggest = max(
            (s for s in p.services if s.rss_peak_mib is not None),
            key=lambda s: s.rss_peak_mib or 0.0,
            default=None,
        )
        total = "-" if p.pss_total_mib is None else f"{p.pss_total_mib:,.0f}"
        rows.append(
            (
                f"{p.rate_per_s:,}",
                "-" if p.sent_per_s is None else f"{p.sent_per_s:,.0f}",
                "-" if p.received_per_s is None else f"{p.received_per_s:,.0f}",
                f"{p.terminal:,}/{p.accepted:,}/{p.orders:,}",
                p.state,
                f"{_ms(_fig(pfof, 'tte_p50_ms'))} / {_ms(_fig(pfof, 'tte_p99_ms'))}",
                f"{_ms(_fig(auction, 'tte_p50_ms'))} / {_ms(_fig(auction, 'tte_p99_ms'))}",
                f"{_pct(_fig(pfof, 'fill_rate'))} / {_pct(_fig(auction, 'fill_rate'))}",
                "-" if longest is None else f"{longest.name} {longest.queued_peak:,}",
                "-" if biggest is None else f"{biggest.name} {biggest.rss_peak_mib:,.0f}; {total}",
                f"{_ms2(p.cpu_ms_per_order)} / {_ms2(p.order_cpu_ms_per_order)}",
                f"{p.ready_s:.1f}",
                "yes" if p.met else "no",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for p in result.points:
        busiest = sorted(
            (s for s in p.services if s.order_cpu_s), key=lambda s: -(s.order_cpu_s or 0)
        )[:5]
        if busiest and p.accepted:
            shares = ", ".join(
                f"{s.name} {1_000 * (s.order_cpu_s or 0) / p.accepted:.2f}" for s in busiest
            )
            idle = "" if p.idle_cores is None else f"; idle lab {p.idle_cores:.2f} cores"
            if p.messages_per_order is not None:
                idle += f"; {p.messages_per_order:.0f} messages received per order"
            lines.append(f"{p.rate_per_s:,}/s net CPU ms per order, busiest: {shares}{idle}")
        if p.misses:
            lines.append(f"{p.rate_per_s:,}/s missed: " + "; ".join(p.misses))
        if p.detail:
            lines.append(f"{p.rate_per_s:,}/s: {p.detail}")
        if p.ready_s > READY_S:
            lines.append(f"{p.rate_per_s:,}/s: lab ready in {p.ready_s:.1f} s (aim < {READY_S:g})")
    best = result.highest_met_rate
    lines.append(
        "highest rate that met the targets: "
        + ("none" if best is None else f"{best:,} orders/s")
        + f" (reference: {result.points[0].rate_per_s:,}/s)"
        if result.points
        else "no rate measured"
    )
    return "\n".join(lines)


def in_runs_root(
    keep_runs: Path | None, prefix: str, labs: Callable[[Path], Coroutine[Any, Any, T]]
) -> T:
    """Run ``labs(root)``: run dirs under ``keep_runs`` if given, else in a temporary directory
    removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        root = keep_runs if keep_runs is not None else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        return asyncio.run(labs(root))


def write_figures(result: msgspec.Struct, out: Path | None, name: str) -> Path:
    """``result`` as indented JSON in ``out`` (default: the working directory) / ``name``."""
    path = (out if out is not None else Path.cwd()) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(msgspec.json.format(msgspec.json.encode(result)).decode() + "\n")
    return path


def run_load_bench(
    scenario: Scenario,
    *,
    quick: bool,
    rates: list[int] | None,
    orders: int | None,
    out: Path | None,
    security: SecurityMode,
    keep_runs: Path | None = None,
) -> int:
    """``flowlab bench --load``: run the sweep, print it, write ``load.json``; exit 0 when
    every rate ran (met or not: a figure), 1 when no lab could be measured."""
    scenario = load_scenario_for(scenario, security)
    chosen = list(rates or (QUICK_RATES if quick else FULL_RATES))
    n = orders or (QUICK_ORDERS if quick else FULL_ORDERS)
    result = in_runs_root(
        keep_runs, "flowlab-load-", lambda root: run_load(scenario, chosen, n, root=root)
    )
    print(
        f"flowlab bench --load: scenario {result.scenario!r}, {n:,} orders per rate, "
        f"[security] mode = {result.security}, {result.cpus} CPUs"
    )
    print(format_load(result))
    path = write_figures(result, out, "load.json")
    print(f"load bench took {result.seconds:.1f} s; figures in {path}")
    return 0 if any(p.accepted for p in result.points) else 1
