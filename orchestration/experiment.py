"""A comparison as an experiment: designs, replications with derived seeds, pooled tables.

- ``random`` (default): one lab per replication; every order of the stream is assigned at random
  to an arm (regime) and all arms trade in the same live market at the same time, so market
  conditions are shared. Arms are compared over orders (independent bootstrap, stratified by
  replication).
- ``sequential``: per replication, one lab per regime, each running the *same* stream (same
  orders, times and sizes) with the *same* market seed; use it when regimes would interfere
  (e.g. one arm's flow moving the prices another arm sees). Arms are compared order by order
  (paired bootstrap on the stream's order keys).

Replication 1 uses the scenario's seed for the market and the stream (so ``--repeat 1`` is the
plain run); replication k > 1 derives both from (seed, k) with numpy's ``SeedSequence``.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import numpy as np
import pandas as pd

from config.runconfig import RunConfig, load_run_config
from config.scenario import Scenario, ScenarioError
from orchestration.faults import (
    add_unended,
    faults_exit_code,
    injection_account,
    load_faults,
    run_state,
)
from orchestration.launcher import LabAborted, LabSupervisor, new_run_dir
from orchestration.live import make_monitor, print_regime_table
from orchestration.report import verdict, write_report
from orchestration.rule606 import arrangements_from_scenario
from orchestration.run_plan import Monitor, RunPlan
from orchestration.streams import (
    StreamOptions,
    generate_stream,
    read_stream_file,
    validate_rows,
    write_stream,
)
from orchestration.tape import build_tables

DESIGNS: tuple[str, ...] = ("random", "sequential")
DESCRIPTIONS = {
    "random": "each order of one stream assigned at random to a regime, all regimes in the same "
    "live market at once; independent bootstrap over orders, stratified by replication",
    "sequential": "the same stream and seeds run once per regime, one lab each; paired "
    "bootstrap over the stream's orders",
}
# tables whose order ids are the client's (prefixed with the run when pooling runs)
_ORDER_ID_TABLES = ("orders", "fills", "routes", "latency", "destination_fills")


@dataclass
class RunResult:
    plan: RunPlan
    run_dir: Path
    config: RunConfig
    processes: list[dict]
    exit_codes: dict[str, int | None]
    rows: list[dict[str, object]] = field(default_factory=list)


def derive_seed(base: int, replication: int) -> int:
    """The seed of replication ``replication`` (1 = ``base`` itself)."""
    if replication == 1:
        return base
    state = np.random.SeedSequence([base & 0xFFFFFFFF, replication]).generate_state(1)
    return int(state[0] & 0x7FFFFFFF)


def plan_runs(
    scenario: Scenario, regimes: Sequence[str], design: str = "random", repeat: int = 1
) -> list[RunPlan]:
    """The runs of an experiment, in the order they are made."""
    if design not in DESIGNS:
        raise ScenarioError(f"--design: unknown {design!r} (known: {', '.join(DESIGNS)})")
    if repeat < 1:
        raise ScenarioError(f"--repeat: must be >= 1, got {repeat}")
    if not regimes:
        raise ScenarioError("--regimes: at least one regime is required")
    plans = []
    for k in range(1, repeat + 1):
        seed = derive_seed(scenario.seed, k)
        if design == "random":
            label = "run" if repeat == 1 else f"r{k}"
            plans.append(RunPlan(label, k, tuple(regimes), seed, seed))
        else:
            for regime in regimes:
                label = regime if repeat == 1 else f"r{k}-{regime}"
                plans.append(RunPlan(label, k, (regime,), seed, seed))
    return plans


def plan_streams(
    scenario: Scenario,
    plans: list[RunPlan],
    options: StreamOptions | None = None,
    file_rows: list[dict[str, object]] | None = None,
) -> dict[str, list[dict[str, object]]]:
    """Every run's stream, generated (or from ``file_rows``) and validated before anything starts.

    A file's rows are used as they are in the random design, except that rows without a
    ``regime`` get one at random (seeded by the run's stream seed); in the sequential design
    every row takes the run's regime.
    """
    streams = {}
    for plan in plans:
        if file_rows is None:
            rows = generate_stream(
                scenario, list(plan.regimes), seed=plan.stream_seed, options=options
            )
        else:
            rows = _assign(file_rows, plan)
        validate_rows(rows, scenario)
        streams[plan.label] = rows
    return streams


def _assign(file_rows: list[dict[str, object]], plan: RunPlan) -> list[dict[str, object]]:
    rng = np.random.default_rng([plan.stream_seed & 0xFFFFFFFF, 0xA55])
    rows = []
    for row in file_rows:
        regime = row.get("regime")
        if len(plan.regimes) == 1 or regime in (None, ""):
            regime = plan.regimes[int(rng.integers(len(plan.regimes)))]
        rows.append({**row, "regime": regime})
    return rows


def run_scenario(scenario: Scenario, plan: RunPlan) -> Scenario:
    """The scenario a run's lab starts from: the plan's market seed."""
    return msgspec.structs.replace(scenario, seed=plan.market_seed)


def experiment_dir(runs_root: Path, scenario: Scenario, design: str, repeat: int) -> Path:
    return new_run_dir(runs_root, f"{scenario.name}-{design}x{repeat}")


def pool_tables(
    results: list[RunResult],
    design: str,
    build: Callable[[Path, RunConfig], dict[str, pd.DataFrame]],
) -> dict[str, pd.DataFrame]:
    """The runs' tables as one set: a ``run`` column everywhere, order ids prefixed with the run,
    and ``replication`` (and, for the sequential design, ``pair_key``) on ``orders``.

    A single run of the random design is returned as built (no extra columns).
    """
    built = [(result, build(result.run_dir, result.config)) for result in results]
    if len(built) == 1 and design == "random":
        return built[0][1]
    pooled: dict[str, list[pd.DataFrame]] = {}
    for result, tables in built:
        label = result.plan.label
        for name, table in tables.items():
            table = table.copy()
            if name == "orders":
                table["replication"] = result.plan.replication
                if design == "sequential":
                    table["pair_key"] = table["order_id"]
            if name in _ORDER_ID_TABLES and "order_id" in table.columns:
                table["order_id"] = f"{label}:" + table["order_id"].astype(str)
            table.insert(0, "run", label)
            pooled.setdefault(name, []).append(table)
    return {name: pd.concat(parts, ignore_index=True) for name, parts in pooled.items()}


EXPERIMENT_FILE = "experiment.json"


def write_experiment_report(
    scenario: Scenario,
    results: list[RunResult],
    design: str,
    repeat: int,
    root: Path,
    report_dir: Path,
    *,
    elapsed_s: float | None = None,
) -> dict:
    """Pool the runs' tables and write one report (``compare``, and ``report`` on an
    experiment directory); prints the regime table and every comparison's verdict."""
    regimes = list(scenario.broker.regimes)
    nested = len(results) > 1
    tables = pool_tables(results, design, build_tables)
    exit_codes = {r.plan.label: r.exit_codes for r in results}
    processes = [p | {"run": r.plan.label} if nested else p for r in results for p in r.processes]
    extra: dict[str, object] = {
        "exit_codes": exit_codes if nested else results[0].exit_codes,
        "design": design_summary(design, repeat, regimes, results),
        "run_state": run_state(
            [(r.plan.label if nested else None, r.run_dir) for r in results],
            tables["orders"],
            tables,
        ),
    }
    if elapsed_s is not None:
        extra["elapsed_s"] = round(elapsed_s, 2)
    summary = write_report(
        report_dir,
        scenario=scenario.name,
        seed=scenario.seed,
        run_dir=str(root),
        processes=processes,
        tables=tables,
        regime_order=regimes,
        burn_in_s=scenario.stream.burn_in_s,
        security=scenario.security.mode,
        extra=extra,
        arrangements=arrangements_from_scenario(scenario),
    )
    if nested:  # what `flowlab report ROOT` needs to pool the runs again, wherever --out was
        record = {k: summary[k] for k in ("design", "processes", "exit_codes")}
        (root / EXPERIMENT_FILE).write_text(json.dumps(record, indent=2))
    print_regime_table(summary)  # split to the terminal's width, never wrapped mid-number
    # on a terminal each verdict wraps between words, never inside a number
    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else 0
    for comparison in summary["comparisons"]:
        line = verdict(comparison).replace("**", "")
        if width:
            line = textwrap.fill(
                line,
                width - 2,
                subsequent_indent="  ",
                break_long_words=False,
                break_on_hyphens=False,
            )
        print(textwrap.indent(line, "  "))
    print(f"report: {report_dir / 'report.md'}  {report_dir / 'report.html'}")
    return summary


