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

import msgspec

FAULTS_FILE = "faults.json"
COUNTERS_FILE = "counters.json"
OPEN_LISTED = 20  # open order ids named in the report (all of them are in summary.json)


def load_faults(run_dir: Path) -> dict[str, Any]:
    """``{"faults": [...], "injection": {...} | None, "overloads": [...], "late": [...]}`` of a
    run (none: empty lists). ``late``: processes that went silent past the stall threshold while
    still working, not faults (``orchestration.liveness``): a contended run, not a broken one."""
    try:
        record = json.loads((run_dir / FAULTS_FILE).read_text())
    except FileNotFoundError:
        return {"faults": [], "injection": None, "overloads": [], "late": [], "unended": None}
    return {
        "faults": list(record.get("faults", [])),
        "injection": record.get("injection"),
        "overloads": list(record.get("overloads", [])),
        "late": list(record.get("late", [])),
        "unended": record.get("unended"),
    }


def write_faults(
    run_dir: Path,
    faults: list[dict[str, Any]],
    injection: Any = None,
    overloads: list[dict[str, Any]] | None = None,
    late: list[dict[str, Any]] | None = None,
    unended: dict[str, Any] | None = None,
) -> None:
    record = {
        "faults": faults,
        "injection": injection,
        "overloads": overloads or [],
        "late": late or [],
        "unended": unended,
    }
    (run_dir / FAULTS_FILE).write_text(json.dumps(record, indent=2))


def write_counters(
    run_dir: Path,
    procs: Iterable[tuple[str, str, dict[str, int]]],
    cpu_ms_at_inject: dict[str, int | None] | None = None,
) -> None:
    """Every process's counters as its last heartbeat (or its stop) reported them, into
    ``RUN_DIR/counters.json`` (``{name: {"role": ..., "counters": {...}, "cpu_ms_at_inject":
    ...}}``): queue peaks, busy counts, peak memory (``rss.peak_kb``, ``pss.peak_kb``), CPU time
    (``cpu.ms``), and the CPU time it had when the last injection started (``None``: it had
    reported none, or it started later, as the injector does)."""
    at_inject = cpu_ms_at_inject or {}
    record = {
        name: {"role": role, "counters": dict(counters), "cpu_ms_at_inject": at_inject.get(name)}
        for name, role, counters in procs
    }
    (run_dir / COUNTERS_FILE).write_text(json.dumps(record, indent=2, sort_keys=True))


def load_counters(run_dir: Path) -> dict[str, Any]:
    """``counters.json`` as written by ``write_counters`` (``{}`` when the run has none)."""
    path = run_dir / COUNTERS_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def add_overloads(run_dir: Path, overloads: list[dict[str, Any]]) -> None:
    """Add the lab's overloaded services to its ``faults.json`` (the rest kept)."""
    record = load_faults(run_dir)
    write_faults(
        run_dir,
        record["faults"],
        record["injection"],
        overloads,
        record["late"],
        record["unended"],
    )


def add_late(run_dir: Path, late: list[dict[str, Any]]) -> None:
    """Add the processes that were late but working to the run's ``faults.json`` (the rest
    kept)."""
    record = load_faults(run_dir)
    write_faults(
        run_dir, record["faults"], record["injection"], record["overloads"], late, record["unended"]
    )


def injection_account(done: Any) -> dict[str, Any]:
    """An ``InjectionDone`` as faults.json keeps it: its counts, no message headers."""
    account = msgspec.structs.asdict(done)
    for header in ("msg_id", "sender", "ts_ns", "correlation_id"):
        account.pop(header, None)
    return account


def add_unended(run_dir: Path, account: dict[str, Any]) -> None:
    """An injection that ended with orders still open (``timed_out``: no terminal report by
    the injector's timeout, no process at fault): the run is ``incomplete`` (every accepted
    order must end: docs/RELIABILITY.md). ``account``: the injector's final account."""
    record = load_faults(run_dir)
    write_faults(
        run_dir,
        record["faults"],
        record["injection"],
        record["overloads"],
        record["late"],
        account,
    )


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


