"""``flowlab sweep`` end to end: real labs as tasks on a real Dask LocalCluster of 2 workers."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from config.runconfig import load_run_config
from orchestration.sweep_task import SWEEP_METRICS
from orchestration.tape import build_tables

SMALL = ["--orders", "100", "--rate", "100", "--settle", "0.5", "--regimes", "pfof,auction"]


def sweep(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "orchestration.cli", "sweep", *args, *SMALL]
    command += ["--workers", "2", "--out", str(out), "--no-live"]
    return subprocess.run(command, capture_output=True, text=True, timeout=240)


def processes_under(path: Path) -> list[str]:
    """Command lines of live processes that mention ``path`` (a lab left running would)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(path) in text:
            found.append(text)
    return found


@pytest.mark.timeout(300)
def test_sweep_two_points_two_replications_writes_one_dataset(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    done = sweep(out, "--set", "agents.auction_responders.count=0,2", "--replications", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    rows = pd.read_parquet(out / "results")
    assert set(rows["status"]) == {"ok"}
    for metric in SWEEP_METRICS:  # 2 points x 2 replications x 2 regimes
        assert len(rows[rows["metric"] == metric]) == 8
    assert sorted(rows["point"].astype(str).unique()) == ["p00", "p01"]
    # common random numbers: replication r has the same seeds at every point
    seeds = rows.groupby("replication")[["stream_seed", "market_seed"]].nunique()
    assert (seeds == 1).all().all()
    assert rows["host"].notna().all() and (rows["wall_s"] > 0).all()
    assert rows["latency_client_broker_p99_ms"].notna().all()
    record = json.loads((out / "sweep.json").read_text())
    assert record["engine"] == "dask.distributed" and record["engine_version"]
    assert record["cluster"] == "LocalCluster" and len(record["workers"]) == 2
    assert len(record["tasks"]) == 4 and record["failures"] == []
    assert all(task["host"] and task["wall_s"] > 0 for task in record["tasks"])
    report = (out / "report.html").read_text()
    assert "Unit of resampling: the replication" in report and "Holm" in report
    assert {p.name for p in (out / "plots").glob("*.png")} == {
        f"{m}__auction_minus_pfof.png" for m in SWEEP_METRICS
    }
    assert "significance not assessed: 2 replications < 5" in done.stdout
    # --keep-runs failed (the default): no task failed, so no task's run dir is left; an attempt
    # that failed before its retry succeeded (a lab starved on 2 cores, say) keeps its own dir
    left = sorted(str(p.relative_to(out / "runs")) for p in (out / "runs").glob("p*/r*"))
    retried = sum(t["attempts"] - 1 for t in record["tasks"])
    assert len(left) == retried and all(re.fullmatch(r"p0[01]/r[12]\.attempt-1", d) for d in left)
    assert not rows["run_dir_kept"].any()
    assert processes_under(tmp_path) == []


@pytest.mark.timeout(300)
def test_sweep_invalid_value_is_retried_then_reported_failed(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    done = sweep(
        out, "--set", "auction.window_ms=100,5", "--replications", "1", "--keep-runs", "all"
    )
    assert done.returncode == 1
    record = json.loads((out / "sweep.json").read_text())
    [failure] = record["failures"]
    assert failure["task"] == "p01-r1" and failure["attempts"] == 2
    assert "auction.window_ms" in failure["reason"] and "ScenarioError" in failure["reason"]
    assert [task["task"] for task in record["tasks"]] == ["p00-r1"]  # the other point completed
    rows = pd.read_parquet(out / "results")
    failed = rows[rows["status"] == "failed"]
    assert set(failed["point"].astype(str)) == {"p01"} and failed["reason"].notna().all()
    ok = rows[(rows["status"] == "ok") & (rows["metric"] == "fill_rate")]
    assert len(ok) == 2 and ok["run_dir_kept"].all()
    # --keep-runs all: the dataset reaches the lab's run dir, its tape kept compressed and
    # readable as it is (the orders the task measured are on it)
    lab = Path(ok["run_dir"].iloc[0]) / "lab"
    assert (lab / "tape.msgpack.gz").is_file() and not (lab / "tape.msgpack").exists()
    tables = build_tables(lab, load_run_config(lab / "config.toml"))
    assert len(tables["orders"]) >= int(ok["orders"].sum()) > 0  # the burn-in's on the tape too
    assert "FAILED p01-r1 after 2 attempts" in done.stdout
    assert processes_under(tmp_path) == []
