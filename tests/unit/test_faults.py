"""A broken run says so: faults read back into ``run_state`` and the report's first lines."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from orchestration.faults import load_faults, run_state, state_lines, write_faults

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
    assert load_faults(tmp_path) == {"faults": [], "injection": None}


def test_run_state_of_a_killed_process_is_aborted_with_fault_open_orders_and_account(
    tmp_path: Path,
) -> None:
    write_faults(tmp_path, [KILLED], ACCOUNT)

    state = run_state([(None, tmp_path)], orders("filled", "open", "canceled", "open"))

    assert state == {
        "state": "aborted",
        "faults": [KILLED],
        "open_orders": ["R1", "R3"],
        "injections": [ACCOUNT],
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
