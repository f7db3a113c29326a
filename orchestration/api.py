"""The lab from Python (notebooks, scripts): a synchronous facade over ``launcher.LabSupervisor``.

    from orchestration.api import Lab

    with Lab("default", regimes=["pfof", "auction"]) as lab:
        stream = lab.generate(orders=200, rate=100)      # a DataFrame you can edit
        lab.inject(stream)                               # validated first; blocks until terminal
        orders, fills = lab.table("orders"), lab.table("fills")
        lab.summary()                                    # Rule 605 metrics per regime
    # every process is stopped here, the recorder last

The async ``Lab`` runs on its own event loop in a background thread, so this works the same in a
plain script and inside Jupyter (whose own loop is never touched). Every call waits for its
result; a lab failure surfaces as ``LabError``, a bad stream as ``StreamError`` before any order
is sent.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import pandas as pd

from config.scenario import Scenario, load_scenario
from orchestration import launcher
from orchestration.streams import (
    COLUMNS,
    StreamError,
    StreamOptions,
    generate_stream,
    read_stream_file,
    rows_from_table,
    validate_rows,
    write_stream,
)

T = TypeVar("T")
START_TIMEOUT_S = 120.0
TAPE_SETTLE_TIMEOUT_S = 10.0

__all__ = ["Lab", "StreamError"]


class Lab:
    """A live lab as a context manager; see the module docstring."""

    def __init__(
        self,
        scenario: str | Path | Scenario | None = None,
        *,
        regimes: Sequence[str] | None = None,
        seed: int | None = None,
        runs_root: Path | str = Path("runs"),
        run_dir: Path | str | None = None,
    ) -> None:
        self.scenario = _scenario(scenario, regimes, seed)
        self._runs_root = Path(runs_root)
        self._run_dir = Path(run_dir) if run_dir is not None else None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lab: launcher.LabSupervisor | None = None
        self._injections = itertools.count(1)
        self._injected: list[str] = []

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Lab:
        """Start every process and wait for their readiness handshakes."""
        if self._lab is not None:
            return self
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="flowlab-lab", daemon=True
        )
        self._thread.start()
        self._lab = self._call(self._make_lab(), timeout=10)
        try:
            self._call(self._lab.start(), timeout=START_TIMEOUT_S)
        except BaseException:
            self._shutdown_loop()
            self._lab = None
            raise
        return self

    async def _make_lab(self) -> launcher.LabSupervisor:
        return launcher.LabSupervisor(
            self.scenario, runs_root=self._runs_root, run_dir=self._run_dir
        )

    def stop(self) -> dict[str, int | None]:
        """Stop every process (the recorder last); returns exit codes by name. Idempotent."""
        if self._lab is None or self._loop is None:
            return {}
        try:
            return self._call(self._lab.stop(), timeout=120)
        finally:
            self._shutdown_loop()

    def _shutdown_loop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()
        self._loop = self._thread = None

    # ------------------------------------------------------------------ streams
    def generate(
        self,
        orders: int | None = None,
        rate: float | None = None,
        *,
        seed: int | None = None,
        regimes: Sequence[str] | None = None,
        options: StreamOptions | None = None,
    ) -> pd.DataFrame:
        """A generated stream as a DataFrame (columns of docs/STREAMS.md), not yet sent."""
        arms = list(regimes or self.scenario.broker.regimes)
        prefix = f"N{next(self._injections)}-"
        rows = generate_stream(
            self.scenario,
            arms,
            orders=orders,
            rate_per_s=rate,
            seed=seed,
            options=options,
            id_prefix=prefix,
        )
        return pd.DataFrame(rows, columns=list(COLUMNS))

    def inject(
        self,
        stream: pd.DataFrame | Path | str,
        *,
        target: str = "broker",
        timeout_s: float = 30.0,
        close_after_s: float | None = None,
    ) -> dict[str, int]:
        """Validate ``stream`` (a DataFrame or a CSV/Parquet file), send it, wait until every
        order is terminal; returns the injector's account (sent, terminal, filled, ...).

        Day limit orders rest until filled or the close, ``close_after_s`` after the last order
        (default: the scenario's ``[stream] close_after_s``), when what is open is canceled."""
        lab = self._running()
        rows = _rows(stream)
        validate_rows(rows, self.scenario)  # raises before anything is sent
        name = f"injector-api-{next(self._injections)}"
        path = write_stream(rows, lab.run_dir / f"stream-{name}.csv")
        destination = self.scenario.broker.name if target == "broker" else self.scenario.sor.name
        done = self._call(
            lab.inject(
                path,
                target=destination,
                name=name,
                timeout_s=timeout_s,
                close_after_s=close_after_s,
            ),
            timeout=timeout_s + 60,
        )
        self._injected.extend(str(row["order_id"]) for row in rows)
        self._settle_tape()
        return {
            f: getattr(done, f)
            for f in ("sent", "terminal", "filled", "canceled", "rejected", "timed_out")
        }

    # ------------------------------------------------------------------ results
    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table built from the tape so far (docs/TABLES.md)."""
        from orchestration.tape import build_tables

        lab = self._lab_or_error()
        return build_tables(lab.run_dir, lab.config)

    def table(self, name: str) -> pd.DataFrame:
        """One table: ``orders``, ``fills``, ``routes``, ``nbbo``, ``pnl``, ..."""
        tables = self.tables()
        if name not in tables:
            raise KeyError(f"no table {name!r}; tables: {', '.join(tables)}")
        return tables[name]

    def summary(self) -> pd.DataFrame:
        """Rule 605 metrics per regime (one row each) over everything injected so far."""
        from orchestration.metrics import regime_table

        tables = self.tables()
        return regime_table(tables["orders"], tables["fills"], tables.get("nbbo"))

    def report(self, out: Path | str | None = None, *, plots: bool = True) -> Path:
        """Write the full report (tables, plots, report.md/.html); returns its directory."""
        from orchestration.report import write_report

        lab = self._lab_or_error()
        folder = Path(out) if out is not None else lab.run_dir / "report"
        write_report(
            folder,
            scenario=self.scenario.name,
            seed=self.scenario.seed,
            run_dir=str(lab.run_dir),
            processes=lab.processes,
            tables=self.tables(),
            plots=plots,
            regime_order=list(self.scenario.broker.regimes),
            burn_in_s=self.scenario.stream.burn_in_s,
            security=self.scenario.security.mode,
        )
        return folder

    def status(self) -> pd.DataFrame:
        """The processes: name, role, pid, state, heartbeat age (ms), messages in, counters."""
        lab = self._running()
        statuses = self._call(_status(lab), timeout=10)
        return pd.DataFrame(
            [
                {
                    "name": s.name,
                    "role": s.role,
                    "pid": s.pid,
                    "state": s.state,
                    "heartbeat_age_ms": s.heartbeat_age_us / 1000
                    if s.heartbeat_age_us >= 0
                    else None,
                    "messages_in": sum(v for k, v in s.counters.items() if k.endswith(".in")),
                    "counters": dict(s.counters),
                }
                for s in statuses
            ]
        )

    @property
    def run_dir(self) -> Path:
        return self._lab_or_error().run_dir

    # ------------------------------------------------------------------ plumbing
    def _call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        if self._loop is None:
            coro.close()
            raise launcher.LabError("the lab is not running")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _running(self) -> launcher.LabSupervisor:
        lab = self._lab_or_error()
        if lab.stopped or self._loop is None:
            raise launcher.LabError("the lab is stopped")
        return lab

    def _lab_or_error(self) -> launcher.LabSupervisor:
        if self._lab is None:
            raise launcher.LabError("the lab was never started (use `with Lab(...)` or start())")
        return self._lab

    def _settle_tape(self) -> None:
        """Wait until the tape holds every injected order's terminal event (the recorder writes
        with a short delay), so tables read right after ``inject`` are complete."""
        from orchestration.live import RunningMetrics, TapeFollower

        lab = self._running()
        follower = TapeFollower(lab.run_dir / "tape.msgpack", self.scenario.broker.name)
        metrics = RunningMetrics()
        deadline = time.monotonic() + TAPE_SETTLE_TIMEOUT_S
        while time.monotonic() < deadline:
            for msg in follower.poll():
                metrics.apply(msg)
            terminal = sum(t.terminal for t in metrics.regimes.values())
            if terminal >= len(self._injected):
                return
            time.sleep(0.05)  # the recorder flushes on its own clock; nothing to await here


async def _status(lab: launcher.LabSupervisor) -> list:
    return lab.status()


def _scenario(
    scenario: str | Path | Scenario | None, regimes: Sequence[str] | None, seed: int | None
) -> Scenario:
    if not isinstance(scenario, Scenario):
        name = None if scenario in (None, "default") else scenario
        scenario = load_scenario(name)
    changes: dict[str, Any] = {}
    if regimes is not None:
        changes["broker"] = msgspec.structs.replace(scenario.broker, regimes=list(regimes))
    if seed is not None:
        changes["seed"] = seed
    return msgspec.structs.replace(scenario, **changes) if changes else scenario


def _rows(stream: pd.DataFrame | Path | str) -> list[dict[str, object]]:
    if isinstance(stream, str | Path):
        return read_stream_file(Path(stream))
    frame = stream.astype(object).where(stream.notna(), "")
    columns = [str(c) for c in stream.columns]
    # pandas-stubs types record keys as Hashable; the frame's columns are str.
    return rows_from_table(frame.to_dict(orient="records"), columns, "DataFrame")  # type: ignore[arg-type]
