"""Start-up, supervision and shutdown: no orphan process after a crash, a kill, or Ctrl-C."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from config.scenario import load_scenario
from orchestration.launcher import LabError, LabSupervisor
from tests.helpers import pid_alive, wait_until

TINY = Path(__file__).with_name("scenarios") / "tiny.toml"


def _children_of(pid: int) -> list[int]:
    """Live (non-zombie) children of ``pid``, read from /proc."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            children.append(int(stat.parent.name))
    return children


async def test_lab_service_crash_fails_lab_naming_it_and_stops_everything(tmp_path: Path) -> None:
    lab = LabSupervisor(load_scenario(TINY), runs_root=tmp_path)
    await lab.start()
    victim = lab.procs["lit-b"]
    pids = [p.pid for p in lab.procs.values()]

    os.kill(victim.pid, signal.SIGKILL)
    with pytest.raises(LabError, match="lit-b"):
        await lab.guard(asyncio.sleep(30))
    await lab.stop()

    assert not [pid for pid in pids if pid_alive(pid)]
    others = {n: p.exit_code for n, p in lab.procs.items() if n != "lit-b"}
    assert all(code == 0 for code in others.values()), others


async def test_lab_stop_twice_is_harmless(tmp_path: Path) -> None:
    lab = LabSupervisor(load_scenario(TINY), runs_root=tmp_path)
    await lab.start()

    first = await lab.stop()
    second = await lab.stop()

    assert first == second and all(code == 0 for code in first.values())


def _start_foreground_lab(tmp_path: Path) -> tuple[subprocess.Popen, dict]:
    run_dir = tmp_path / "lab"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "orchestration.cli",
            "up",
            "--foreground",
            "--scenario",
            str(TINY),
            "--run-dir",
            str(run_dir),
            "--runs",
            str(tmp_path / "runs"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert wait_until(lambda: (run_dir / "lab.json").exists(), timeout=60), "lab did not come up"
    return proc, json.loads((run_dir / "lab.json").read_text())


def test_orchestrator_killed_leaves_no_orphan(tmp_path: Path) -> None:
    proc, info = _start_foreground_lab(tmp_path)
    pids = [p["pid"] for p in info["processes"]]
    assert pids and all(pid_alive(p) for p in pids)

    proc.kill()
    proc.wait(timeout=10)

    assert wait_until(lambda: not any(pid_alive(p) for p in pids), timeout=20), [
        p for p in pids if pid_alive(p)
    ]


def test_orchestrator_interrupted_stops_every_process_cleanly(tmp_path: Path) -> None:
    proc, info = _start_foreground_lab(tmp_path)
    pids = [p["pid"] for p in info["processes"]]

    proc.send_signal(signal.SIGINT)
    code = proc.wait(timeout=60)

    assert code in (0, 130)
    assert not [p for p in pids if pid_alive(p)]
    assert not _children_of(proc.pid)
