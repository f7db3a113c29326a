"""Watching a run: a rich terminal dashboard, or plain progress lines.

Where the numbers come from (all read by the orchestrator process, nothing added to services):
- progress and per-process health: the heartbeats every service sends the orchestrator twice a
  second (``LabSupervisor(on_heartbeat=...)``): state, heartbeat age, message counters
  (``*.in``, the recorder's ``tape.entries``) from which rates are derived, and the queue depth
  (``queue.depth``); one line while all is well, the processes that are not listed below it;
- running per-regime metrics: the run's tape (``tape.msgpack``), followed as the recorder
  appends to it (it flushes every 0.25 s): the broker's ``OrderReceived`` (NBBO at receipt) and
  client fills give the same Rule 605 quantities as the report, live, and each regime's
  running difference from the first with a 95% interval (``running_differences``);
- the NBBO per symbol: a SUB socket on the SIP's ``md`` PUB endpoint from the run config,
  decoded with ``Decoder([NBBO])``.

``Dashboard`` redraws at 4 Hz (``REFRESH_S``), fitted to the console: 80x24 holds it with no
cell cut (tables leave out their least important columns instead), a wide console shows the
market beside the metrics. ``PlainMonitor`` prints at most one line a second.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.measure import Measurement
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from orchestration.live_sources import (
    Health,
    NbboWatcher,
    RegimeTally,
    RunningMetrics,
    TapeFollower,
    fmt_or_dash,
    running_differences,
)
from orchestration.run_plan import RunPlan

__all__ = [
    "HEADINGS",
    "Dashboard",
    "PlainMonitor",
    "RunningMetrics",
    "TapeFollower",
    "make_monitor",
    "watch",
]

REFRESH_S = 0.25
HEADINGS = ("Running metrics by regime", "NBBO by symbol", "Process health")
DIFFERENCE_HEADING = "Difference"
METRIC_COLUMNS = (
    "regime",
    "orders",
    "terminal",
    "fill rate",
    "PI $/sh",
    "eff bps",
    "TTE p50 ms",
    "PFOF $",
    "cost vs mid $",
)
# What a narrow terminal gives up first: counts the progress bar already shows, then money.
METRIC_DROP_ORDER = ("terminal", "PFOF $", "cost vs mid $", "TTE p50 ms")
NBBO_DROP_ORDER = ("seq", "bid size", "ask size")
DIFFERENCE_COLUMNS = (
    ("price_improvement_usd_per_share", "PI $/sh"),
    ("effective_spread_bps", "eff spread bps"),
)
SIDE_GAP = 3  # columns between the two sides of a wide layout
LATE_HEARTBEAT_MS = 2_000.0  # four missed heartbeats (every 0.5 s)
_TAPE = "tape.msgpack"


class _Watch:
    """What every monitor tracks: runs, progress over the whole experiment, health."""

    def __init__(self, total: int, title: str) -> None:
        self.total, self.title = total, title
        self.done_before = 0  # orders of finished runs
        self.lab: Any = None
        self.plan: RunPlan | None = None
        self.orders_in_run = 0
        self.run_done = False
        self.health = Health()
        self.started = time.monotonic()

    def start_run(self, lab: Any, plan: RunPlan, orders: int) -> None:
        self.lab, self.plan, self.orders_in_run = lab, plan, orders
        self.run_done = False

    def end_run(self, done: Any) -> None:
        self.done_before += self.orders_in_run
        self.orders_in_run = 0
        self.run_done = True  # its injector's counters are now in done_before

    def injector_counters(self) -> dict[str, int]:
        if self.lab is None or self.run_done:
            return {}
        for proc in self.lab.procs.values():
            if proc.role == "injector":
                return proc.counters
        return {}


class PlainMonitor(_Watch):
    """Plain progress lines (not a terminal, or ``--no-live``): at most one a second."""

    def __init__(self, total: int, title: str, out: TextIO | None = None) -> None:
        super().__init__(total, title)
        self.out = out or sys.stdout
        self._last_line = 0.0

    async def __aenter__(self) -> PlainMonitor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def note(self, text: str) -> None:
        print(f"  {text}", file=self.out, flush=True)

    def heartbeat(self, proc: Any) -> None:
        self.health.heartbeat(proc)
        if proc.role != "injector" or time.monotonic() - self._last_line < 1.0:
            return
        self._last_line = time.monotonic()
        c = proc.counters
        label = f"[{self.plan.label}] " if self.plan is not None else ""
        print(
            f"  {label}sent {self.done_before + c.get('orders.sent', 0)}/{self.total}  "
            f"terminal {self.done_before + c.get('orders.terminal', 0)}  "
            f"filled shares {c.get('shares.filled', 0)}",
            file=self.out,
            flush=True,
        )

    def end_run(self, done: Any) -> None:
        super().end_run(done)
        label = self.plan.label if self.plan is not None else "run"
        print(
            f"  [{label}] stream done: sent {done.sent}, terminal {done.terminal} (filled "
            f"{done.filled}, canceled {done.canceled}, rejected {done.rejected}), timed out "
            f"{done.timed_out}",
            file=self.out,
            flush=True,
        )


class Dashboard(_Watch):
    """The live view: progress bar, running metrics per regime, NBBO per symbol, health."""

    def __init__(self, total: int, title: str, console: Console | None = None) -> None:
        super().__init__(total, title)
        self.console = console or Console()
        self.metrics = RunningMetrics()
        self.notes: list[str] = []
        self._tape: TapeFollower | None = None
        self._nbbo: NbboWatcher | None = None
        self._task: asyncio.Task[None] | None = None
        self._live = Live(console=self.console, auto_refresh=False, transient=False)
        self._progress = Progress(
            TextColumn("[bold]orders"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("terminal {task.fields[terminal]}"),
            TimeElapsedColumn(),
            console=self.console,
        )
        self._bar = self._progress.add_task("orders", total=total, terminal=0)

    async def __aenter__(self) -> Dashboard:
        self._live.start()
        self._task = asyncio.get_running_loop().create_task(self._refresh(), name="dashboard")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.redraw()
        self._live.stop()
        self._close_sources()

    def note(self, text: str) -> None:
        self.notes = [*self.notes[-2:], text]

    def heartbeat(self, proc: Any) -> None:
        self.health.heartbeat(proc)

    def start_run(self, lab: Any, plan: RunPlan, orders: int) -> None:
        super().start_run(lab, plan, orders)
        self._close_sources()
        scenario = lab.config.scenario
        for regime in plan.regimes:  # rows in the experiment's order from the start
            self.metrics.regimes.setdefault(regime, RegimeTally())
        self._tape = TapeFollower(Path(lab.run_dir) / _TAPE, scenario.broker.name)
        self._nbbo = NbboWatcher(lab.config)

    def end_run(self, done: Any) -> None:
        self.poll()
        super().end_run(done)
        self.note(
            f"stream done: sent {done.sent}, terminal {done.terminal}, timed out {done.timed_out}"
        )

    def poll(self) -> None:
        if self._tape is not None:
            for msg in self._tape.poll():
                self.metrics.apply(msg)
        if self._nbbo is not None:
            self._nbbo.poll()

    def redraw(self) -> None:
        self.poll()
        self._live.update(self.render(), refresh=True)

    async def _refresh(self) -> None:
        while True:
            self.redraw()
            await asyncio.sleep(REFRESH_S)

    def _close_sources(self) -> None:
        if self._nbbo is not None:
            self._nbbo.close()
            self._nbbo = None

    def render(self) -> Group:
        """The whole view, laid out for the console's width: one column up to ``WIDE`` columns
        of content, the market and health beside the metrics beyond. No number is ever cut: a
        table that does not fit drops its least important columns instead."""
        sent, terminal, total = self._progress_counts()
        self._progress.update(self._bar, completed=sent, terminal=terminal, total=total)
        run = f"run {self.plan.label}  " if self.plan and self.plan.label != "run" else ""
        # the full title was printed once above the view; the head names the verb only
        head = Text.assemble(
            (self.title.split(":")[0], "bold"), f"  {run}{time.monotonic() - self.started:.1f}s"
        )
        width = self.console.width
        left: list[RenderableType] = [self._metrics_table(width)]
        differences = self._differences_table(width)
        if differences is not None:
            left.append(differences)
        right: list[RenderableType] = [self._nbbo_table(width), *self._health(width)]
        need_left = max(_width(self.console, r) for r in left)
        need_right = max(_width(self.console, r) for r in right)
        if need_left + need_right + SIDE_GAP <= width:
            body = Table.grid(padding=(0, SIDE_GAP))
            body.add_row(Group(*left), Group(*right))
            parts: list[RenderableType] = [body]
        else:
            parts = [*left, *right]
        return Group(head, self._progress.get_renderable(), *parts, *self.notes)

    def _progress_counts(self) -> tuple[int, int, int]:
        """Orders sent and terminal over the stream; open-ended (``flowlab up``): the broker's."""
        if self.total:
            c = self.injector_counters()
            sent = self.done_before + c.get("orders.sent", 0)
            return sent, self.done_before + c.get("orders.terminal", 0), self.total
        received = sum(t.orders for t in self.metrics.regimes.values())
        terminal = sum(t.terminal for t in self.metrics.regimes.values())
        return received, terminal, max(received, 1)

    def _metrics_table(self, width: int) -> Table:
        # rows(): regime, orders, terminal, fill rate, PI, eff bps, TTE p50, PFOF $, cost vs mid $
        rows = self.metrics.rows()
        columns = [(name, [row[i] for row in rows]) for i, name in enumerate(METRIC_COLUMNS)]
        return _fitted(self.console, HEADINGS[0], columns, METRIC_DROP_ORDER, width)

    def _differences_table(self, width: int) -> Table | None:
        """Each regime against the first: difference [95% interval], green when it is better
        for the investor, red when worse, plain when the interval holds zero."""
        found = running_differences(self.metrics)
        if not found:
            return None
        baseline = found[0].baseline
        by_regime: dict[str, dict[str, Text]] = {}
        for d in found:
            pattern = "{:+.4f}" if d.metric == "price_improvement_usd_per_share" else "{:+.2f}"
            low, high = pattern.format(d.low), pattern.format(d.high)
            cell = f"{pattern.format(d.difference)} [{low}, {high}]"
            style = {True: "green", False: "red", None: ""}[d.better]
            by_regime.setdefault(d.regime, {})[d.metric] = Text(cell, style=style)
        regimes = list(by_regime)
        columns = [
            (f"vs {baseline}", [Text(r) for r in regimes]),
            *(
                (label, [by_regime[r].get(metric, Text("-")) for r in regimes])
                for metric, label in DIFFERENCE_COLUMNS
            ),
        ]
        title = f"{DIFFERENCE_HEADING} (95% CI, normal approx.)"
        return _fitted(self.console, title, columns, (), width)

    def _nbbo_table(self, width: int) -> Table:
        latest = self._nbbo.latest if self._nbbo is not None else {}
        quotes = [q for _, q in sorted(latest.items())]
        columns = [
            ("symbol", [q.symbol for q in quotes]),
            ("bid", [_px(q.bid_px) for q in quotes]),
            ("bid size", [f"{q.bid_qty:,}" for q in quotes]),
            ("ask", [_px(q.ask_px) for q in quotes]),
            ("ask size", [f"{q.ask_qty:,}" for q in quotes]),
            ("spread bps", [_spread_bps(q) for q in quotes]),
            ("seq", [str(q.seq) for q in quotes]),
        ]
        return _fitted(self.console, HEADINGS[1], columns, NBBO_DROP_ORDER, width)

    def _health(self, width: int) -> list[RenderableType]:
        """One line while every service runs with fresh heartbeats (as many of its figures as
        the width holds); the processes that do not, in red, below it otherwise."""
        procs = list(self.lab.procs.values()) if self.lab is not None else []
        services = [p for p in procs if p.role != "injector"]
        now = time.time_ns()
        ages = {p.name: (now - p.last_seen_ns) / 1e6 for p in procs if p.last_seen_ns}
        wrong = [p for p in procs if _unwell(p, ages.get(p.name))]
        running = sum(1 for p in services if p.state == "running")
        stopped = sum(1 for p in services if p.exit_code == 0)
        live = [p for p in procs if p.exit_code is None]  # an ended process's age only grows
        depth = max((p.counters.get("queue.depth", 0) for p in live), default=0)
        rate = sum(self.health.rates.get(p.name, 0.0) for p in live)
        state = f"{running}/{len(services)} running"
        if stopped == len(services) and services:
            state = f"{stopped}/{len(services)} stopped cleanly"
        elif stopped:
            state += f", {stopped} stopped cleanly"
        figures = [
            f"heartbeat <= {max((ages.get(p.name, 0.0) for p in live), default=0):,.0f} ms",
            f"{rate:,.0f} msg/s",
            f"queue {depth:,}",
        ]
        head = f"{HEADINGS[2]}: {state}"
        while figures and len(", ".join([head, *figures])) > width:
            figures.pop()  # the least telling figure first: a line never wraps
        line = Text.assemble(
            (f"{HEADINGS[2]}: ", "bold"),
            (state, "red" if wrong else "green"),
            "".join(f", {figure}" for figure in figures) if live else "",
        )
        if not wrong:
            return [line]
        columns = [
            ("process", [Text(p.name, style="red") for p in wrong]),
            ("role", [p.role for p in wrong]),
            ("state", [p.state for p in wrong]),
            ("heartbeat ms", [fmt_or_dash(ages.get(p.name), "{:,.0f}") for p in wrong]),
            ("exit", ["-" if p.exit_code is None else str(p.exit_code) for p in wrong]),
        ]
        return [line, _fitted(self.console, "", columns, (), width)]


