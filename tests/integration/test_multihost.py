"""A lab across two hosts: a Linux network namespace joined to this one by a veth pair.

The second "host" runs a lit venue and the wholesaler; everything else stays here. Orders cross
real TCP between network stacks. Needs root and iproute2 (``ip netns``); skipped otherwise.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.scenario import load_scenario
from orchestration.endpoints import HostsFile, HostSpec
from orchestration.launcher import LabSupervisor
from orchestration.streams import generate_stream, write_stream
from orchestration.tape import build_tables

TINY = Path(__file__).with_name("scenarios") / "tiny.toml"


def ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)


@pytest.fixture
def second_host() -> Iterator[tuple[str, str, str]]:
    """A network namespace with a veth link to this one: (namespace, our address, its address)."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 for network namespaces")
    ns, here, there = f"flb{os.getpid()}", f"fla{os.getpid()}", f"flc{os.getpid()}"
    subnet = 100 + os.getpid() % 100
    ours, theirs = f"10.{subnet}.77.1", f"10.{subnet}.77.2"
    steps = [
        ("netns", "add", ns),
        ("link", "add", here, "type", "veth", "peer", "name", there),
        ("link", "set", there, "netns", ns),
        ("addr", "add", f"{ours}/24", "dev", here),
        ("link", "set", here, "up"),
        ("-n", ns, "addr", "add", f"{theirs}/24", "dev", there),
        ("-n", ns, "link", "set", there, "up"),
        ("-n", ns, "link", "set", "lo", "up"),
    ]
    try:
        for step in steps:
            result = ip(*step)
            if result.returncode != 0:
                pytest.skip(
                    f"cannot build a network namespace here: ip {' '.join(step)}: {result.stderr}"
                )
        probe = ip("netns", "exec", ns, sys.executable, "-c", "pass")
        if probe.returncode != 0:
            pytest.skip(f"cannot run a process in a network namespace here: {probe.stderr}")
        yield ns, ours, theirs
    finally:
        ip("link", "del", here)
        ip("netns", "del", ns)


def net_namespace(pid: int) -> str:
    return os.readlink(f"/proc/{pid}/ns/net")


def test_lab_across_two_hosts_routes_orders_between_network_stacks(
    second_host: tuple[str, str, str], tmp_path: Path
) -> None:
    ns, ours, theirs = second_host
    remote = ["lit-b", "wh-a"]
    hosts = HostsFile(
        orchestrator=ours,
        hosts={
            "here": HostSpec(address=ours),
            "there": HostSpec(address=theirs, launch=["ip", "netns", "exec", ns], services=remote),
        },
    )
    scenario = load_scenario(TINY)

    async def run() -> tuple[LabSupervisor, object, dict, dict[str, str]]:
        lab = LabSupervisor(scenario, runs_root=tmp_path, hosts=hosts)
        try:
            await lab.start()
            spaces = {name: net_namespace(p.pid) for name, p in lab.procs.items()}
            rows = generate_stream(
                scenario, ["pfof", "auction"], orders=40, rate_per_s=80.0, seed=9
            )
            done = await lab.inject(write_stream(rows, lab.run_dir / "stream.csv"), timeout_s=30)
        finally:
            codes = await lab.stop()
        return lab, done, codes, spaces

    lab, done, codes, spaces = asyncio.run(asyncio.wait_for(run(), 120))

    assert all(code == 0 for code in codes.values()), codes
    assert done.terminal == done.sent == 40  # type: ignore[attr-defined]
    assert {spaces[n] for n in remote} != {spaces["broker"]}
    assert spaces["lit-a"] == spaces["broker"] == net_namespace(os.getpid())
    assert all(lab.config.connect(n, "orders").startswith(f"tcp://{theirs}:") for n in remote)
    tables = build_tables(lab.run_dir, lab.config)
    internalized = tables["fills"][tables["fills"]["destination"] == "wh-a"]
    assert len(internalized) > 0  # the broker here reached the wholesaler there
    quotes = tables["quotes"]
    # market makers here quote on the venue there, and the SIP here consolidates its quotes
    assert quotes[(quotes["venue"] == "lit-b")]["bid_px"].notna().any()
    nbbo = tables["nbbo"]
    assert len(nbbo) > 0
