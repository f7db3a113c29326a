"""``flowlab sor``'s progress: parents done over rounds x strategies, as a rich bar on a terminal
or one plain line per injection otherwise."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def round_of(order_id: str) -> int:
    """The round of a parent from its id, ``sor-r<round>-<i>`` (``parent_rows``); 0 if none."""
    head = order_id.split("-")[1] if order_id.count("-") >= 2 else ""
    return int(head[1:]) if head.startswith("r") and head[1:].isdigit() else 0


class SorProgress:
    """A context manager whose ``batch_done`` is ``run_sor``'s ``on_batch``."""

    def __init__(
        self, rounds: int, strategies: int, *, live: bool, out: TextIO | None = None
    ) -> None:
        self.rounds, self.strategies, self.total = rounds, strategies, rounds * strategies
        self.out = out or sys.stdout
        self.done = 0
        self._progress: Progress | None = None
        if live:
            self._progress = Progress(
                TextColumn("[bold]parents[/] round {task.fields[round]}/" + str(rounds)),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[last]}"),
                TimeElapsedColumn(),
                console=Console(file=self.out),
            )
            self._task = self._progress.add_task("sor", total=self.total, round=1, last="")

    def __enter__(self) -> SorProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def batch_done(self, batch: list[dict[str, Any]], done: Any, elapsed_s: float) -> None:
        """One injection of parents ended (``done``: its ``InjectionDone``)."""
        self.done += len(batch)
        current = max((round_of(str(row["order_id"])) for row in batch), default=0)
        names = ", ".join(str(row["strategy"]) for row in batch)
        last = f"{names}: {done.terminal}/{done.sent} ended in {elapsed_s:.1f}s"
        if self._progress is not None:
            running = min(self.done // max(self.strategies, 1) + 1, self.rounds)
            self._progress.update(self._task, completed=self.done, round=running, last=last)
        else:
            print(
                f"  round {current}/{self.rounds}, {self.done}/{self.total} parents: {last}",
                file=self.out,
                flush=True,
            )
