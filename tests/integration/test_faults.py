"""Every accepted order ends, and a broken run says so (issue 13 item 3).

``flowlab compare`` runs as a user runs it; mid-stream (orders on the tape) one of its processes
is killed with SIGKILL. The run must end every order the broker received within the injector's
settling bound, exit non-zero naming the fault, and write a readable report whose
``summary.json`` and ``report.md`` say ``aborted`` with the service, the time and the open
orders.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import zmq
import zmq.asyncio

from orchestration.launcher import LabSupervisor
from orchestration.tape import read_tape
from protocol.orders import (
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderReceived,
    OrderRejected,
    OrderRouted,
    ParentCompleted,
)
from tests.helpers import Client, pid_alive, wait_until
from tests.integration.test_sor_book import CHILD_TIMEOUT_MS, parent, sor_test_scenario

TINY = Path(__file__).with_name("scenarios") / "tiny.toml"
RECEIVED_BEFORE_KILL = 20


def _pid_of(run_dir: Path, name: str) -> int | None:
    """The pid of service ``name`` of the lab in ``run_dir`` (from /proc, as a user finds it)."""
    config = str(run_dir / "config.toml")
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        role_process = b"service" in args or b"services.main" in args  # flowlab / launcher
        if role_process and config.encode() in args and name.encode() in args:
            return int(cmdline.parent.name)
    return None


def _received(run_dir: Path) -> int:
    return sum(isinstance(m, OrderReceived) for _, _, m in read_tape(run_dir))


def _compare_with_a_signal(
    scenario: Path,
    orders: int,
    runs: Path,
    victim: str,
    sig: signal.Signals,
    *,
    resume: bool = True,
) -> tuple[subprocess.Popen[str], str, Path, int, int]:
    """Run ``flowlab compare`` on ``scenario`` (``orders`` at 100/s) as a user does and, once
    orders are on the tape, send ``victim`` ``sig`` (with ``resume``, a SIGSTOP is undone with
    SIGCONT once the stall is recorded, so the process can stop cleanly). Returns the finished
    process, its stderr, the run dir, the victim's pid and when it was signalled."""
    compare = subprocess.Popen(
        [
            *[sys.executable, "-m", "orchestration.cli", "compare", "--scenario", str(scenario)],
            *["--orders", str(orders), "--rate", "100", "--runs", str(runs), "--no-live"],
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_until(lambda: any(runs.glob("*/logs/injector.log")), timeout=90)
        (run_dir,) = runs.glob("*-tiny")
        assert wait_until(lambda: _received(run_dir) >= RECEIVED_BEFORE_KILL, timeout=30)
        pid = _pid_of(run_dir, victim)
        assert pid is not None
        signalled_ns = time.time_ns()
        os.kill(pid, sig)
        if sig == signal.SIGSTOP and resume:
            assert wait_until(lambda: (run_dir / "faults.json").exists(), timeout=30)
            os.kill(pid, signal.SIGCONT)
        _out, err = compare.communicate(timeout=180)
    finally:
        if compare.poll() is None:
            compare.kill()
            compare.communicate()
    return compare, err, run_dir, pid, signalled_ns


@pytest.mark.parametrize(
    ("victim", "role", "sig"),
    [
        ("wh-a", "wholesaler", signal.SIGKILL),
        ("recorder", "recorder", signal.SIGKILL),
        ("wh-a", "wholesaler", signal.SIGSTOP),
    ],
    ids=["kill-wholesaler", "kill-recorder", "stop-wholesaler"],
)
def test_compare_with_a_process_lost_mid_run_ends_every_order_and_says_so(
    victim: str, role: str, sig: signal.Signals, tmp_path: Path
) -> None:
    compare, err, run_dir, pid, killed_ns = _compare_with_a_signal(
        TINY, 3000, tmp_path / "runs", victim, sig
    )
    stalled = sig == signal.SIGSTOP
    detail = "sent no heartbeat for " if stalled else "exited with code -9"

    assert compare.returncode == 1, err[-3000:]
    assert f"run aborted: {victim} ({role}, pid {pid}) {detail}" in err
    summary = json.loads((run_dir / "summary.json").read_text())
    state = summary["run_state"]
    assert state["state"] == ("degraded" if stalled else "aborted")
    (fault,) = state["faults"]
    assert (fault["name"], fault["role"], fault["pid"], fault["kind"]) == (
        victim,
        role,
        pid,
        "stalled" if stalled else "exited",
    )
    # seen within a few supervision rounds; a stall once 3 heartbeats (1.5 s) are missing, the
    # last one sent up to an interval before the signal
    assert (1.0e9 if stalled else 0) <= fault["at_ns"] - killed_ns < 5e9
    # every order sent reached its terminal report at the client within the settling bound,
    # and none was sent after the fault (3,000 at 100/s would take 30 s)
    (done,) = state["injections"]
    assert done["timed_out"] == 0 and done["terminal"] == done["sent"]
    assert RECEIVED_BEFORE_KILL <= done["sent"] < 3000
    if victim == "recorder":  # the tape ends at the kill: what it leaves open is listed
        assert len(state["open_orders"]) < done["sent"]
    else:
        assert state["open_orders"] == []
    report = (run_dir / "report.md").read_text()
    assert f"**Run {state['state']}**" in report
    assert f"Fault: {victim} ({role}, pid {pid}) {detail}" in report
    assert f"Open orders in the tape: {len(state['open_orders'])}" in report


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSTOP], ids=["kill", "stop"])
def test_restart_policy_restarts_a_lost_wholesaler_which_rejoins_and_the_run_goes_on(
    sig: signal.Signals, tmp_path: Path
) -> None:
    """``[restart] services = ["wh-a"]``: wh-a killed (or stopped: the launcher kills it once
    the stall is seen) mid-run is started again and rejoins from its snapshots; every order is
    sent and ends, the run is ``recovered`` (exit 0, said on stderr and in the report), and the
    restarted wh-a's accounts hold every PFOF payment of both processes (the journal replayed):
    its final ``pfof_paid`` equals the sum over its own fills on the tape."""
    scenario = tmp_path / "tiny-restart.toml"
    scenario.write_text(TINY.read_text() + '\n[restart]\nservices = ["wh-a"]\n')
    orders = 1000
    compare, err, run_dir, pid, _at = _compare_with_a_signal(
        scenario, orders, tmp_path / "runs", "wh-a", sig, resume=False
    )
    stalled = sig == signal.SIGSTOP
    detail = "sent no heartbeat for " if stalled else "exited with code -9"

    assert compare.returncode == 0, err[-3000:]
    assert f"run recovered: wh-a (wholesaler) {detail}" in err
    assert not pid_alive(pid)  # a stopped one was killed before its restart
    state = json.loads((run_dir / "summary.json").read_text())["run_state"]
    assert state["state"] == "recovered"
    (fault,) = state["faults"]
    assert (fault["name"], fault["pid"], fault["kind"], fault["restart"]) == (
        "wh-a",
        pid,
        "stalled" if stalled else "exited",
        1,
    )
    assert 0 < fault["back_ns"] - fault["at_ns"] < 20e9  # [restart] ready_timeout_s
    # the injector was not stopped: every order was sent and ended, none left open
    assert state["injections"] == [] and state["open_orders"] == []
    tape = list(read_tape(run_dir))
    received = [m for s, _, m in tape if s == "broker" and isinstance(m, OrderReceived)]
    assert len(received) == orders
    ends = (OrderFilled, OrderCanceled, OrderRejected)
    ended = {m.order_id for s, _, m in tape if s == "broker" and isinstance(m, ends)}
    assert ended >= {m.order_id for m in received}
    # both processes executed: the restarted one's ids carry its restart
    own = [m for s, _, m in tape if s == "wh-a" and isinstance(m, OrderFilled)]
    assert any(m.exec_id.startswith("wh-a~1-") for m in own)
    assert any(not m.exec_id.startswith("wh-a~") for m in own)
    (pnl,) = [m for s, _, m in tape if s == "wh-a" and type(m).__name__ == "PnlReport"]
    assert pnl.components["pfof_paid"] == sum(m.pfof for m in own) > 0
    report = (run_dir / "report.md").read_text()
    assert "**Run recovered**" in report
    assert (
        f"Fault: wh-a (wholesaler, pid {pid}) {detail}" in report
        and "restarted (restart 1)" in report
    )


