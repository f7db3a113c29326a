"""Which published lab (``flowlab up``) runs where, and whether it is alive.

Two advisory locks (``flock``), held by the orchestrator for as long as its lab runs; the
kernel releases both when that process ends, however it ends (kill -9 included):

- ``RUNS/.lab.lock`` — one published lab per runs root. ``claim_root`` takes it before a lab
  starts and writes who holds it (pid, run dir), so a second ``flowlab up`` under the same root
  is refused naming the first lab and its orchestrator.
- ``RUN_DIR/lab.json`` — how the other verbs find the lab (pid, control endpoint, processes).
  The file itself is locked, so a reader tells a live lab (locked) from a dead one whose
  orchestrator left the file behind (unlocked: a stale ``lab.json``), with no trust in pids,
  which the kernel reuses.

Labs of ``compare``, ``sweep``, ``sor`` and the notebook API are not published: each owns its
run dir and is neither counted nor listed here.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

LAB_FILE = "lab.json"
ROOT_LOCK = ".lab.lock"


class LabRunning(Exception):
    """A published lab already runs under the runs root; the message names it and its pid."""


class LabState(enum.StrEnum):
    RUNNING = "running"
    DEAD = "dead"  # lab.json left behind by an orchestrator that is gone


@dataclass(frozen=True)
class LabEntry:
    """One ``lab.json`` found on disk."""

    run_dir: Path
    state: LabState
    info: dict[str, Any]

    @property
    def pid(self) -> int:
        return int(self.info.get("pid", 0))

    def describe(self) -> str:
        return f"{self.run_dir} (orchestrator pid {self.pid})"


def _locked_elsewhere(path: Path) -> bool:
    """Whether another open file description holds an exclusive ``flock`` on ``path``."""
    try:
        with path.open("rb") as file:
            try:
                fcntl.flock(file, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(file, fcntl.LOCK_UN)
            return False
    except FileNotFoundError:
        return False


def claim_root(root: Path) -> IO[str]:
    """Hold the runs root's lock for the caller's lifetime (keep the returned file open); name
    the lab with ``record_holder`` once its run dir is known.

    Raises ``LabRunning`` naming the lab that holds it.
    """
    root.mkdir(parents=True, exist_ok=True)
    file = (root / ROOT_LOCK).open("a+")
    try:
        fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        file.close()
        raise LabRunning(_running_message(root)) from None
    record_holder(file, None)
    return file


def record_holder(claim: IO[str], run_dir: Path | None) -> None:
    """Write who holds the claimed root: this process and its lab's run dir."""
    claim.seek(0)
    claim.truncate()
    claim.write(
        json.dumps({"pid": os.getpid(), "run_dir": str(run_dir.resolve() if run_dir else "")})
    )
    claim.flush()


def root_holder(root: Path) -> dict[str, Any] | None:
    """Who holds the runs root (``{"pid", "run_dir"}``), or ``None`` when no lab runs there."""
    path = root / ROOT_LOCK
    if not _locked_elsewhere(path):
        return None
    try:
        return dict(json.loads(path.read_text() or "{}"))
    except (OSError, ValueError):
        return {}


def _running_message(root: Path) -> str:
    holder = root_holder(root) or {}
    where = holder.get("run_dir") or "a lab still starting"
    return (
        f"a lab is already running under {root}: {where} (orchestrator pid "
        f"{holder.get('pid', '?')}); stop it with `flowlab down --run-dir {where}` "
        "or give this one another --runs"
    )


def check_root(root: Path) -> None:
    """Raise ``LabRunning`` if a published lab holds ``root`` (before anything is created)."""
    if root_holder(root) is not None:
        raise LabRunning(_running_message(root))


def publish(run_dir: Path, info: dict[str, Any]) -> IO[str]:
    """Write ``RUN_DIR/lab.json`` already locked (keep the returned file open while the lab
    runs): it is written to a temporary file, locked, then renamed, so no reader ever sees it
    unlocked or half written."""
    tmp = run_dir / f".{LAB_FILE}.{os.getpid()}"
    file = tmp.open("w")
    fcntl.flock(file, fcntl.LOCK_EX)
    file.write(json.dumps(info, indent=2))
    file.flush()
    tmp.rename(run_dir / LAB_FILE)
    return file


def unpublish(run_dir: Path, file: IO[str] | None) -> None:
    """Remove ``lab.json`` and release its lock (the lab has stopped)."""
    (run_dir / LAB_FILE).unlink(missing_ok=True)
    if file is not None:
        file.close()


def read_lab(run_dir: Path) -> LabEntry | None:
    """The lab of ``run_dir`` and whether it is alive, or ``None`` without a ``lab.json``."""
    path = run_dir / LAB_FILE
    try:
        info = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except ValueError:
        info = {}
    state = LabState.RUNNING if _locked_elsewhere(path) else LabState.DEAD
    return LabEntry(run_dir.resolve(), state, info)


def find_labs(root: Path) -> list[LabEntry]:
    """Every ``lab.json`` in the run dirs under ``root`` (live and stale), newest first."""
    entries = []
    with contextlib.suppress(FileNotFoundError):
        for path in sorted(root.glob(f"*/{LAB_FILE}"), reverse=True):
            if path.parent.is_symlink():  # runs/current: the same lab twice
                continue
            entry = read_lab(path.parent)
            if entry is not None:
                entries.append(entry)
    holder = root_holder(root)
    if holder and holder.get("run_dir"):  # a lab under this root whose run dir is elsewhere
        outside = Path(holder["run_dir"]).resolve()
        if all(e.run_dir != outside for e in entries):
            entry = read_lab(outside)
            if entry is not None:
                entries.insert(0, entry)
    return entries


def process_state(pid: int) -> str:
    """The kernel's one-letter state of ``pid`` (``T``: stopped, e.g. SIGSTOP), or ``""``."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(") ", 1)[1][:1]
    except (OSError, IndexError):
        return ""
