"""One task of a sweep, as a Dask worker runs it: a whole lab for one (point, replication).

The task validates its point's scenario (a value the scenario refuses fails the task with the
loader's one-line error), starts its own lab (its own free ports, chosen across processes by
``orchestration.endpoints``, and its own run directory, ``RUNS/<point>/r<k>``), runs the
replication's stream through every arm of the design, stops the lab and returns small rows: per
regime and metric the value with its numerator and denominator (what the replication-level
bootstrap needs), the per-order ratio terms (for the within-run interval), and the task's
host, load and timing health. Seeds depend on the base seed and the replication only
(``experiment.plan_runs``), never on the point: common random numbers.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pandas as pd

from orchestration.experiment import (
    derive_seed,
    plan_runs,
    plan_streams,
    pool_tables,
    run_experiment,
)
from orchestration.faults import load_faults, recovered
from orchestration.launcher import LabError
from orchestration.metrics import RATIO_METRICS, _group_metrics, after_burn_in, order_table
from orchestration.run_plan import RunPlan
from orchestration.streams import StreamOptions
from orchestration.sweep_grid import SweepPoint, point_scenario
from orchestration.tape import TAPE_FILE, build_tables, compress_tape

log = logging.getLogger(__name__)

# The metrics a sweep records for every (point, replication, regime); the ratio ones carry
# their numerator and denominator, time to execution its per-run value (denominator 1).
SWEEP_METRICS = (
    "price_improvement_usd_per_share",
    "eq_ratio",
    "effective_spread_bps",
    "fill_rate",
    "all_in_cost_usd_per_share",
    "time_to_execution_ms_p50",
)
KEEP_RUNS = ("all", "failed", "none")
EVENT_TOPIC = "flowlab-sweep"
_TERM_COLUMNS = sorted(
    {c for m in SWEEP_METRICS if m in RATIO_METRICS for c in RATIO_METRICS[m][:2]}
)


@dataclass(frozen=True, slots=True)
class SweepTask:
    """What a worker needs to run one replication of one point (small, picklable)."""

    point: SweepPoint
    replication: int
    scenario: dict[str, Any]  # the base scenario as a plain dict (``sweep_grid.scenario_data``)
    regimes: tuple[str, ...]
    design: str
    options: StreamOptions
    settle_s: float
    runs_root: str
    keep_runs: str = "failed"

    @property
    def key(self) -> str:
        return f"{self.point.point}-r{self.replication}"

    @property
    def run_dir(self) -> Path:
        return Path(self.runs_root) / self.point.point / f"r{self.replication}"


@dataclass
class TaskResult:
    """A finished task: its metric rows, per-order terms and where and how it ran."""

    key: str
    rows: list[dict[str, Any]]
    order_terms: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)


class TaskMonitor:
    """A quiet ``Monitor``: notes into the task's log, the injectors' accounts, the deepest
    delay queue any process reported in its heartbeats."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.done: list[Any] = []
        self.max_queue_depth = 0

    def start_run(self, lab: object, plan: RunPlan, orders: int) -> None:
        self.note(f"[{plan.label}] starting: {orders} orders")

    def heartbeat(self, proc: Any) -> None:
        self.max_queue_depth = max(self.max_queue_depth, int(proc.counters.get("queue.depth", 0)))

    def end_run(self, done: object) -> None:
        self.done.append(done)

    def note(self, text: str) -> None:
        with self.log_path.open("a") as out:
            out.write(text + "\n")


def run_task(task: SweepTask) -> TaskResult:
    """Run the task's lab and return its rows; on failure log the attempt (host, reason) as a
    Dask event, apply ``keep_runs`` and raise (Dask retries once, then records the error)."""
    host = socket.gethostname()
    try:
        return _run(task, host)
    except Exception as exc:
        _log_event(task, host, f"{type(exc).__name__}: {exc}")
        if task.keep_runs == "none":
            _remove(task.run_dir)
        elif task.run_dir.exists():
            with contextlib.suppress(OSError):
                _compress_tapes(task.run_dir)
        raise