def _unwell(proc: Any, age_ms: float | None) -> bool:
    """A process not running, or running with late heartbeats; one that exited with code 0
    (an injector at the end of its stream, every service once the lab stops) is well."""
    if proc.exit_code == 0:
        return False
    if proc.state != "running":
        return proc.state != "starting" or age_ms is not None
    return age_ms is not None and age_ms > LATE_HEARTBEAT_MS


def _fitted(
    console: Console,
    title: str,
    columns: list[tuple[str, list[Any]]],
    drop_order: tuple[str, ...],
    width: int,
) -> Table:
    """A table of ``columns`` (header, cells) as wide as its content, never wrapped or cut:
    while it is wider than ``width``, the next column of ``drop_order`` is left out."""
    dropped: set[str] = set()
    while True:
        table = Table(
            title=title or None,
            title_justify="left",
            box=box.SIMPLE_HEAD,
            show_edge=False,  # no blank rows above and below: 24 rows are few
            pad_edge=False,
        )
        kept = [(name, cells) for name, cells in columns if name not in dropped]
        for i, (name, _) in enumerate(kept):
            table.add_column(name, justify="left" if i == 0 else "right", no_wrap=True)
        for r in range(len(kept[0][1]) if kept else 0):
            table.add_row(*(cells[r] for _, cells in kept))
        left = [name for name in drop_order if name not in dropped and name in dict(columns)]
        if _width(console, table) <= width or not left:
            return table
        dropped.add(left[0])