def results_from_summary(root: Path) -> tuple[Scenario, list[RunResult], str, int]:
    """Rebuild an experiment's runs from its ``experiment.json`` (for ``flowlab report``)."""
    summary = json.loads((root / EXPERIMENT_FILE).read_text())
    design = summary["design"]
    results = []
    for run in design["runs"]:
        run_dir = Path(run["run_dir"])
        if not run_dir.is_absolute() and not run_dir.exists():
            run_dir = root / run_dir.name
        config = load_run_config(run_dir / "config.toml")
        plan = RunPlan(
            run["run"],
            run["replication"],
            tuple(run["regimes"]),
            run["stream_seed"],
            run["market_seed"],
        )
        processes = [p for p in summary["processes"] if p.get("run", run["run"]) == run["run"]]
        codes = summary["exit_codes"].get(run["run"], summary["exit_codes"])
        results.append(RunResult(plan, run_dir, config, processes, codes, [{}] * run["orders"]))
    scenario = results[0].config.scenario  # type: ignore[attr-defined]
    if len(results) > 1:  # every run shares the experiment's arms
        scenario = msgspec.structs.replace(
            scenario,
            broker=msgspec.structs.replace(scenario.broker, regimes=list(design["regimes"])),
        )
    return scenario, results, design["design"], int(design["repeat"])