def _run(task: SweepTask, host: str) -> TaskResult:
    scenario = point_scenario(task.scenario, task.point)  # a refused value fails here
    broker = msgspec.structs.replace(scenario.broker, regimes=list(task.regimes))
    scenario = msgspec.structs.replace(scenario, broker=broker)
    root = _fresh_dir(task.run_dir)
    monitor = TaskMonitor(root / "task.log")
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    plans = [
        _relabel(p, task.design)
        for p in plan_runs(scenario, task.regimes, task.design, task.replication)
    ]
    plans = [p for p in plans if p.replication == task.replication]
    streams = plan_streams(scenario, plans, task.options)
    results = asyncio.run(
        run_experiment(
            scenario,
            plans,
            streams,
            root=root,
            nested=True,
            monitor=monitor,
            settle_s=task.settle_s,
        )
    )
    wall_s = time.monotonic() - started
    every_fault = [f for r in results for f in load_faults(r.run_dir)["faults"]]
    # a broken lab is a failed task, not a data point; one the restart policy recovered is
    # kept, its restarts counted (``processes_restarted``)
    faults = [f for f in every_fault if not recovered(f)]
    if faults or len(results) < len(plans):
        named = "; ".join(f"{f['name']} ({f['role']}) {f['detail']}" for f in faults)
        raise LabError(f"run aborted: {named or 'a run did not complete'}")
    tables = pool_tables(results, task.design, build_tables)
    orders = after_burn_in(tables["orders"], scenario.stream.burn_in_s)
    fills = tables["fills"][tables["fills"]["order_id"].isin(orders["order_id"])]
    per_order = order_table(orders, fills, tables.get("nbbo"))
    per_order["replication"] = task.replication
    info = {
        "task": task.key,
        "point": task.point.point,
        "replication": task.replication,
        "host": host,
        "wall_s": round(wall_s, 3),
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "run_dir": str(root),
        "stream_seed": plans[0].stream_seed,
        "market_seed": plans[0].market_seed,
        **timing_health(
            tables,
            monitor,
            [r.exit_codes for r in results],
            [o for r in results for o in load_faults(r.run_dir)["overloads"]],
            sum(len(load_faults(r.run_dir)["late"]) for r in results),
            len(every_fault),
        ),
        "run_dir_kept": task.keep_runs == "all",
    }
    rows = metric_rows(per_order, task, info)
    terms = per_order[["regime", "replication", "pair_key", *_TERM_COLUMNS]].copy()
    terms.insert(0, "point", task.point.point)
    _log_event(task, host, None)
    if info["run_dir_kept"]:
        info["tape_bytes"], info["tape_bytes_compressed"] = _compress_tapes(root)
    else:
        _remove(root)
    return TaskResult(task.key, rows, terms, info)


def _compress_tapes(root: Path) -> tuple[int, int]:
    """Gzip every finished tape under a kept run dir (``read_tape`` reads them as they are):
    a raw tape is ~3 MB per 400-order lab. Returns the bytes before and after."""
    before = after = 0
    for tape in sorted(root.rglob(TAPE_FILE)):
        raw, packed = compress_tape(tape.parent)
        before, after = before + raw, after + packed
    return before, after


def metric_rows(
    per_order: pd.DataFrame, task: SweepTask, info: dict[str, Any]
) -> list[dict[str, Any]]:
    """One row per (regime, metric): value, numerator, denominator, scale, and the task's info."""
    grouped = per_order.groupby("regime", sort=False)
    sums = grouped[_TERM_COLUMNS].sum()
    values = _group_metrics(per_order, ["regime"])
    values_by_regime: dict[Any, dict[Any, Any]] = values.to_dict(orient="index")
    sums_by_regime: dict[Any, dict[Any, Any]] = sums.to_dict(orient="index")
    nan = float("nan")
    rows = []
    for regime in task.regimes:
        for metric in SWEEP_METRICS:
            value = float(values_by_regime.get(regime, {}).get(metric, nan))
            if metric in RATIO_METRICS:
                top, bottom, scale = RATIO_METRICS[metric]
                numerator = float(sums_by_regime.get(regime, {}).get(top, nan))
                denominator = float(sums_by_regime.get(regime, {}).get(bottom, nan))
            else:
                numerator, denominator, scale = value, 1.0, 1.0
            rows.append(
                {
                    **task.point.values,
                    "regime": regime,
                    "metric": metric,
                    "value": value,
                    "numerator": numerator,
                    "denominator": denominator,
                    "scale": scale,
                    "orders": int(grouped.size().get(regime, 0)),
                    "status": "ok",
                    "reason": None,
                    **info,
                }
            )
    return rows


