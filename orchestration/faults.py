"""A broken run says so: the faults the launcher recorded, read back for summaries and reports.

The launcher writes ``RUN_DIR/faults.json`` when a process dies or stalls while its lab runs
(``orchestration.launcher.Fault``), adds the injector's account when an injection was
aborted, and, when the lab stops, the services that were overloaded (``overload_of``: they
refused orders as busy, or their delay queues or lag passed the scenario's ``[limits]``).
``run_state`` turns the faults of one or more runs and the tape's orders into the
``run_state`` of ``summary.json``; ``state_lines`` into the report's first lines.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

FAULTS_FILE = "faults.json"
OPEN_LISTED = 20  # open order ids named in the report (all of them are in summary.json)


def load_faults(run_dir: Path) -> dict[str, Any]:
    """``{"faults": [...], "injection": {...} | None, "overloads": [...], "late": [...]}`` of a
    run (none: empty lists). ``late``: processes that went silent past the stall threshold while
    still working, not faults (``orchestration.liveness``): a contended run, not a broken one."""
    try:
        record = json.loads((run_dir / FAULTS_FILE).read_text())
    except FileNotFoundError:
        return {"faults": [], "injection": None, "overloads": [], "late": []}
    return {
        "faults": list(record.get("faults", [])),
        "injection": record.get("injection"),
        "overloads": list(record.get("overloads", [])),
        "late": list(record.get("late", [])),
    }


def write_faults(
    run_dir: Path,
    faults: list[dict[str, Any]],
    injection: Any = None,
    overloads: list[dict[str, Any]] | None = None,
    late: list[dict[str, Any]] | None = None,
) -> None:
    record = {
        "faults": faults,
        "injection": injection,
        "overloads": overloads or [],
        "late": late or [],
    }
    (run_dir / FAULTS_FILE).write_text(json.dumps(record, indent=2))


def add_overloads(run_dir: Path, overloads: list[dict[str, Any]]) -> None:
    """Add the lab's overloaded services to its ``faults.json`` (the rest kept)."""
    record = load_faults(run_dir)
    write_faults(run_dir, record["faults"], record["injection"], overloads, record["late"])


def add_late(run_dir: Path, late: list[dict[str, Any]]) -> None:
    """Add the processes that were late but working to the run's ``faults.json`` (the rest
    kept)."""
    record = load_faults(run_dir)
    write_faults(run_dir, record["faults"], record["injection"], record["overloads"], late)


def overload_of(
    name: str, role: str, counters: dict[str, int], queued_bound: int, lag_bound_ms: int
) -> dict[str, Any] | None:
    """Whether service ``name`` was overloaded, from its last heartbeat's counters: it refused
    orders as busy (``busy.refused``, services/backpressure.py), or its delay queues
    (``queue.peak``) or its lag (``busy.lag_peak_us``) passed their bound. The record names the
    service, its peaks against their bounds and its busy count; ``None``: within bounds."""
    refused = counters.get("busy.refused", 0)
    queued_peak = max(counters.get("queue.peak", 0), counters.get("busy.queued_peak", 0))
    lag_peak_ms = counters.get("busy.lag_peak_us", 0) // 1_000
    why = [f"refused {refused} orders busy"] if refused else []
    if queued_peak > queued_bound:
        why.append(f"delay queues reached {queued_peak} messages (bound {queued_bound})")
    if lag_peak_ms > lag_bound_ms:
        why.append(f"fell {lag_peak_ms} ms behind (bound {lag_bound_ms} ms)")
    if not why:
        return None
    return {
        "name": name,
        "role": role,
        "busy": refused,
        "pending_peak": counters.get("busy.pending_peak", 0),
        "pending_bound": counters.get("busy.pending_bound"),
        "queued_peak": queued_peak,
        "queued_bound": queued_bound,
        "lag_peak_ms": lag_peak_ms,
        "lag_bound_ms": lag_bound_ms,
        "detail": "; ".join(why),
    }