async def test_sor_venue_killed_with_a_child_in_flight_is_abandoned_at_once_and_rerouted(
    tmp_path: Path,
) -> None:
    # lit-slow sits 200 ms from the SOR and shows 20,000 @ 99.98 on BOOK7, the cheapest: an
    # optimal parent sends it a child, which is still on its way when lit-slow is killed.
    scenario = sor_test_scenario()
    lab = LabSupervisor(scenario, runs_root=tmp_path)
    ctx = zmq.asyncio.Context()
    try:
        await lab.start()
        sor = Client(ctx, lab.config, scenario.sor.name, "client")
        await sor.send(parent("lost-venue", "BOOK7", "optimal", 30_000))
        await sor.until("lost-venue", (OrderAccepted,))
        sent_ns = time.time_ns()
        os.kill(lab.procs["lit-slow"].pid, signal.SIGKILL)
        # not lab.guard: the lab has failed (a process exited), the SOR goes on without it
        await sor.until("lost-venue", (OrderFilled, OrderCanceled, OrderRejected))
        took_ms = (time.time_ns() - sent_ns) / 1e6
    finally:
        ctx.destroy(linger=0)
        await lab.stop()

    tape = list(read_tape(lab.run_dir))
    (done,) = [m for _, _, m in tape if isinstance(m, ParentCompleted)]
    routes = [m for s, _, m in tape if isinstance(m, OrderRouted) and s == scenario.sor.name]
    abandoned = [r for r in routes if r.reason.startswith("abandoned: lit-slow down")]
    assert (done.state, done.cum_qty) == ("filled", 30_000)
    assert [(r.destination, r.qty) for r in abandoned] == [("lit-slow", 20_000)]
    assert sum(r.qty for r in routes if r.wave > 1) == 20_000  # rerouted elsewhere
    assert lab.faults[0].name == "lit-slow"
    # ended without waiting for the lost child's expiry (CHILD_TIMEOUT_MS) and grace
    assert took_ms < CHILD_TIMEOUT_MS


