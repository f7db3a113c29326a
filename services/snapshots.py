"""What a restarted service rejoins from (the restart policy, docs/RELIABILITY.md).

A service the scenario's ``[restart]`` names keeps, in ``RUN_DIR/snapshots/``:

- ``NAME.state``: its learned state, replaced whole (written to a temporary file and renamed,
  so a reader sees the old state or the new one, never half of one) every
  ``SNAPSHOT_INTERVAL_S``;
- ``NAME.journal``: an append-only record of every trade it made, one write per entry (a
  4-byte big-endian length, then the entry as MessagePack), unbuffered: what the process wrote
  is in the kernel's page cache the moment ``append`` returns, so a process killed with
  SIGKILL loses nothing it journaled (a machine that loses power may: the lab does not fsync).

A restarted process reads the state back and replays the journal, so its accounts (cash,
inventory, P&L components) are exact and its learning resumes from at most one interval ago.
A journal's last entry cut short by a death in mid-write is ignored (``read_journal``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import msgspec

SNAPSHOT_INTERVAL_S = 1.0
_LENGTH = 4
_encoder = msgspec.msgpack.Encoder()


def snapshot_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "snapshots"


class Journal:
    """Append-only, length-prefixed MessagePack entries; see the module docstring."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self.entries = 0

    def append(self, entry: Any) -> None:
        body = _encoder.encode(entry)
        os.write(self._fd, len(body).to_bytes(_LENGTH, "big") + body)
        self.entries += 1

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def read_journal(path: Path) -> tuple[list[Any], int]:
    """The entries of a journal (none if there is no file) and the bytes of a last entry cut
    short (0: the journal ends cleanly)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [], 0
    entries, at = [], 0
    while at + _LENGTH <= len(data):
        size = int.from_bytes(data[at : at + _LENGTH], "big")
        end = at + _LENGTH + size
        if end > len(data):
            break
        entries.append(msgspec.msgpack.decode(data[at + _LENGTH : end]))
        at = end
    return entries, len(data) - at


def write_state(path: Path, payload: bytes) -> None:
    """Replace ``path`` with ``payload`` atomically (a temporary file renamed over it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, payload)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def read_state(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
