"""One published lab per runs root; a dead lab told from a live or a stopped one (issue 13 item 6).

A real process holds the locks here (``flock`` is the point, so nothing is faked): it claims the
root and publishes a ``lab.json`` as an orchestrator does, and is then killed or stopped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.runconfig import write_run_config
from config.scenario import load_scenario
from orchestration import cli, commands
from orchestration.endpoints import resolve_loopback
from orchestration.faults import add_overloads, overload_of, write_faults
from orchestration.labfile import (
    LAB_FILE,
    LabRunning,
    LabState,
    claim_root,
    find_labs,
    read_lab,
    root_holder,
)
from services.security import create_keys

HOLDER = """
import sys, time
from pathlib import Path
from orchestration.labfile import claim_root, publish, record_holder
root, run_dir = Path(sys.argv[1]), Path(sys.argv[2])
claim = claim_root(root)
record_holder(claim, run_dir)
lab = publish(run_dir, {"pid": __import__("os").getpid(), "control": "", "processes": []})
print("ready", flush=True)
time.sleep(60)
"""


class Orchestrator:
    """A process that holds a runs root and a ``lab.json`` like a running ``flowlab up``."""

    def __init__(self, root: Path, run_dir: Path) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        config = resolve_loopback(load_scenario(), run_dir)
        write_run_config(config, run_dir / "config.toml")
        create_keys(config)  # the operator's key, for status to ask with
        self.run_dir = run_dir
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(root), str(run_dir)], stdout=subprocess.PIPE
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline() == b"ready\n"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)

    def close(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGCONT)
            self.kill()
        assert self.proc.stdout is not None
        self.proc.stdout.close()


@pytest.fixture
def orchestrator(tmp_path: Path) -> Iterator[Orchestrator]:
    holder = Orchestrator(tmp_path / "runs", tmp_path / "runs" / "lab-1")
    (tmp_path / "runs" / "current").symlink_to(holder.run_dir)
    yield holder
    holder.close()


def test_claim_root_while_a_lab_runs_refuses_naming_it_and_its_pid(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    with pytest.raises(LabRunning) as info:
        claim_root(tmp_path / "runs")

    assert str(orchestrator.run_dir) in str(info.value)
    assert f"pid {orchestrator.pid}" in str(info.value)


def test_up_while_a_lab_runs_exits_1_naming_it_and_makes_no_run_dir(
    orchestrator: Orchestrator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["up", "--runs", str(tmp_path / "runs")])

    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(f"flowlab up: a lab is already running under {tmp_path / 'runs'}: ")
    assert f"{orchestrator.run_dir} (orchestrator pid {orchestrator.pid})" in err
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [
        ".lab.lock",
        "current",
        "lab-1",
    ]


def test_killed_orchestrator_leaves_a_dead_lab_and_frees_the_root(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    assert read_lab(orchestrator.run_dir).state is LabState.RUNNING  # type: ignore[union-attr]

    orchestrator.kill()

    entry = read_lab(orchestrator.run_dir)
    assert entry is not None and entry.state is LabState.DEAD
    assert entry.pid == orchestrator.pid
    assert root_holder(tmp_path / "runs") is None
    claim_root(tmp_path / "runs").close()  # a new lab may start


def test_status_of_a_dead_lab_says_dead_and_down_removes_its_stale_lab_json(
    orchestrator: Orchestrator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = str(tmp_path / "runs")
    orchestrator.kill()

    status = cli.main(["status", "--runs", runs])
    status_err = capsys.readouterr().err
    inject = cli.main(["inject", "--runs", runs])
    inject_err = capsys.readouterr().err
    down = cli.main(["down", "--runs", runs])
    down_out = capsys.readouterr().out

    assert status == 1 and inject == 1
    for err in (status_err, inject_err):
        assert f"is dead: its orchestrator (pid {orchestrator.pid}) is gone" in err
        assert f"stale {LAB_FILE}" in err
    assert down == 0 and "removed its stale lab.json" in down_out
    assert not (orchestrator.run_dir / LAB_FILE).exists()


@pytest.mark.parametrize(
    ("flags", "code"), [([], 1), (["--allow-overload"], 0)], ids=["refused", "allowed"]
)
def test_down_of_an_overloaded_lab_exits_1_naming_it_unless_allowed(
    orchestrator: Orchestrator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    flags: list[str],
    code: int,
) -> None:
    counters = {"busy.refused": 7, "busy.pending_peak": 12, "busy.pending_bound": 12}
    overload = overload_of("broker", "broker", counters, queued_bound=20_000, lag_bound_ms=2_000)
    assert overload is not None
    add_overloads(orchestrator.run_dir, [overload])  # what the orchestrator writes at stop
    orchestrator.kill()

    down = cli.main(["down", "--runs", str(tmp_path / "runs"), "--no-report", *flags])
    err = capsys.readouterr().err

    assert down == code
    assert "flowlab down: run overloaded: broker (broker) refused 7 orders busy" in err


def test_down_of_an_aborted_lab_exits_1_naming_the_fault(
    orchestrator: Orchestrator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fault = {"name": "wh-a", "role": "wholesaler", "pid": 4242, "kind": "exited"}
    write_faults(orchestrator.run_dir, [fault | {"detail": "exited with code -9"}], None, [])
    orchestrator.kill()

    down = cli.main(["down", "--runs", str(tmp_path / "runs"), "--no-report", "--allow-overload"])

    assert down == 1
    assert "run aborted: wh-a (wholesaler, pid 4242) exited with code -9" in capsys.readouterr().err


@pytest.mark.parametrize("stopped", [False, True], ids=["slow", "sigstop"])
def test_status_of_a_live_lab_that_does_not_answer_says_alive_not_dead(
    orchestrator: Orchestrator,
    tmp_path: Path,
    stopped: bool,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(commands, "STATUS_TIMEOUT_S", 0.2)
    if stopped:
        os.kill(orchestrator.pid, signal.SIGSTOP)

    code = cli.main(["status", "--runs", str(tmp_path / "runs")])

    err = capsys.readouterr().err
    assert code == 1
    why = "stopped (SIGSTOP?)" if stopped else "alive: slow or stuck"
    assert f"the lab at {orchestrator.run_dir} is {why}, pid {orchestrator.pid}" in err
    assert "did not answer in 0.2s" in err


def test_status_all_lists_running_and_dead_labs(
    orchestrator: Orchestrator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dead = Orchestrator(tmp_path / "other-root", tmp_path / "runs" / "lab-0")
    dead.kill()
    dead.close()

    code = cli.main(["status", "--all", "--runs", str(tmp_path / "runs")])

    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert lines[0].split() == ["state", "pid", "processes", "run", "dir"]
    assert lines[1].split() == [
        "running",
        str(orchestrator.pid),
        "0",
        str(orchestrator.run_dir),
        "(current)",
    ]
    assert lines[2].split() == ["dead", str(dead.pid), "0", str(dead.run_dir)]
    assert [e.state for e in find_labs(tmp_path / "runs")] == [LabState.RUNNING, LabState.DEAD]


def test_status_all_without_labs_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["status", "--all", "--runs", str(tmp_path)])

    assert code == 0
    assert capsys.readouterr().out == f"no lab under {tmp_path}\n"