def test_inject_into_an_up_lab_whose_wholesaler_is_killed_ends_every_order(
    tmp_path: Path,
) -> None:
    flowlab = [sys.executable, "-m", "orchestration.cli"]
    up = subprocess.run(
        [*flowlab, "up", "--scenario", str(TINY)], cwd=tmp_path, capture_output=True, timeout=120
    )
    assert up.returncode == 0, up.stderr
    run_dir = (tmp_path / "runs" / "current").resolve()
    info = json.loads((run_dir / "lab.json").read_text())
    inject = subprocess.Popen(
        [*flowlab, "inject", "--orders", "3000", "--rate", "100", "--timeout", "60"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_until(lambda: _received(run_dir) >= RECEIVED_BEFORE_KILL, timeout=60)
        wholesaler = next(p["pid"] for p in info["processes"] if p["name"] == "wh-a")
        os.kill(wholesaler, signal.SIGKILL)
        _out, err = inject.communicate(timeout=60)
    finally:
        if inject.poll() is None:
            inject.kill()
            inject.communicate()
        subprocess.run([*flowlab, "down"], cwd=tmp_path, capture_output=True, timeout=120)

    # the injector stopped sending and ended normally; every order the broker received ended
    # (none open in the tape, read below)
    assert inject.returncode == 0, err[-3000:]
    faults = json.loads((run_dir / "faults.json").read_text())["faults"]
    assert [(f["name"], f["kind"]) for f in faults] == [("wh-a", "exited")]
    assert wait_until(lambda: not pid_alive(info["pid"]), timeout=60)
    report = subprocess.run(
        [*flowlab, "report", str(run_dir), "--out", str(tmp_path / "rep")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert report.returncode == 0, report.stderr[-3000:]
    assert "Run aborted" in report.stderr
    summary = json.loads((tmp_path / "rep" / "summary.json").read_text())
    assert summary["run_state"]["state"] == "aborted"
    assert summary["run_state"]["open_orders"] == []
