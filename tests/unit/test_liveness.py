"""A silent service: stalled when stopped or idle, only late while it still works (10 s cap)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from orchestration.liveness import BUSY_STALE_S, STALE_S, ProcStat, judge, parse_stat, read_stat

# a real line of proc(5) with a command name holding spaces and parentheses
LINE = "4242 (we (ird) name) S 1 4242 4242 0 -1 4194560 1234 0 0 0 377 45 0 0 20 0 3 0 99 0 0"


def test_parse_stat_counts_fields_after_the_last_parenthesis() -> None:
    assert parse_stat(LINE) == ProcStat("S", 377 + 45)
    assert parse_stat("garbage") is None
    assert parse_stat("1 (x) R 1 2") is None  # too few fields


@pytest.mark.parametrize(
    ("silent_s", "now", "before", "verdict"),
    [
        (STALE_S, ProcStat("T", 5), ProcStat("T", 5), "ok"),  # not yet 3 missed heartbeats
        (STALE_S + 0.1, ProcStat("T", 5), ProcStat("R", 4), "stalled"),  # SIGSTOP
        (STALE_S + 0.1, ProcStat("Z", 5), None, "stalled"),  # exited, not yet reaped
        (STALE_S + 0.1, ProcStat("S", 5), ProcStat("S", 5), "stalled"),  # asleep, no CPU used
        (STALE_S + 0.1, ProcStat("S", 9), ProcStat("S", 5), "late"),  # used CPU since
        (STALE_S + 0.1, ProcStat("R", 5), ProcStat("R", 5), "late"),  # runnable, starved
        (STALE_S + 0.1, ProcStat("D", 5), None, "late"),  # waiting in the kernel
        (BUSY_STALE_S, ProcStat("R", 90), ProcStat("R", 80), "late"),
        (BUSY_STALE_S + 0.1, ProcStat("R", 90), ProcStat("R", 80), "stalled"),  # a spin
        (STALE_S + 0.1, None, None, "stalled"),  # remote or gone: silence decides
    ],
)
def test_judge(silent_s: float, now: ProcStat, before: ProcStat, verdict: str) -> None:
    assert judge(silent_s, now, before) == verdict


def test_read_stat_of_real_processes_stopped_asleep_and_gone() -> None:
    mine = read_stat(os.getpid())
    assert mine is not None and mine.state == "R" and mine.cpu_ticks > 0  # reading: running
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        deadline = time.monotonic() + 10
        while (stat := read_stat(child.pid)) is None or stat.state != "S":
            assert time.monotonic() < deadline, stat
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGSTOP)
        while (stat := read_stat(child.pid)) is None or stat.state != "T":
            assert time.monotonic() < deadline, stat
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGCONT)
    finally:
        child.kill()
        child.wait()
    assert read_stat(child.pid) is None
