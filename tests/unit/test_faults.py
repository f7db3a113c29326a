"""A broken run says so: faults read back into ``run_state`` and the report's first lines."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from orchestration.experiment import RunResult, exit_code
from orchestration.faults import (
    add_late,
    add_overloads,
    add_unended,
    faults_exit_code,
    load_faults,
    overload_of,
    run_state,
    state_lines,
    unaccepted_executions,
    write_faults,
)
from orchestration.run_plan import RunPlan

# 2026-12-02 22:08:04.017 UTC
AT_NS = 1_796_249_284_017_998_784
KILLED = {
    "name": "wh-a",
    "role": "wholesaler",
    "pid": 4242,
    "kind": "exited",
    "detail": "exited with code -9",
    "at_ns": AT_NS,
}
STALLED = KILLED | {"kind": "stalled", "detail": "sent no heartbeat for 1.6s"}
ACCOUNT = {"name": "injector", "sent": 20, "terminal": 20, "filled": 18, "rejected": 0}
ACCOUNT |= {"canceled": 2, "timed_out": 0}


def orders(*statuses: str) -> pd.DataFrame:
    return pd.DataFrame(
        {"order_id": [f"R{n}" for n in range(len(statuses))], "status": list(statuses)}
    )


def test_run_state_of_a_run_without_faults_is_complete(tmp_path: Path) -> None:
    state = run_state([(None, tmp_path)], orders("filled", "open"))

    assert state == {"state": "complete"}
    assert state_lines(state) == ()
    assert load_faults(tmp_path) == {
        "faults": [],
        "injection": None,
        "overloads": [],
        "late": [],
        "unended": None,
    }


def test_run_state_of_a_killed_process_is_aborted_with_fault_open_orders_and_account(
    tmp_path: Path,
) -> None:
    write_faults(tmp_path, [KILLED], ACCOUNT)

    state = run_state([(None, tmp_path)], orders("filled", "open", "canceled", "open"))

    assert state == {
        "state": "aborted",
        "faults": [KILLED],
        "overloads": [],
        "open_orders": ["R1", "R3"],
        "injections": [ACCOUNT],
        "unaccepted": [],
    }


def test_run_state_of_a_stall_alone_is_degraded_and_runs_are_labelled(tmp_path: Path) -> None:
    (tmp_path / "r1").mkdir()
    (tmp_path / "r2").mkdir()
    write_faults(tmp_path / "r2", [STALLED])

    state = run_state([("r1", tmp_path / "r1"), ("r2", tmp_path / "r2")], orders("filled"))

    assert state["state"] == "degraded"
    assert state["faults"] == [STALLED | {"run": "r2"}]
    assert state["open_orders"] == [] and state["injections"] == []


def test_state_lines_name_the_service_the_time_and_the_open_orders(tmp_path: Path) -> None:
    write_faults(tmp_path, [KILLED], ACCOUNT)
    state = run_state([(None, tmp_path)], orders("open", "filled"))

    lines = state_lines(state)

    assert lines == (
        "**Run aborted**: the figures below come from a broken run, not a market result",
        "Fault: wh-a (wholesaler, pid 4242) exited with code -9 at 2026-12-02 22:08:04.017 UTC",
        "Open orders in the tape: 1 (R0) (the tape ends when the recorder does)",
        "Injector after the fault: sent 20, terminal 20 (filled 18, canceled 2, rejected 0), "
        "still open 0; no order sent after the fault",
    )


SOR_COUNTERS = {"busy.refused": 12, "busy.pending_peak": 20, "busy.pending_bound": 20}
SOR_COUNTERS |= {"queue.peak": 30, "busy.lag_peak_us": 4_500}


def test_overload_of_a_service_within_its_bounds_is_none() -> None:
    quiet = {"busy.refused": 0, "busy.pending_peak": 4, "queue.peak": 30, "busy.lag_peak_us": 900}

    assert overload_of("sor", "sor", quiet, queued_bound=100, lag_bound_ms=1) is None
    assert overload_of("lit-a", "venue", {"queue.peak": 100}, 100, 1) is None


def test_overload_of_names_busy_refusals_queue_and_lag_past_their_bounds() -> None:
    overload = overload_of("sor", "sor", SOR_COUNTERS, queued_bound=25, lag_bound_ms=4)

    assert overload == {
        "name": "sor",
        "role": "sor",
        "busy": 12,
        "pending_peak": 20,
        "pending_bound": 20,
        "queued_peak": 30,
        "queued_bound": 25,
        "lag_peak_ms": 4,
        "lag_bound_ms": 4,
        "detail": "refused 12 orders busy; delay queues reached 30 messages (bound 25)",
    }
    lagging = overload_of("lit-a", "venue", {"busy.lag_peak_us": 5_001}, 25, 4)
    assert lagging is not None and lagging["detail"] == "fell 5 ms behind (bound 4 ms)"


def test_run_state_of_an_overload_alone_is_overloaded_and_the_report_says_so(
    tmp_path: Path,
) -> None:
    overload = overload_of("sor", "sor", SOR_COUNTERS, queued_bound=20_000, lag_bound_ms=2_000)
    assert overload is not None
    add_overloads(tmp_path, [overload])

    state = run_state([(None, tmp_path)], orders("filled", "rejected"))

    assert state["state"] == "overloaded"
    assert state["overloads"] == [overload] and state["faults"] == []
    assert state_lines(state) == (
        "**Run overloaded**: the figures below come from an overloaded lab, not a market result",
        "Overload: sor (sor) refused 12 orders busy; working at most 20 orders (bound 20); "
        "delay queues peak 30 (bound 20000); lag peak 4 ms (bound 2000 ms)",
        "Open orders in the tape: 0",
    )


def test_add_overloads_keeps_the_fault_and_the_fault_decides_the_state(tmp_path: Path) -> None:
    write_faults(tmp_path, [KILLED], ACCOUNT)
    overload = overload_of("sor", "sor", SOR_COUNTERS, queued_bound=20_000, lag_bound_ms=2_000)
    assert overload is not None

    add_overloads(tmp_path, [overload])

    assert load_faults(tmp_path) == {
        "faults": [KILLED],
        "injection": ACCOUNT,
        "overloads": [overload],
        "late": [],
        "unended": None,
    }
    assert run_state([(None, tmp_path)], orders("filled"))["state"] == "aborted"


def test_add_late_keeps_everything_else_and_late_alone_leaves_a_run_complete(
    tmp_path: Path,
) -> None:
    late = {"name": "agents", "role": "agents", "pid": 7, "state": "R", "load": 8.4, "at_ns": 1}
    add_late(tmp_path, [late])  # no faults.json yet
    assert load_faults(tmp_path)["late"] == [late]
    state = run_state([(None, tmp_path)], orders("filled"))
    assert state == {"state": "complete", "late": [late]}  # complete, and said
    assert state_lines(state) == (
        "Late (not a fault): agents (agents, pid 7) went silent while still working (state R, "
        "load 8.4) at 1970-01-01 00:00:00.000 UTC: a contended machine; its timings are suspect",
    )
    (tmp_path / "k").mkdir()
    write_faults(tmp_path / "k", [KILLED], ACCOUNT)
    overload = overload_of("sor", "sor", SOR_COUNTERS, queued_bound=20_000, lag_bound_ms=2_000)
    assert overload is not None
    add_overloads(tmp_path / "k", [overload])
    add_late(tmp_path / "k", [late])
    assert load_faults(tmp_path / "k") == {
        "faults": [KILLED],
        "injection": ACCOUNT,
        "overloads": [overload],
        "late": [late],
        "unended": None,
    }


def _result(run_dir: Path) -> RunResult:
    plan = RunPlan("r1", 1, ("pfof",), 1, 1)
    return RunResult(plan, run_dir, None, [], {"broker": 0})  # type: ignore[arg-type]


def test_exit_code_of_an_overloaded_run_is_1_unless_allowed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    overload = overload_of("sor", "sor", SOR_COUNTERS, queued_bound=20_000, lag_bound_ms=2_000)
    assert overload is not None
    add_overloads(tmp_path, [overload])

    refused = exit_code([_result(tmp_path)], "compare")
    refused_err = capsys.readouterr().err
    allowed = exit_code([_result(tmp_path)], "compare", allow_overload=True)
    allowed_err = capsys.readouterr().err

    assert (refused, allowed) == (1, 0)
    assert "flowlab compare: run overloaded: sor (sor) refused 12 orders busy" in refused_err
    assert "--allow-overload" in refused_err and "exit 0" in allowed_err


def test_exit_code_of_a_complete_run_is_0(tmp_path: Path) -> None:
    assert exit_code([_result(tmp_path)], "compare") == 0


# wh-a killed, restarted by the policy and ready again 0.83 s later
RESTARTED = KILLED | {"restart": 1, "back_ns": AT_NS + 830_000_000}


def test_a_run_whose_every_fault_was_restarted_is_recovered_said_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_faults(tmp_path, [RESTARTED])

    state = run_state([(None, tmp_path)], orders("filled", "filled"))
    code = exit_code([_result(tmp_path)], "compare")
    err = capsys.readouterr().err

    assert state["state"] == "recovered" and state["open_orders"] == []
    assert state_lines(state) == (
        "**Run recovered**: the restart policy restarted the processes below, which rejoined "
        "from their snapshots; the figures include their outage (orders routed elsewhere "
        "meanwhile)",
        "Fault: wh-a (wholesaler, pid 4242) exited with code -9 at 2026-12-02 22:08:04.017 UTC; "
        "restarted (restart 1), back at 2026-12-02 22:08:04.847 UTC, 0.83s later",
        "Open orders in the tape: 0",
    )
    assert code == 0
    assert "flowlab compare: run recovered: wh-a (wholesaler) exited with code -9, restarted" in err


@pytest.mark.parametrize(
    "second",
    [
        KILLED | {"name": "recorder", "role": "recorder"},  # a fault the policy did not cover
        RESTARTED | {"back_ns": 0},  # restarted, never ready again
    ],
    ids=["another-fault", "restart-not-ready"],
)
def test_a_fault_the_restart_policy_did_not_recover_still_aborts_the_run(
    tmp_path: Path, second: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    write_faults(tmp_path, [RESTARTED, second])

    state = run_state([(None, tmp_path)], orders("filled"))

    assert state["state"] == "aborted"
    assert exit_code([_result(tmp_path)], "compare") == 1
    assert "run aborted: " in capsys.readouterr().err


def _tables(wholesaler_fills: list[tuple[str, int]], broker_fills: list[tuple[str, int]]):
    """A broker's children ``R<n>~1`` to wh-a, wh-a's own fills on them and the fills the
    broker took (``(order id, shares)``)."""
    routes = pd.DataFrame(
        {
            "router": "broker",
            "order_id": ["R1", "R2", "R3"],
            "child_id": ["R1~1", "R2~1", "R3~1"],
            "destination": "wh-a",
        }
    )
    dest = pd.DataFrame(
        [(f"{o}~1", "wh-a", q, "internalized") for o, q in wholesaler_fills],
        columns=["order_id", "service", "qty", "liquidity"],
    )
    fills = pd.DataFrame(
        [(o, "wh-a", q, "internalized") for o, q in broker_fills],
        columns=["order_id", "destination", "qty", "liquidity"],
    )
    return {"routes": routes, "destination_fills": dest, "fills": fills}


def test_unaccepted_executions_are_the_wholesaler_fills_the_broker_never_took(
    tmp_path: Path,
) -> None:
    # R1 taken; R2 executed by wh-a (300) after the broker had moved it on; R3 half taken
    tables = _tables([("R1", 100), ("R2", 300), ("R3", 200)], [("R1", 100), ("R3", 100)])

    found = unaccepted_executions(tables)
    state = run_state([(None, tmp_path)], orders("filled"), tables)

    assert found == [
        {"order_id": "R2", "destination": "wh-a", "shares": 300},
        {"order_id": "R3", "destination": "wh-a", "shares": 100},
    ]
    assert state == {"state": "complete", "unaccepted": found}
    assert state_lines(state) == (
        "Executions the broker never accepted: 2 orders, 400 shares at wh-a: made while it was "
        "reported down, after the broker had moved the orders on (an overfill; a real market "
        "would break one of the trades)",
    )
    matched = _tables([("R1", 100), ("R2", 300)], [("R1", 100), ("R2", 300)])
    assert unaccepted_executions(matched) == []


def test_an_injection_with_orders_that_never_ended_is_incomplete_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # No process failed or was overloaded, but the injector saw 2 of its 5 orders never end
    # (a service lost them): the run says so, its report first, and the command exits 1.
    account = {"name": "injector", "sent": 5, "terminal": 3, "filled": 3, "rejected": 0,
               "canceled": 0, "timed_out": 2}  # fmt: skip
    add_unended(tmp_path, account)

    state = run_state([(None, tmp_path)], orders("filled", "open", "filled", "open", "filled"))

    assert state["state"] == "incomplete"
    assert state["open_orders"] == ["R1", "R3"]
    assert state["unended"] == [account]
    lines = state_lines(state)
    assert lines[0].startswith("**Run incomplete**")
    assert "Open orders in the tape: 2 (R1, R3)" in lines
    assert "Injector at its timeout: sent 5, terminal 3, still open 2" in lines
    assert faults_exit_code([load_faults(tmp_path)], "compare") == 1
    assert "run incomplete: 2 accepted orders never ended" in capsys.readouterr().err


def test_a_fault_decides_the_state_over_unended_orders(tmp_path: Path) -> None:
    write_faults(tmp_path, [KILLED], ACCOUNT)
    add_unended(tmp_path, {"name": "injector", "sent": 1, "terminal": 0, "timed_out": 1})
    assert load_faults(tmp_path)["faults"] == [KILLED]  # kept
    assert run_state([(None, tmp_path)], orders("open"))["state"] == "aborted"
