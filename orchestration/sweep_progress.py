"""A sweep's progress: tasks done, running, failed and the ETA (a rich bar, or plain lines)."""

from __future__ import annotations

import contextlib
import sys
from typing import Any, TextIO

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

POLL_S = 0.5


class SweepProgress:
    """Waits for every future of a sweep, showing its progress (``with ...: progress.wait()``).

    "Running" is what the scheduler has handed to workers, at most their threads (each thread
    runs one lab); "failed" counts tasks that failed their retry too.
    """

    def __init__(
        self, client: Any, futures: list[Any], *, live: bool, out: TextIO | None = None
    ) -> None:
        self.client, self.futures, self.live = client, futures, live
        self.out = out or sys.stdout
        self.keys = {f.key for f in futures}
        self.progress: Progress | None = None
        self.bar: Any = None
        self.reported: set[str] = set()

    def __enter__(self) -> SweepProgress:
        if self.live:
            self.progress = Progress(
                TextColumn("[bold]sweep"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("running {task.fields[running]}  failed {task.fields[failed]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
            )
            self.progress.start()
            self.bar = self.progress.add_task("sweep", total=len(self.futures), running=0, failed=0)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def wait(self) -> None:
        """Return once every task has finished or failed for good."""
        from distributed import wait

        pending = list(self.futures)
        while pending:
            with contextlib.suppress(TimeoutError):
                wait(pending, timeout=POLL_S, return_when="FIRST_COMPLETED")
            pending = [f for f in pending if f.status not in ("finished", "error", "cancelled")]
            self._show()

    def _show(self) -> None:
        done = [f for f in self.futures if f.status == "finished"]
        failed = [f for f in self.futures if f.status in ("error", "cancelled")]
        running = self._running()
        if self.progress is not None:
            self.progress.update(
                self.bar, completed=len(done) + len(failed), running=running, failed=len(failed)
            )
            return
        for future in [*done, *failed]:
            if future.key in self.reported:
                continue
            self.reported.add(future.key)
            state = "done" if future.status == "finished" else "FAILED"
            print(
                f"  [{len(self.reported)}/{len(self.futures)}] {_task_name(future.key)} {state}"
                f"  (running {running}, failed {len(failed)})",
                file=self.out,
                flush=True,
            )

    def _running(self) -> int:
        processing = self.client.processing()
        assigned = sum(1 for keys in processing.values() for key in keys if key in self.keys)
        threads = sum(self.client.nthreads().values())
        return min(assigned, threads)


def _task_name(key: str) -> str:
    """``p01-r2`` from the future's key ``flowlab-sweep-p01-r2-<pid>``."""
    return key.removeprefix("flowlab-sweep-").rsplit("-", 1)[0]