def failed_rows(
    task: SweepTask, reason: str, attempts: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The rows of a task that failed (value NaN, its reason): kept in the dataset, not dropped."""
    last = attempts[-1] if attempts else {}
    return [
        {
            **task.point.values,
            "regime": regime,
            "metric": metric,
            "value": float("nan"),
            "numerator": float("nan"),
            "denominator": float("nan"),
            "scale": float("nan"),
            "orders": 0,
            "status": "failed",
            "reason": reason,
            "task": task.key,
            "point": task.point.point,
            "replication": task.replication,
            "host": last.get("host"),
            "run_dir": str(task.run_dir) if task.run_dir.exists() else None,
            "run_dir_kept": task.run_dir.exists(),
            "stream_seed": derive_seed(int(task.scenario["seed"]), task.replication),
            "market_seed": derive_seed(int(task.scenario["seed"]), task.replication),
            # the lab's health, unknown for a lab that never finished
            "max_queue_depth": None,
            "orders_timed_out": None,
            "unclean_exits": None,
            "orders_refused_busy": None,
            "processes_late": None,
            "processes_restarted": None,
        }
        for regime in task.regimes
        for metric in SWEEP_METRICS
    ]


def timing_health(
    tables: dict[str, pd.DataFrame],
    monitor: TaskMonitor,
    exit_codes: list[dict[str, int | None]],
    overloads: list[dict[str, Any]],
    late: int = 0,
    restarted: int = 0,
) -> dict[str, Any]:
    """How well the lab kept time: hop latencies (p50/p99 ms), the share of NBBO updates locked
    or crossed, the deepest delay queue, orders that timed out, processes that exited uncleanly,
    processes that were late on a contended machine (silent but working), processes the restart
    policy restarted (the run recovered: kept, said), orders refused busy
    (an overloaded lab, docs/RELIABILITY.md: kept as a data point, named)."""
    health: dict[str, Any] = {}
    latency = tables.get("latency")
    for hop in ("client->broker", "destination->broker"):
        ns = latency.loc[latency["hop"] == hop, "ns"] if latency is not None else pd.Series([])
        name = hop.replace("->", "_").replace("-", "_")
        for q in (50, 99):
            value = float(ns.quantile(q / 100)) / 1e6 if len(ns) else None
            health[f"latency_{name}_p{q}_ms"] = value
    nbbo = tables.get("nbbo")
    if nbbo is not None and len(nbbo):
        health["nbbo_locked_crossed_share"] = float((nbbo["locked"] | nbbo["crossed"]).mean())
    else:
        health["nbbo_locked_crossed_share"] = None
    health["max_queue_depth"] = monitor.max_queue_depth
    health["orders_timed_out"] = sum(int(getattr(d, "timed_out", 0)) for d in monitor.done)
    health["unclean_exits"] = sum(c != 0 for codes in exit_codes for c in codes.values())
    health["orders_refused_busy"] = sum(int(o["busy"]) for o in overloads)
    health["overloaded"] = ", ".join(sorted({str(o["name"]) for o in overloads}))
    health["processes_late"] = late
    health["processes_restarted"] = restarted
    return health


def _remove(run_dir: Path) -> None:
    """Delete a task's run dir, and its point's folder once that is empty."""
    shutil.rmtree(run_dir, ignore_errors=True)
    with contextlib.suppress(OSError):
        run_dir.parent.rmdir()


def _relabel(plan: RunPlan, design: str) -> RunPlan:
    """Run dirs named for what they hold: ``lab`` (random design) or the regime (sequential)."""
    label = "lab" if design == "random" else plan.regimes[0]
    return dataclasses.replace(plan, label=label)


def _fresh_dir(path: Path) -> Path:
    """``path``, empty; a previous attempt's directory is moved aside (``r1.attempt-1``)."""
    if path.exists():
        n = 1
        while path.with_name(f"{path.name}.attempt-{n}").exists():
            n += 1
        path.rename(path.with_name(f"{path.name}.attempt-{n}"))
    path.mkdir(parents=True)
    return path


def _log_event(task: SweepTask, host: str, reason: str | None) -> None:
    """Tell the scheduler how this attempt ended (``Client.get_events(EVENT_TOPIC)``): the
    driver counts attempts and keeps every failure's reason from it. Outside a worker: nothing."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return
    event = {"task": task.key, "host": host, "ok": reason is None, "reason": reason}
    worker.log_event(EVENT_TOPIC, event)
