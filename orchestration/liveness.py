"""When a silent service is stalled, and when it is only late on a loaded machine.

A service heartbeats every ``HEARTBEAT_INTERVAL_S`` (0.5 s). Silence alone cannot tell a hung
or stopped process from one that is merely starved of CPU: with two labs (30 processes) on two
cores a healthy process can go 1.7 s without being scheduled long enough to heartbeat
(measured in the sweep test, docs/RELIABILITY.md). So, for a process on this host, the
supervisor also looks at what the kernel says of it (``/proc/PID/stat``):

- stopped (``T``/``t``: SIGSTOP, a debugger), a zombie, or asleep and using no CPU since the
  last look: nothing will make it heartbeat — stalled after ``STALE_S`` (3 missed
  heartbeats, 1.5 s: the Paranoid Pirate pattern's liveness of 3);
- runnable or in uninterruptible wait (``R``/``D``), or asleep but having used CPU since the
  last look: it is working, only late — *late*, stalled only after ``BUSY_STALE_S`` (10 s),
  which also bounds a process spinning in a loop that never yields to its heartbeat.

A process on another host (``--hosts``) has no local ``/proc``: silence alone decides, at
``STALE_S``.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.runtime import HEARTBEAT_INTERVAL_S

HEARTBEAT_MISSES = 3
STALE_S = HEARTBEAT_MISSES * HEARTBEAT_INTERVAL_S
BUSY_STALE_S = 10.0
STOPPED_STATES = frozenset("TtZX")
WORKING_STATES = frozenset("RD")


@dataclass(frozen=True)
class ProcStat:
    """What the kernel says of a process: its state letter and CPU time (clock ticks)."""

    state: str
    cpu_ticks: int


def read_stat(pid: int) -> ProcStat | None:
    """``/proc/PID/stat``'s state and utime + stime; None if the process is gone or unreadable."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read().decode(errors="replace")
    except OSError:
        return None
    return parse_stat(text)


def parse_stat(text: str) -> ProcStat | None:
    """Parse one ``/proc/PID/stat`` line (proc(5)): ``pid (comm) state ppid ... utime stime``.
    ``comm`` may hold spaces and parentheses, so the fields are counted after the last ``)``."""
    _, paren, rest = text.rpartition(")")
    fields = rest.split()
    if not paren or len(fields) < 13:
        return None
    try:  # after comm: state is field 3 of proc(5), utime 14, stime 15
        return ProcStat(fields[0], int(fields[11]) + int(fields[12]))
    except ValueError:
        return None


def judge(silent_s: float, now: ProcStat | None, before: ProcStat | None) -> str:
    """``"ok"``, ``"late"`` or ``"stalled"`` for a process silent for ``silent_s`` seconds, given
    its stat now and at the previous look (None: not known, e.g. a remote process)."""
    if silent_s <= STALE_S:
        return "ok"
    if now is None:
        return "stalled"
    if now.state in STOPPED_STATES:
        return "stalled"
    working = now.state in WORKING_STATES or (
        before is not None and now.cpu_ticks > before.cpu_ticks
    )
    if not working:
        return "stalled"
    return "late" if silent_s <= BUSY_STALE_S else "stalled"