def split_table(
    console: Console, title: str, columns: list[tuple[str, list[Any]]], width: int
) -> list[Table]:
    """``columns`` (the first one, the row names, repeated in each) as as many tables as it
    takes to show every column whole within ``width``: split, never cut."""
    head, rest = columns[0], columns[1:]
    tables: list[Table] = []
    block: list[tuple[str, list[Any]]] = []
    for column in rest:
        trial = _fitted(console, title if not tables else "", [head, *block, column], (), width)
        if block and _width(console, trial) > width:
            tables.append(_fitted(console, title if not tables else "", [head, *block], (), width))
            block = []
        block.append(column)
    tables.append(_fitted(console, title if not tables else "", [head, *block], (), width))
    return tables


def print_regime_table(summary: dict, out: TextIO | None = None) -> None:
    """The run's per-regime table at its end: on a terminal as wide blocks as fit (the regime
    repeated in each), elsewhere the plain fixed-width text."""
    from orchestration.report_text import TERMINAL_COLUMNS, format_regime_table

    out = out or sys.stdout
    if not out.isatty():
        print(format_regime_table(summary), file=out)
        return
    console = Console(file=out)
    rows = [{"regime": name, **values} for name, values in summary["regimes"].items()]
    columns: list[tuple[str, list[Any]]] = [("regime", [str(r["regime"]) for r in rows])]
    columns += [(header, [fmt(r.get(key)) for r in rows]) for header, key, fmt in TERMINAL_COLUMNS]
    for table in split_table(console, "By regime", columns, console.width):
        console.print(table)


