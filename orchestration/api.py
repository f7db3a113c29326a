"""The lab from Python (notebooks, scripts): a synchronous facade over ``launcher.LabSupervisor``.

The public entry is the ``flowlab`` package (``import flowlab``; ``flowlab.Lab`` is this class,
``flowlab.compare`` is ``orchestration.api_compare.compare``); ``orchestration.api`` stays as an
alias.

    import flowlab

    with flowlab.Lab("default", regimes=["pfof", "auction"]) as lab:
        stream = lab.generate(orders=200, rate=100)      # a DataFrame you can edit
        lab.inject(stream)                               # validated first; blocks until terminal
        orders, fills = lab.table("orders"), lab.table("fills")
        lab.summary()                                    # Rule 605 metrics per regime
        lab.comparisons()                                # differences with 95% intervals
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

import pandas as pd

from config.scenario import Scenario
from orchestration import launcher
from orchestration.api_compare import Comparison, compare, scenario_with
from orchestration.report import COMPUTED_TABLES
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
from orchestration.tape import TABLES

T = TypeVar("T")
START_TIMEOUT_S = 120.0
TAPE_SETTLE_TIMEOUT_S = 10.0

__all__ = ["TABLE_NAMES", "Comparison", "Lab", "LabError", "StreamError", "compare"]

LabError = launcher.LabError
# Every table of docs/TABLES.md: those built from the tape, then the report's computed ones.
TABLE_NAMES: tuple[str, ...] = (*TABLES, *COMPUTED_TABLES)


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
        self.scenario = scenario_with(scenario, regimes, seed)
        self._runs_root = Path(runs_root)
        self._run_dir = Path(run_dir) if run_dir is not None else None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lab: launcher.LabSupervisor | None = None
        self._injections = itertools.count(1)
        self._injected: list[str] = []
        # tables read per injection (key: how many orders were injected)
        self._raw: tuple[int, dict[str, pd.DataFrame]] | None = None
        self._computed: dict[str, pd.DataFrame] | None = None

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
        index = list(stream.index) if isinstance(stream, pd.DataFrame) else None
        validate_rows(rows, self.scenario, index)  # raises before anything is sent
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
    def tables(self, *, refresh: bool = False) -> dict[str, pd.DataFrame]:
        """Every table of docs/TABLES.md over everything injected so far: those built from the
        tape (``orders``, ``fills``, ``nbbo``, ...) and the report's computed ones
        (``regime_summary``, ``rule605``, ``rule606``, ``comparisons``, ...), as the report
        computes them (orders in the scenario's burn-in left out of execution quality).

        Read once per injection (the background market keeps trading, so the tape never stops
        growing); ``refresh=True`` reads the tape again."""
        return {**self._tape_tables(refresh), **self._computed_tables(refresh)}

    def table(self, name: str, *, refresh: bool = False) -> pd.DataFrame:
        """One table of docs/TABLES.md by name (``TABLE_NAMES``): ``orders``, ``fills``,
        ``rule605``, ``rule606``, ``comparisons``, ...; a ``KeyError`` lists the names."""
        if name not in TABLE_NAMES:
            raise KeyError(f"no table {name!r}; tables: {', '.join(TABLE_NAMES)}")
        if name in COMPUTED_TABLES:
            return self._computed_tables(refresh)[name]
        return self._tape_tables(refresh)[name]

    def _tape_tables(self, refresh: bool) -> dict[str, pd.DataFrame]:
        from orchestration.tape import build_tables

        key = len(self._injected)
        if refresh or self._raw is None or self._raw[0] != key:
            lab = self._lab_or_error()
            self._raw = (key, build_tables(lab.run_dir, lab.config))
            self._computed = None
        return dict(self._raw[1])

    def _computed_tables(self, refresh: bool) -> dict[str, pd.DataFrame]:
        from orchestration.report import compute_tables

        tables = self._tape_tables(refresh)
        if self._computed is None:
            self._computed = compute_tables(
                tables,
                seed=self.scenario.seed,
                regime_order=list(self.scenario.broker.regimes),
                burn_in_s=self.scenario.stream.burn_in_s,
            )
        return dict(self._computed)

    def comparisons(self) -> pd.DataFrame:
        """Each regime against the first, per compared metric: the difference (``b - a``), its
        95% bootstrap interval (``ci_low``, ``ci_high``), p-value and the replication-level
        test (docs/TABLES.md ``comparisons``); one row per regime pair and metric."""
        return self.table("comparisons")

    def summary(self) -> pd.DataFrame:
        """Rule 605 metrics per regime (one row each) over everything injected so far."""
        from orchestration.metrics import regime_table

        tables = self._tape_tables(refresh=False)
        return regime_table(tables["orders"], tables["fills"], tables.get("nbbo"))

    def report(self, out: Path | str | None = None, *, plots: bool = True) -> Path:
        """Write the full report (tables, plots, report.md/.html); returns its directory."""
        from orchestration.report import write_report
        from orchestration.rule606 import arrangements_from_scenario

        lab = self._lab_or_error()
        folder = Path(out) if out is not None else lab.run_dir / "report"
        write_report(
            folder,
            scenario=self.scenario.name,
            seed=self.scenario.seed,
            run_dir=str(lab.run_dir),
            processes=lab.processes,
            tables=self._tape_tables(refresh=True),  # the report computes the rest itself
            plots=plots,
            regime_order=list(self.scenario.broker.regimes),
            burn_in_s=self.scenario.stream.burn_in_s,
            arrangements=arrangements_from_scenario(self.scenario),
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


def _rows(stream: pd.DataFrame | Path | str) -> list[dict[str, object]]:
    if isinstance(stream, str | Path):
        return read_stream_file(Path(stream))
    frame = stream.astype(object).where(stream.notna(), "")
    columns = [str(c) for c in stream.columns]
    # pandas-stubs types record keys as Hashable; the frame's columns are str.
    records = frame.to_dict(orient="records")
    return rows_from_table(records, columns, "DataFrame", list(stream.index))  # type: ignore[arg-type]