def unaccepted_executions(tables: dict[str, Any]) -> list[dict[str, Any]]:
    """Executions a wholesaler made on a broker's child that the broker never accepted: it had
    been reported down (``PeerDown``), so the broker had moved the order on; the fill was still
    in the wholesaler's queue, or on its way, or made after a stall (an overfill: a real market
    would break one of the trades). Per client order and wholesaler, the shares the wholesaler
    executed (its own fills on the tape, ``destination_fills``) beyond those the broker took
    from it (``fills``). Empty in a run without faults."""
    dest, fills, routes = (tables.get(k) for k in ("destination_fills", "fills", "routes"))
    if dest is None or fills is None or routes is None or not len(dest) or not len(routes):
        return []
    made = dest[dest["liquidity"] == "internalized"]
    if not len(made):
        return []
    child = routes["child_id"].astype(str)
    if "run" in routes.columns:  # pooled runs: destination order ids carry the run's label
        child = routes["run"].astype(str) + ":" + child
    children = routes[["order_id", "destination"]].assign(child=child)
    made = made.merge(
        children,
        left_on=["order_id", "service"],
        right_on=["child", "destination"],
        suffixes=("_child", ""),
    )
    executed = made.groupby(["order_id", "destination"])["qty"].sum()
    took = fills[fills["liquidity"] == "internalized"]
    accepted = took.groupby(["order_id", "destination"])["qty"].sum()
    gap = executed.sub(accepted, fill_value=0)
    return [
        {"order_id": str(order_id), "destination": str(where), "shares": int(shares)}
        for (order_id, where), shares in gap[gap > 0].items()
    ]


