"""Free ports are reserved across processes, so labs started at the same time never collide."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PICK = (
    "from orchestration.endpoints import free_tcp_port\n"
    "print(*[free_tcp_port() for _ in range(200)])"
)


def test_free_tcp_port_two_processes_at_once_get_disjoint_ports(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    procs = [
        subprocess.Popen([sys.executable, "-c", PICK], stdout=subprocess.PIPE, env=env, text=True)
        for _ in range(2)
    ]
    picked = [set(map(int, proc.communicate(timeout=60)[0].split())) for proc in procs]
    assert [len(p) for p in picked] == [200, 200]
    assert picked[0].isdisjoint(picked[1])
    assert len((tmp_path / f"flowlab-ports-{os.getuid()}.txt").read_text().split()) == 400
