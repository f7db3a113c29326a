"""``flowlab inject``'s account of an injection into a running lab.

The injector runs in the CLI's own process (as before), so its counters are read directly: a live
line (sent / filled / open, a rich ``Live`` on a terminal, else one plain line a second) while it
runs, then the account of every order and a short Rule 605 table per regime, from the broker's
events on the tape (``RunningMetrics``, the dashboard's numbers; no pandas). The injector's own
log lines go to ``RUN_DIR/logs/NAME.log``; only warnings reach the terminal.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from orchestration.live_sources import RunningMetrics, TapeFollower

REFRESH_S = 0.25
PLAIN_EVERY_S = 1.0
TAPE_SETTLE_S = 5.0  # the recorder flushes every 0.25 s; terminal events reach the tape by then
SUMMARY_COLUMNS = ("regime", "orders", "fill rate", "PI $/sh", "eff bps", "TTE p50 ms")


def log_to_file(path: Path, name: str) -> None:
    """The injector's INFO lines to ``path``; the terminal gets warnings and worse."""
    path.parent.mkdir(parents=True, exist_ok=True)
    to_file = logging.FileHandler(path)
    to_file.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s {name} %(message)s"))
    to_terminal = logging.StreamHandler()
    to_terminal.setLevel(logging.WARNING)
    to_terminal.setFormatter(logging.Formatter(f"{name}: %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    root.handlers[:] = [to_file, to_terminal]


def account_line(injector: Any, total: int, elapsed_s: float) -> str:
    """``sent 120/400  filled 100  open 20  canceled 0  rejected 0  3.2s``."""
    states = list(getattr(injector, "terminal", {}).values())  # set once the injector is set up
    sent = len(getattr(injector, "sent", {}))
    return (
        f"sent {sent:,}/{total:,}  filled {states.count('filled'):,}  "
        f"open {sent - len(states):,}  canceled {states.count('canceled'):,}  "
        f"rejected {states.count('rejected'):,}  {elapsed_s:.1f}s"
    )


async def run_with_account(
    injector: Any, total: int, *, live: bool, out: TextIO, console: Console | None = None
) -> int:
    """Run ``injector`` (a ``services.injector.Injector``) to the end, showing its account."""
    started = time.monotonic()
    task = asyncio.get_running_loop().create_task(injector.run(), name="injector")
    if live:
        with Live(console=console or Console(file=out), auto_refresh=False) as view:
            while not task.done():
                view.update(Text(account_line(injector, total, time.monotonic() - started)))
                view.refresh()
                await asyncio.wait([task], timeout=REFRESH_S)
            view.update(Text(account_line(injector, total, time.monotonic() - started)))
            view.refresh()
    else:
        while not task.done():
            await asyncio.wait([task], timeout=PLAIN_EVERY_S)
            print(account_line(injector, total, time.monotonic() - started), file=out, flush=True)
    return await task


def regime_metrics(tape: Path, broker: str, order_ids: set[str], expected: int) -> RunningMetrics:
    """Rule 605 sums per regime over ``order_ids`` from the broker's events on the tape, once
    ``expected`` of them are terminal there (or after ``TAPE_SETTLE_S``)."""
    follower, metrics = TapeFollower(tape, broker), RunningMetrics()
    deadline = time.monotonic() + TAPE_SETTLE_S
    while True:
        for msg in follower.poll():
            if getattr(msg, "order_id", None) in order_ids:
                metrics.apply(msg)
        terminal = sum(t.terminal for t in metrics.regimes.values())
        if terminal >= expected or time.monotonic() > deadline:
            return metrics
        time.sleep(REFRESH_S)  # the recorder writes on its own clock; nothing to await here


def summary_table(metrics: RunningMetrics) -> Table:
    """The short Rule 605 table: orders, fill rate, price improvement, effective spread, TTE."""
    table = Table(title="Rule 605 summary (this injection)", title_justify="left")
    for name in SUMMARY_COLUMNS:
        table.add_column(name, justify="left" if name == "regime" else "right", no_wrap=True)
    for row in metrics.rows():
        # rows(): regime, orders, terminal, fill rate, PI, eff bps, TTE p50, PFOF, cost vs mid
        table.add_row(row[0], row[1], row[3], row[4], row[5], row[6])
    return table


def print_summary(
    injector: Any, tape: Path, broker: str, *, to_broker: bool, console: Console
) -> None:
    """The final account and, for orders sent to the broker, the Rule 605 table."""
    states = list(injector.terminal.values())
    sent = len(injector.sent)
    console.print(
        f"done: sent {sent:,}, filled {states.count('filled'):,}, canceled "
        f"{states.count('canceled'):,}, rejected {states.count('rejected'):,}, still open "
        f"{sent - len(states):,}; shares filled {injector.filled:,}",
        highlight=False,
    )
    if not to_broker:
        console.print("parents went to the SOR: `flowlab report RUN_DIR` has their best execution")
        return
    metrics = regime_metrics(tape, broker, set(injector.sent), len(states))
    console.print(summary_table(metrics))