def design_summary(
    design: str, repeat: int, regimes: Sequence[str], results: list[RunResult]
) -> dict:
    return {
        "design": design,
        "description": DESCRIPTIONS[design],
        "repeat": repeat,
        "regimes": list(regimes),
        "runs": [r.plan.describe(len(r.rows)) | {"run_dir": str(r.run_dir)} for r in results],
    }


async def run_experiment(
    scenario: Scenario,
    plans: list[RunPlan],
    streams: dict[str, list[dict[str, object]]],
    *,
    root: Path,
    nested: bool,
    monitor: Monitor,
    settle_s: float = 0.0,
) -> list[RunResult]:
    """Run every planned lab in turn: start, inject the run's stream, let the market run on for
    ``settle_s`` (so fills' markouts mature for realized spreads), stop (always). A run aborted
    by a fault (a process died or stalled) is kept, with its faults in its run dir, and ends
    the experiment."""
    results = []
    for plan in plans:
        rows = streams[plan.label]
        run_dir = root / plan.label if nested else None
        lab = LabSupervisor(
            run_scenario(scenario, plan),
            runs_root=root,
            run_dir=run_dir,
            on_heartbeat=monitor.heartbeat,
        )
        stream = write_stream(rows, lab.run_dir / "stream.csv")
        monitor.start_run(lab, plan, len(rows))
        started = time.monotonic()
        try:
            await lab.start()
            monitor.note(
                f"[{plan.label}] lab up: {len(lab.procs)} processes ready in "
                f"{time.monotonic() - started:.1f}s; run dir {lab.run_dir}"
            )
            aborted = False
            try:
                done = await lab.inject(stream, timeout_s=scenario.stream.terminal_timeout_s)
            except LabAborted as exc:
                aborted = True
                monitor.note(f"[{plan.label}] run aborted: {str(exc).splitlines()[0]}")
            else:
                monitor.end_run(done)
                if done.timed_out:  # accepted orders that never ended: said, exit 1
                    add_unended(lab.run_dir, injection_account(done))
            if settle_s > 0 and not aborted:
                monitor.note(f"[{plan.label}] market runs on {settle_s:g}s for markouts")
                await lab.guard(asyncio.sleep(settle_s))  # a measured duration, not a handshake
        finally:
            exit_codes = await lab.stop()
        results.append(RunResult(plan, lab.run_dir, lab.config, lab.processes, exit_codes, rows))
        if aborted:
            break
    return results


def exit_code(results: list[RunResult], verb: str, *, allow_overload: bool = False) -> int:
    """0, or 1 after naming the faults of an aborted run, the processes that exited uncleanly,
    or (unless ``allow_overload``) the services of an overloaded run."""
    records = [load_faults(r.run_dir) for r in results]
    return faults_exit_code(
        records, verb, allow_overload=allow_overload, unclean=unclean_exits(results)
    )


async def run_comparison(
    scenario: Scenario,
    *,
    runs: Path,
    out: Path | None,
    design: str = "random",
    repeat: int = 1,
    live: bool = False,
    options: StreamOptions | None = None,
    stream_file: Path | None = None,
    settle_s: float = 0.0,
    stream_rows: list[dict[str, object]] | None = None,
) -> list[RunResult]:
    """``flowlab compare`` (and ``calibrate``): plan, run every lab, pool the tables, write one
    report; every run's result (``exit_code`` tells whether all ran cleanly). The stream is
    ``stream_rows`` (real arrivals), else ``stream_file``'s, else generated."""
    regimes = list(scenario.broker.regimes)
    plans = plan_runs(scenario, regimes, design, repeat)
    file_rows = stream_rows
    if file_rows is None and stream_file is not None:
        file_rows = read_stream_file(stream_file)
    # a bad stream or file fails here, before any lab starts
    streams = plan_streams(scenario, plans, options, file_rows)
    total = sum(len(rows) for rows in streams.values())
    nested = len(plans) > 1
    root = experiment_dir(runs, scenario, design, repeat) if nested else runs
    title = (
        f"flowlab compare: scenario {scenario.name!r}, regimes {', '.join(regimes)}, "
        f"design {design} x{repeat}, {total} orders, seed {scenario.seed}"
    )
    print(title + (f"; experiment dir {root}" if nested else ""), flush=True)
    started = time.monotonic()
    monitor = make_monitor(live, total, title)
    async with monitor:
        results = await run_experiment(
            scenario, plans, streams, root=root, nested=nested, monitor=monitor, settle_s=settle_s
        )
        monitor.note("writing the report")
    report_root = root if nested else results[0].run_dir
    write_experiment_report(
        scenario,
        results,
        design,
        repeat,
        report_root,
        out or report_root,
        elapsed_s=time.monotonic() - started,
    )
    return results


def unclean_exits(results: Sequence[RunResult]) -> dict[str, dict[str, int | None]]:
    """Per run, the processes that did not exit with code 0 (runs where all did: left out)."""
    unclean = {r.plan.label: {n: c for n, c in r.exit_codes.items() if c != 0} for r in results}
    return {label: codes for label, codes in unclean.items() if codes}
