"""``flowlab.compare``: ``flowlab compare`` from Python, its answer as DataFrames.

    import flowlab

    result = flowlab.compare(regimes=["pfof", "auction"], orders=400, seed=7)
    result.comparisons     # each regime against the first: difference, 95% interval, p-value
    result.summary         # Rule 605 metrics per regime
    result.table("rule605")
    result.report_dir      # report.html, every table as Parquet

The experiment runs on its own event loop in a worker thread, so the call works the same in a
script and inside Jupyter (whose loop keeps running); it blocks until the report is written.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pandas as pd

from config.scenario import Scenario, load_scenario
from orchestration.streams import StreamOptions

__all__ = ["Comparison", "compare"]


@dataclass(frozen=True)
class Comparison:
    """What one ``compare`` wrote: the report directory and its main tables as DataFrames."""

    report_dir: Path
    run_dirs: tuple[Path, ...]
    exit_codes: dict[str, dict[str, int | None]]
    summary: pd.DataFrame
    comparisons: pd.DataFrame
    # summary.json's run_state: {"state": "complete"} or aborted/degraded/overloaded/incomplete
    # with why
    run_state: dict[str, Any] = dataclasses.field(default_factory=lambda: {"state": "complete"})

    @property
    def clean(self) -> bool:
        """Every process of every run exited with code 0."""
        return all(code == 0 for codes in self.exit_codes.values() for code in codes.values())

    @property
    def state(self) -> str:
        """``complete``, or ``aborted``/``degraded`` (a process failed), ``overloaded`` (a
        service refused orders as busy or passed its ``[limits]``) or ``incomplete`` (accepted
        orders never ended): then the figures are not market results (``run_state`` says
        why)."""
        return str(self.run_state.get("state", "complete"))

    def table(self, name: str) -> pd.DataFrame:
        """Any table the report wrote (docs/TABLES.md), read from its Parquet file."""
        path = self.report_dir / f"{name}.parquet"
        if not path.exists():
            names = sorted(p.stem for p in self.report_dir.glob("*.parquet"))
            raise KeyError(f"no table {name!r} in {self.report_dir}; tables: {', '.join(names)}")
        return pd.read_parquet(path)


def compare(
    scenario: str | Path | Scenario | None = None,
    *,
    regimes: Sequence[str] | None = None,
    orders: int | None = None,
    rate: float | None = None,
    seed: int | None = None,
    design: str = "random",
    repeat: int = 1,
    options: StreamOptions | None = None,
    stream_file: Path | str | None = None,
    settle_s: float = 5.0,
    runs_root: Path | str = Path("runs"),
    out: Path | str | None = None,
) -> Comparison:
    """Run ``flowlab compare`` (same defaults, no dashboard) and return its tables.

    ``options`` sets the generated stream (``orders``/``rate`` override its counts); a bad
    scenario or stream raises ``ScenarioError``/``StreamError`` before any lab starts."""
    from orchestration.experiment import run_comparison  # the experiment machinery, on call

    chosen = scenario_with(scenario, regimes, seed)
    stream = options or StreamOptions()
    if orders is not None or rate is not None:
        changes: dict[str, Any] = {"orders": orders} if orders is not None else {}
        if rate is not None:
            changes["rate_per_s"] = rate
        stream = dataclasses.replace(stream, **changes)
    coro = run_comparison(
        chosen,
        runs=Path(runs_root),
        out=Path(out) if out is not None else None,
        design=design,
        repeat=repeat,
        live=False,
        options=stream,
        stream_file=Path(stream_file) if stream_file is not None else None,
        settle_s=settle_s,
    )
    results = _in_own_loop(coro)
    run_dirs = tuple(Path(r.run_dir) for r in results)
    report_dir = Path(out) if out is not None else _report_root(run_dirs)
    return Comparison(
        report_dir=report_dir,
        run_dirs=run_dirs,
        exit_codes={r.plan.label: dict(r.exit_codes) for r in results},
        summary=pd.read_parquet(report_dir / "regime_summary.parquet"),
        comparisons=pd.read_parquet(report_dir / "comparisons.parquet"),
        run_state=json.loads((report_dir / "summary.json").read_text()).get("run_state")
        or {"state": "complete"},
    )


def _report_root(run_dirs: tuple[Path, ...]) -> Path:
    """Where ``run_comparison`` wrote the report: the run dir, or the experiment dir above
    several runs."""
    return run_dirs[0] if len(run_dirs) == 1 else run_dirs[0].parent


def _in_own_loop(coro: Any) -> Any:
    """Run ``coro`` to the end on a fresh event loop in a worker thread (Jupyter-safe)."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(coro)
        except BaseException as e:  # re-raised in the caller's thread
            outcome["error"] = e

    worker = threading.Thread(target=target, name="flowlab-compare")
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def scenario_with(
    scenario: str | Path | Scenario | None, regimes: Sequence[str] | None, seed: int | None
) -> Scenario:
    """A scenario by name, path or value, with ``regimes`` and ``seed`` replaced if given."""
    if not isinstance(scenario, Scenario):
        name = None if scenario in (None, "default") else scenario
        scenario = load_scenario(name)
    changes: dict[str, Any] = {}
    if regimes is not None:
        changes["broker"] = msgspec.structs.replace(scenario.broker, regimes=list(regimes))
    if seed is not None:
        changes["seed"] = seed
    return msgspec.structs.replace(scenario, **changes) if changes else scenario