def run_state(
    runs: Iterable[tuple[str | None, Path]], orders: Any, tables: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The state of the run(s) (label, run dir): ``complete``; ``aborted`` when a process
    exited; ``degraded`` when processes only stalled; ``recovered`` when every process that
    exited or stalled was restarted by the restart policy and was back; ``overloaded`` when
    none failed but a service was overloaded; ``incomplete`` when none of those happened but
    an injection ended with orders the injector never saw end (``add_unended``). With the
    faults (service, role, pid, what, when, and the restart that followed), the overloads
    (service, busy count, peaks and bounds), the orders the tape leaves open (``orders``: the
    tape's orders table), each aborted injection's account, and (from ``tables``, the run's
    tables) the executions the broker never accepted (``unaccepted_executions``)."""
    faults, injections, overloads, late, unended = [], [], [], [], []
    for label, run_dir in runs:
        record = load_faults(run_dir)
        tag = {"run": label} if label else {}
        faults += [fault | tag for fault in record["faults"]]
        if record["unended"] is not None:
            unended.append(record["unended"] | tag)
        overloads += [overload | tag for overload in record["overloads"]]
        late += [process | tag for process in record["late"]]
        if record["injection"] is not None:
            injections.append(record["injection"] | tag)
    unaccepted = unaccepted_executions(tables) if tables is not None else []
    if not faults and not overloads and not unended:
        said = {"unaccepted": unaccepted} if unaccepted else {}
        return {"state": "complete"} | said | ({"late": late} if late else {})
    still_open = orders["order_id"][orders["status"] == "open"] if len(orders) else []
    unrecovered = [f for f in faults if not recovered(f)]
    if not faults and not overloads:
        state = "incomplete"
    elif not faults:
        state = "overloaded"
    elif not unrecovered:
        state = "recovered"
    else:
        state = "aborted" if any(f["kind"] == "exited" for f in unrecovered) else "degraded"
    return (
        {
            "state": state,
            "faults": faults,
            "overloads": overloads,
            "open_orders": sorted(str(order_id) for order_id in still_open),
            "injections": injections,
            "unaccepted": unaccepted,
        }
        | ({"late": late} if late else {})
        | ({"unended": unended} if unended else {})
    )


def recovered(fault: dict[str, Any]) -> bool:
    """Whether the restart policy restarted the faulty process and it was ready again."""
    return bool(fault.get("restart")) and bool(fault.get("back_ns"))


def _clock(at_ns: int) -> str:
    seconds, ns = divmod(int(at_ns), 1_000_000_000)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds)) + f".{ns // 1_000_000:03d} UTC"


def state_lines(state: dict[str, Any]) -> tuple[str, ...]:
    """The report's first lines for a broken run (none for a complete one)."""
    unaccepted = _unaccepted_line(state.get("unaccepted", ()))
    late = _late_lines(state.get("late", ()))
    if state.get("state", "complete") == "complete":
        return unaccepted + late
    if state["state"] == "recovered":
        lines = [
            "**Run recovered**: the restart policy restarted the processes below, which rejoined "
            "from their snapshots; the figures include their outage (orders routed elsewhere "
            "meanwhile)"
        ]
    elif state["state"] == "incomplete":
        lines = [
            "**Run incomplete**: orders the broker accepted never ended (no process failed or "
            "was overloaded: a service lost track of them); the figures below leave them out"
        ]
    else:
        broken = "an overloaded lab" if state["state"] == "overloaded" else "a broken run"
        lines = [
            f"**Run {state['state']}**: the figures below come from {broken}, not a market result"
        ]
    for f in state["faults"]:
        run = f"[{f['run']}] " if f.get("run") else ""
        back = (
            f"; restarted (restart {f['restart']}), back at {_clock(f['back_ns'])}, "
            f"{(f['back_ns'] - f['at_ns']) / 1e9:.2f}s later"
            if recovered(f)
            else ""
        )
        lines.append(
            f"Fault: {run}{f['name']} ({f['role']}, pid {f['pid']}) {f['detail']} at "
            f"{_clock(f['at_ns'])}{back}"
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
    lines += unaccepted
    lines += late
    opened = state["open_orders"]
    named = ", ".join(opened[:OPEN_LISTED]) + (", …" if len(opened) > OPEN_LISTED else "")
    lines.append(
        f"Open orders in the tape: {len(opened)}"
        + (f" ({named})" if opened else "")
        + (
            " (the tape ends when the recorder does)"
            if any(not recovered(f) for f in state["faults"])
            else ""
        )
    )
    for done in state.get("unended", ()):
        run = f"[{done['run']}] " if done.get("run") else ""
        lines.append(
            f"Injector {run}at its timeout: sent {done['sent']}, terminal {done['terminal']}, "
            f"still open {done['timed_out']}"
        )
    for done in state["injections"]:
        run = f"[{done['run']}] " if done.get("run") else ""
        lines.append(
            f"Injector {run}after the fault: sent {done['sent']}, terminal {done['terminal']} "
            f"(filled {done['filled']}, canceled {done['canceled']}, rejected "
            f"{done['rejected']}), still open {done['timed_out']}; no order sent after the fault"
        )
    return tuple(lines)


def _late_lines(late: Iterable[dict[str, Any]]) -> tuple[str, ...]:
    """Processes that went silent past the stall threshold while still working: a contended
    machine, not a fault (``orchestration.liveness``); said so that timings are read with it."""
    return tuple(
        f"Late (not a fault): {'[' + p['run'] + '] ' if p.get('run') else ''}{p['name']} "
        f"({p['role']}, pid {p['pid']}) went silent while still working (state "
        f"{p.get('state') or '?'}, load {p.get('load', '?')}) at {_clock(p['at_ns'])}: "
        "a contended machine; its timings are suspect"
        for p in late
    )


def _unaccepted_line(unaccepted: Iterable[dict[str, Any]]) -> tuple[str, ...]:
    rows = list(unaccepted)
    if not rows:
        return ()
    where = sorted({r["destination"] for r in rows})
    return (
        f"Executions the broker never accepted: {len(rows)} orders, "
        f"{sum(r['shares'] for r in rows):,} shares at {', '.join(where)}: made while it was "
        "reported down, after the broker had moved the orders on (an overfill; a real market "
        "would break one of the trades)",
    )


def faults_exit_code(
    records: list[dict[str, Any]],
    verb: str,
    *,
    allow_overload: bool = False,
    unclean: dict[str, dict[str, int | None]] | None = None,
) -> int:
    """0, or 1 after naming the faults of an aborted run, the processes that exited uncleanly
    (``unclean``: per run, name -> exit code), or (unless ``allow_overload``) the overloaded
    services, from runs' ``faults.json`` records (``load_faults``). A run whose every fault the
    restart policy recovered from is said on stderr and is 0."""
    faults = [f for record in records for f in record["faults"]]
    failed = [f for f in faults if not recovered(f)]
    if failed:
        named = "; ".join(
            f"{f['name']} ({f['role']}, pid {f['pid']}) {f['detail']}" for f in failed
        )
        print(f"flowlab {verb}: run aborted: {named} (see the report)", file=sys.stderr)
        return 1
    if faults:  # all restarted by the scenario's policy: said, not an error
        named = "; ".join(f"{f['name']} ({f['role']}) {f['detail']}, restarted" for f in faults)
        print(
            f"flowlab {verb}: run recovered: {named} (the scenario's restart policy; its "
            "figures include the outage: see the report)",
            file=sys.stderr,
        )
    if unclean:
        print(f"flowlab {verb}: processes exited uncleanly: {unclean}", file=sys.stderr)
        return 1
    unended = [u for record in records if (u := record.get("unended")) is not None]
    if unended:
        open_orders = sum(int(u.get("timed_out", 0)) for u in unended)
        print(
            f"flowlab {verb}: run incomplete: {open_orders} accepted orders never ended "
            "(see the report)",
            file=sys.stderr,
        )
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
