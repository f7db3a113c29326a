"""``flowlab sweep``: a grid of scenario settings x replications, run as Dask tasks.

Every (point, replication) is one task (``orchestration.sweep_task``): a whole lab that a Dask
worker starts, runs and stops. By default the sweep starts a ``LocalCluster`` of worker
processes sized to this machine — one lab per ~``CORES_PER_LAB`` cores, since a lab's results
depend on the CPU it gets — and with ``address`` it submits to an existing scheduler instead
(``dask scheduler`` and ``dask worker`` on any hosts, Kubernetes, SLURM via dask-jobqueue). A
task that fails is retried once (Dask ``retries=1``), then recorded as failed with its reason; the
other points complete. The result is one directory (``docs/EXPERIMENTS.md``):

- ``results/point=<id>/rows.parquet``: one row per (point, replication, regime, metric), failed
  tasks included (status ``failed``, with the reason);
- ``order_terms/point=<id>/terms.parquet``: per-order ratio terms (the within-run interval);
- ``sweep.json``: grid, seeds, engine, scheduler, workers, every task's host, load, wall time and
  attempts, the failures; ``report.html`` (``orchestration.sweep_report``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from config.scenario import Scenario, ScenarioError, warm_start_path
from orchestration.experiment import DESIGNS, derive_seed
from orchestration.streams import StreamOptions
from orchestration.sweep_grid import SweepPoint, apply_values, scenario_data
from orchestration.sweep_progress import SweepProgress
from orchestration.sweep_report import write_sweep_report
from orchestration.sweep_task import (
    EVENT_TOPIC,
    KEEP_RUNS,
    SweepTask,
    TaskResult,
    failed_rows,
    run_task,
)

CORES_PER_LAB = 4
# integer columns that failed tasks leave empty (pandas' nullable integers keep them integers)
INTEGER_COLUMNS = (
    "stream_seed",
    "market_seed",
    "max_queue_depth",
    "orders_timed_out",
    "unclean_exits",
    "orders_refused_busy",
    "processes_late",
    "processes_restarted",
)
SWEEP_FILE = "sweep.json"


@dataclass(frozen=True)
class SweepSpec:
    """Everything ``flowlab sweep`` was asked to do."""

    scenario: Scenario
    points: list[SweepPoint]
    replications: int
    regimes: tuple[str, ...]
    design: str
    options: StreamOptions
    settle_s: float
    out: Path
    keep_runs: str = "failed"
    address: str | None = None
    workers: int | None = None
    labs_per_worker: int = 1
    live: bool = False

    def check(self) -> None:
        if self.design not in DESIGNS:
            raise ScenarioError(f"--design: unknown {self.design!r} (known: {', '.join(DESIGNS)})")
        if self.replications < 1:
            raise ScenarioError(f"--replications: must be >= 1, got {self.replications}")
        if self.keep_runs not in KEEP_RUNS:
            raise ScenarioError(f"--keep-runs: one of {', '.join(KEEP_RUNS)}")
        if self.labs_per_worker < 1 or (self.workers is not None and self.workers < 1):
            raise ScenarioError("--workers and --labs-per-worker: must be >= 1")
        if len(self.regimes) < 2:
            raise ScenarioError("--regimes: a sweep compares at least two regimes")
        data = scenario_data(self.scenario)
        for point in self.points:  # every point's warm start, before any lab starts (a value
            # the loader refuses fails its task instead: retried once, then recorded failed)
            warm = apply_values(data, point.values)["dealers"]["warm_start"]
            if warm and not warm_start_path(warm).is_file():
                raise ScenarioError(
                    f"--set dealers.warm_start: point {point.point}: no such file "
                    f"{warm_start_path(warm)}"
                )


def default_workers(labs_per_worker: int = 1, cores: int | None = None) -> int:
    """Workers of the default ``LocalCluster``: one lab per ``CORES_PER_LAB`` cores, at least 1."""
    cores = cores or os.cpu_count() or 1
    return max(1, cores // (CORES_PER_LAB * labs_per_worker))


def plan_tasks(spec: SweepSpec) -> list[SweepTask]:
    """Every task, replication-major: replication 1 of every point comes first, so that an
    interrupted sweep has covered the grid evenly."""
    data = scenario_data(spec.scenario)
    runs_root = str((spec.out / "runs").resolve())
    return [
        SweepTask(
            point,
            r,
            data,
            spec.regimes,
            spec.design,
            spec.options,
            spec.settle_s,
            runs_root,
            spec.keep_runs,
        )
        for r in range(1, spec.replications + 1)
        for point in spec.points
    ]


@contextlib.contextmanager
def open_client(spec: SweepSpec) -> Iterator[tuple[Any, dict[str, Any]]]:
    """A Dask client: on ``spec.address``, or on a new ``LocalCluster`` of worker processes
    (``labs_per_worker`` threads each, so that many labs at once per worker)."""
    try:
        import dask
        import distributed
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ScenarioError(
            "needs Dask distributed: pip install 'flowlab[cluster]' (dask[distributed])"
        ) from exc
    engine = {"engine": "dask.distributed", "engine_version": distributed.__version__}
    if spec.address:
        with Client(spec.address, timeout="30s") as client:
            yield client, {**engine, "cluster": "existing", "scheduler": spec.address}
        return
    workers = spec.workers or default_workers(spec.labs_per_worker)
    # hand a worker no more labs than it has threads: a queued lab could start elsewhere sooner
    with (
        dask.config.set({"distributed.scheduler.worker-saturation": 1.0}),
        LocalCluster(
            n_workers=workers,
            threads_per_worker=spec.labs_per_worker,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.CRITICAL,  # failures are reported by the sweep, once
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client, {**engine, "cluster": "LocalCluster", "scheduler": cluster.scheduler_address}


def run_sweep(spec: SweepSpec) -> dict[str, Any]:
    """Run every task, write the dataset, ``sweep.json`` and the report; the sweep record."""
    spec.check()
    tasks = plan_tasks(spec)
    spec.out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open_client(spec) as (client, engine):
        workers = [
            {"address": address, "host": w.get("host"), "nthreads": w.get("nthreads")}
            for address, w in client.scheduler_info()["workers"].items()
        ]
        print(
            f"flowlab sweep: {len(spec.points)} points x {spec.replications} replications = "
            f"{len(tasks)} labs on {engine['cluster']} {engine['scheduler']} "
            f"({len(workers)} workers); out {spec.out}",
            flush=True,
        )
        futures = {
            client.submit(
                run_task, t, key=f"flowlab-sweep-{t.key}-{os.getpid()}", retries=1, pure=False
            ): t
            for t in tasks
        }
        with SweepProgress(client, list(futures), live=spec.live) as progress:
            progress.wait()
        results, failures = _collect(client, futures)
    elapsed = time.monotonic() - started
    rows = [row for r in results for row in r.rows]
    rows += [row for f in failures for row in failed_rows(f.task, f.reason, f.attempts)]
    frame = pd.DataFrame(rows).astype({c: "Int64" for c in INTEGER_COLUMNS})
    _write_partitioned(frame, spec.out / "results", "rows.parquet")
    terms = [r.order_terms for r in results]
    if terms:
        _write_partitioned(
            pd.concat(terms, ignore_index=True), spec.out / "order_terms", "terms.parquet"
        )
    record = _record(spec, engine, workers, results, failures, elapsed)
    analysis = write_sweep_report(spec.out, frame, pd.concat(terms) if terms else None, record)
    record["report"] = "report.html"
    (spec.out / SWEEP_FILE).write_text(json.dumps(record, indent=2, default=str) + "\n")
    return {**record, "analysis": analysis}


@dataclass(frozen=True)
class TaskFailure:
    """A task that failed every attempt: its reason (the last error's first line) and the
    attempts the workers reported (host and reason of each)."""

    task: SweepTask
    reason: str
    attempts: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task.key,
            "point": self.task.point.point,
            "values": self.task.point.values,
            "replication": self.task.replication,
            "reason": self.reason,
            "attempts": len(self.attempts),
            "hosts": sorted({str(a["host"]) for a in self.attempts}),
            "run_dir": str(self.task.run_dir) if self.task.run_dir.exists() else None,
        }


def _collect(
    client: Any, futures: dict[Any, SweepTask]
) -> tuple[list[TaskResult], list[TaskFailure]]:
    """Finished tasks' results, and every failed task with its reason and attempts."""
    attempts: dict[str, list[dict[str, Any]]] = {}
    for _stamp, event in client.get_events(EVENT_TOPIC):
        attempts.setdefault(event["task"], []).append(event)
    results, failures = [], []
    for future, task in futures.items():
        tried = attempts.get(task.key, [])
        if future.status == "finished":
            result = future.result()
            result.info["attempts"] = max(1, len(tried))
            results.append(result)
        else:
            exc = future.exception()
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
            failures.append(TaskFailure(task, reason, tried))
    return results, failures


def _write_partitioned(frame: pd.DataFrame, root: Path, name: str) -> None:
    """``root/point=<id>/<name>``, one file per point. Text columns are written as strings even
    where a point has none (a failed point's health, an ok point's reason), so that every file
    has the same schema and the directory reads back as one table."""
    text = [c for c in frame.columns if frame[c].dtype == object]
    frame = frame.astype({c: "string" for c in text})
    for point, part in frame.groupby("point", sort=True):
        folder = root / f"point={point}"
        folder.mkdir(parents=True, exist_ok=True)
        part.drop(columns="point").to_parquet(folder / name, index=False)


def _record(
    spec: SweepSpec,
    engine: dict[str, Any],
    workers: list[dict[str, Any]],
    results: list[TaskResult],
    failures: list[TaskFailure],
    elapsed_s: float,
) -> dict[str, Any]:
    seed = spec.scenario.seed
    return {
        **engine,
        "workers": workers,
        "labs_per_worker": spec.labs_per_worker,
        "command": " ".join(sys.argv),
        "scenario": spec.scenario.name,
        "base_seed": seed,
        "design": spec.design,
        "regimes": list(spec.regimes),
        "replications": spec.replications,
        "orders": spec.options.orders,
        "rate_per_s": spec.options.rate_per_s,
        "settle_s": spec.settle_s,
        "keep_runs": spec.keep_runs,
        "grid": {
            "keys": {
                k: sorted({repr(p.values[k]) for p in spec.points}) for k in spec.points[0].values
            },
            "points": [{"point": p.point, "values": p.values} for p in spec.points],
        },
        "seeds": [
            {
                "replication": r,
                "stream_seed": derive_seed(seed, r),
                "market_seed": derive_seed(seed, r),
            }
            for r in range(1, spec.replications + 1)
        ],
        "common_random_numbers": "replication r of every point uses the same stream and market "
        "seeds, derived from the base seed and r only",
        "tasks": [{**r.info} for r in results],
        "failures": [f.to_dict() for f in failures],
        "elapsed_s": round(elapsed_s, 1),
        "dataset": "results/",
    }