def run_state(runs: Iterable[tuple[str | None, Path]], orders: Any) -> dict[str, Any]:
    """The state of the run(s) (label, run dir): ``complete``; ``aborted`` when a process
    exited; ``degraded`` when processes only stalled; ``overloaded`` when none failed but a
    service was overloaded. With the faults (service, role, pid, what, when), the overloads
    (service, busy count, peaks and bounds), the orders the tape leaves open (``orders``: the
    tape's orders table) and each aborted injection's account."""
    faults, injections, overloads = [], [], []
    for label, run_dir in runs:
        record = load_faults(run_dir)
        tag = {"run": label} if label else {}
        faults += [fault | tag for fault in record["faults"]]
        overloads += [overload | tag for overload in record["overloads"]]
        if record["injection"] is not None:
            injections.append(record["injection"] | tag)
    if not faults and not overloads:
        return {"state": "complete"}
    still_open = orders["order_id"][orders["status"] == "open"] if len(orders) else []
    if not faults:
        state = "overloaded"
    else:
        state = "aborted" if any(f["kind"] == "exited" for f in faults) else "degraded"
    return {
        "state": state,
        "faults": faults,
        "overloads": overloads,
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
    broken = "an overloaded lab" if state["state"] == "overloaded" else "a broken run"
    lines = [f"**Run {state['state']}**: the figures below come from {broken}, not a market result"]
    for f in state["faults"]:
        run = f"[{f['run']}] " if f.get("run") else ""
        lines.append(
            f"Fault: {run}{f['name']} ({f['role']}, pid {f['pid']}) {f['detail']} at "
            f"{_clock(f['at_ns'])}"
        )
    for o in state.get("overloads", ()):
        run = f"[{o['run']}] " if o.get("run") else ""
        pending = (
            f"; working at most {o['pending_peak']} orders (bound {o['pending_bound']})"
            if o.get("pending_bound")
            else ""
        )
        lines.append(
            f"Overload: {run}{o['name']} ({o['role']}) {o['detail']}{pending}; delay queues "
            f"peak {o['queued_peak']} (bound {o['queued_bound']}); lag peak {o['lag_peak_ms']} ms "
            f"(bound {o['lag_bound_ms']} ms)"
        )
    opened = state["open_orders"]
    named = ", ".join(opened[:OPEN_LISTED]) + (", …" if len(opened) > OPEN_LISTED else "")
    lines.append(
        f"Open orders in the tape: {len(opened)}"
        + (f" ({named})" if opened else "")
        + (" (the tape ends when the recorder does)" if state["faults"] else "")
    )
    for done in state["injections"]:
        run = f"[{done['run']}] " if done.get("run") else ""
        lines.append(
            f"Injector {run}after the fault: sent {done['sent']}, terminal {done['terminal']} "
            f"(filled {done['filled']}, canceled {done['canceled']}, rejected "
            f"{done['rejected']}), still open {done['timed_out']}; no order sent after the fault"
        )
    return tuple(lines)


def faults_exit_code(
    records: list[dict[str, Any]],
    verb: str,
    *,
    allow_overload: bool = False,
    unclean: dict[str, dict[str, int | None]] | None = None,
) -> int:
    """0, or 1 after naming the faults of an aborted run, the processes that exited uncleanly
    (``unclean``: per run, name -> exit code), or (unless ``allow_overload``) the overloaded
    services, from runs' ``faults.json`` records (``load_faults``)."""
    faults = [f for record in records for f in record["faults"]]
    if faults:
        named = "; ".join(
            f"{f['name']} ({f['role']}, pid {f['pid']}) {f['detail']}" for f in faults
        )
        print(f"flowlab {verb}: run aborted: {named} (see the report)", file=sys.stderr)
        return 1
    if unclean:
        print(f"flowlab {verb}: processes exited uncleanly: {unclean}", file=sys.stderr)
        return 1
    overloads = [o for record in records for o in record["overloads"]]
    if overloads:
        named = "; ".join(f"{o['name']} ({o['role']}) {o['detail']}" for o in overloads)
        print(
            f"flowlab {verb}: run overloaded: {named}; its figures are not market results "
            + ("(--allow-overload: exit 0)" if allow_overload else "(see the report; a lower "
               "--rate, larger [limits] or --allow-overload)"),
            file=sys.stderr,
        )  # fmt: skip
        return 0 if allow_overload else 1
    return 0
