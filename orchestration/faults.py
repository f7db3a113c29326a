"""A broken run says so: the faults the launcher recorded, read back for summaries and reports.

The launcher writes ``RUN_DIR/faults.json`` when a process dies or stalls while its lab runs
(``orchestration.launcher.Fault``), and adds the injector's account when an injection was
aborted. ``run_state`` turns the faults of one or more runs and the tape's orders into the
``run_state`` of ``summary.json``; ``state_lines`` into the report's first lines.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

FAULTS_FILE = "faults.json"
OPEN_LISTED = 20  # open order ids named in the report (all of them are in summary.json)


def load_faults(run_dir: Path) -> dict[str, Any]:
    """``{"faults": [...], "injection": {...} | None}`` of a run (no faults: an empty list)."""
    try:
        record = json.loads((run_dir / FAULTS_FILE).read_text())
    except FileNotFoundError:
        return {"faults": [], "injection": None}
    return {"faults": list(record.get("faults", [])), "injection": record.get("injection")}


def write_faults(run_dir: Path, faults: list[dict[str, Any]], injection: Any = None) -> None:
    record = {"faults": faults, "injection": injection}
    (run_dir / FAULTS_FILE).write_text(json.dumps(record, indent=2))


def run_state(runs: Iterable[tuple[str | None, Path]], orders: Any) -> dict[str, Any]:
    """The state of the run(s) (label, run dir): ``complete``; ``aborted`` when a process
    exited; ``degraded`` when processes only stalled. With the faults (service, role, pid, what,
    when), the orders the tape leaves open (``orders``: the tape's orders table) and each aborted
    injection's account."""
    faults, injections = [], []
    for label, run_dir in runs:
        record = load_faults(run_dir)
        tag = {"run": label} if label else {}
        faults += [fault | tag for fault in record["faults"]]
        if record["injection"] is not None:
            injections.append(record["injection"] | tag)
    if not faults:
        return {"state": "complete"}
    still_open = orders["order_id"][orders["status"] == "open"] if len(orders) else []
    return {
        "state": "aborted" if any(f["kind"] == "exited" for f in faults) else "degraded",
        "faults": faults,
        "open_orders": sorted(str(order_id) for order_id in still_open),
        "injections": injections,
    }


def _clock(at_ns: int) -> str:
    seconds, ns = divmod(int(at_ns), 1_000_000_000)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds)) + f".{ns // 1_000_000:03d} UTC"


def state_lines(state: dict[str, Any]) -> tuple[str, ...]:
    """The report's first lines for a broken run (none for a complete one)."""
    if state.get("state", "complete") == "complete":
        return ()
    lines = [
        f"**Run {state['state']}**: the figures below come from a broken run, not a market result"
    ]
    for f in state["faults"]:
        run = f"[{f['run']}] " if f.get("run") else ""
        lines.append(
            f"Fault: {run}{f['name']} ({f['role']}, pid {f['pid']}) {f['detail']} at "
            f"{_clock(f['at_ns'])}"
        )
    opened = state["open_orders"]
    named = ", ".join(opened[:OPEN_LISTED]) + (", …" if len(opened) > OPEN_LISTED else "")
    lines.append(
        f"Open orders in the tape: {len(opened)}"
        + (f" ({named})" if opened else "")
        + " (the tape ends when the recorder does)"
    )
    for done in state["injections"]:
        run = f"[{done['run']}] " if done.get("run") else ""
        lines.append(
            f"Injector {run}after the fault: sent {done['sent']}, terminal {done['terminal']} "
            f"(filled {done['filled']}, canceled {done['canceled']}, rejected "
            f"{done['rejected']}), still open {done['timed_out']}; no order sent after the fault"
        )
    return tuple(lines)