def print_markdown_table(markdown: str, title: str, out: TextIO | None = None) -> None:
    """One of our Markdown pipe tables (a header row, a ``---`` row, data rows) for a terminal:
    split into blocks of whole columns that fit its width (the first column repeated); the
    Markdown itself elsewhere (a pipe, a file), so it can be pasted."""
    out = out or sys.stdout
    if not out.isatty():
        print(markdown, file=out)
        return
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in markdown.splitlines()
        if line.strip().startswith("|") and not set(line) <= set("|-: ")
    ]
    if not rows:
        return
    head, body = rows[0], rows[1:]
    columns = [(name, [row[i] for row in body]) for i, name in enumerate(head)]
    console = Console(file=out)
    for table in split_table(console, title, columns, console.width):
        console.print(table)


def _width(console: Console, renderable: RenderableType) -> int:
    """Columns ``renderable`` takes at its natural width (unbounded)."""
    return Measurement.get(console, console.options.update_width(10_000), renderable).maximum


def _spread_bps(q: Any) -> str:
    if not (q.bid_px and q.ask_px):
        return "-"
    return f"{(q.ask_px - q.bid_px) * 2e4 / (q.ask_px + q.bid_px):.2f}"


def make_monitor(live: bool, total: int, title: str) -> PlainMonitor | Dashboard:
    """The dashboard on a terminal, plain lines otherwise; ``total`` 0 = open-ended (``up``)."""
    return Dashboard(total, title) if live else PlainMonitor(total, title)


async def watch(lab: Any, monitor: PlainMonitor | Dashboard, until: Any) -> None:
    """Show ``monitor`` over a lab already started until ``until`` (an awaitable) is done."""
    monitor.start_run(lab, RunPlan("lab", 1, tuple(lab.config.scenario.broker.regimes), 0, 0), 0)
    async with monitor:
        await until


def _px(micros: int | None) -> str:
    return "-" if micros is None else f"{micros / 1e6:,.4f}"
