"""Watching a run: a rich terminal dashboard, or plain progress lines.

Where the numbers come from (all read by the orchestrator process, nothing added to services):
- progress and per-process health: the heartbeats every service sends the orchestrator twice a
  second (``LabSupervisor(on_heartbeat=...)``): state, heartbeat age, message counters
  (``*.in``, the recorder's ``tape.entries``) from which rates are derived, and, as the queue
  depth, any ``*queue*``/``*backlog*`` counter a service reports, else the orders in flight
  (injector: sent - terminal; broker: received - terminal, from the tape);
- running per-regime metrics: the run's tape (``tape.msgpack``), followed as the recorder
  appends to it (it flushes every 0.25 s): the broker's ``OrderReceived`` (NBBO at receipt) and
  client fills give the same Rule 605 quantities as the report, live;
- the NBBO per symbol: a SUB socket on the SIP's ``md`` PUB endpoint from the run config,
  decoded with ``Decoder([NBBO])``.

``Dashboard`` redraws at 4 Hz (``REFRESH_S``); ``PlainMonitor`` prints at most one line a second.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from orchestration.live_sources import (
    Health,
    NbboWatcher,
    RegimeTally,
    RunningMetrics,
    TapeFollower,
    fmt_or_dash,
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
        sent, terminal, total = self._progress_counts()
        self._progress.update(self._bar, completed=sent, terminal=terminal, total=total)
        run = f"run {self.plan.label}" if self.plan and self.plan.label != "run" else ""
        head = f"[bold]{self.title}[/]  {run}  {time.monotonic() - self.started:.1f}s"
        return Group(
            head,
            self._progress.get_renderable(),
            self._metrics_table(),
            self._nbbo_table(),
            self._health_table(),
            *self.notes,
        )

    def _progress_counts(self) -> tuple[int, int, int]:
        """Orders sent and terminal over the stream; open-ended (``flowlab up``): the broker's."""
        if self.total:
            c = self.injector_counters()
            sent = self.done_before + c.get("orders.sent", 0)
            return sent, self.done_before + c.get("orders.terminal", 0), self.total
        received = sum(t.orders for t in self.metrics.regimes.values())
        terminal = sum(t.terminal for t in self.metrics.regimes.values())
        return received, terminal, max(received, 1)

    def _metrics_table(self) -> Table:
        table = Table(title=HEADINGS[0], title_justify="left", expand=False)
        for name in (
            "regime",
            "orders",
            "terminal",
            "fill rate",
            "PI $/sh",
            "eff bps",
            "TTE p50 ms",
            "PFOF $",
            "cost vs mid $",
        ):
            table.add_column(name, justify="left" if name == "regime" else "right")
        for row in self.metrics.rows():
            table.add_row(*row)
        return table

    def _nbbo_table(self) -> Table:
        table = Table(title=HEADINGS[1], title_justify="left")
        for name in ("symbol", "bid", "bid size", "ask", "ask size", "spread bps", "seq"):
            table.add_column(name, justify="left" if name == "symbol" else "right")
        latest = self._nbbo.latest if self._nbbo is not None else {}
        for symbol, q in sorted(latest.items()):
            spread = (
                f"{(q.ask_px - q.bid_px) * 2e4 / (q.ask_px + q.bid_px):.2f}"
                if q.bid_px and q.ask_px
                else "-"
            )
            table.add_row(
                symbol,
                _px(q.bid_px),
                f"{q.bid_qty:,}",
                _px(q.ask_px),
                f"{q.ask_qty:,}",
                spread,
                str(q.seq),
            )
        return table

    def _health_table(self) -> Table:
        table = Table(title=HEADINGS[2], title_justify="left")
        for name in ("process", "role", "state", "heartbeat ms", "msgs in/s", "queue", "in flight"):
            table.add_column(
                name, justify="left" if name in ("process", "role", "state") else "right"
            )
        if self.lab is None:
            return table
        now = time.time_ns()
        for proc in self.lab.procs.values():
            age = (now - proc.last_seen_ns) / 1e6 if proc.last_seen_ns else None
            rate = self.health.rates.get(proc.name)
            depth = proc.counters.get("queue.depth")  # messages waiting in its delay queues
            queued = Health.in_flight(proc) if proc.role == "injector" else None
            if proc.role == "broker":  # open client orders, from the tape
                queued = sum(t.orders - t.terminal for t in self.metrics.regimes.values())
            table.add_row(
                proc.name,
                proc.role,
                proc.state,
                fmt_or_dash(age, "{:,.0f}"),
                fmt_or_dash(rate, "{:,.0f}"),
                "-" if depth is None else f"{depth:,}",
                "-" if queued is None else f"{queued:,}",
            )
        return table


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
