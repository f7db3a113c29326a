"""Where every service of a scenario binds: loopback ports, hosts files, docker-compose names.

The result is a ``config.runconfig.RunConfig`` that the launcher writes to ``RUN_DIR/config.toml``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec

from config.runconfig import Endpoint, RunConfig, ServiceSpec
from config.scenario import Scenario, ScenarioError, Spec

# Which endpoints each role binds. Roles with none only connect.
ROLE_ENDPOINTS: dict[str, tuple[str, ...]] = {
    "recorder": ("tape",),
    "value": ("md", "snapshot"),
    "venue": ("orders", "md"),
    "darkpool": ("orders", "md"),
    "sip": ("md", "snapshot"),
    "wholesaler": ("orders",),
    "auction": ("orders", "md", "responses"),
    "broker": ("orders",),
    "sor": ("orders",),
    "agents": (),
    "injector": (),
}
# Fixed container ports for docker-compose (one host name per service).
COMPOSE_PORTS = {"orders": 7001, "md": 7002, "snapshot": 7003, "responses": 7004, "tape": 7005}
COMPOSE_CONTROL_PORT = 7000


def service_plan(scenario: Scenario) -> list[tuple[str, str]]:
    """``(name, role)`` of every long-running service, in start-up order."""
    plan = [(scenario.recorder, "recorder"), (scenario.value.name, "value")]
    plan += [(v.name, "venue") for v in scenario.venues]
    plan.append((scenario.sip, "sip"))
    plan += [(d.name, "darkpool") for d in scenario.darkpools]
    plan += [(w.name, "wholesaler") for w in scenario.wholesalers]
    plan += [
        (scenario.auction.name, "auction"),
        (scenario.sor.name, "sor"),
        (scenario.broker.name, "broker"),
        (scenario.agents.name, "agents"),
    ]
    names = [n for n, _ in plan]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ScenarioError(f"services: duplicate names {duplicates}")
    return plan


_taken: set[int] = set()
# Ports handed out by any flowlab process on this machine stay reserved this long: a lab binds
# its ports within its start-up (a port is only checked free when it is picked, and two labs
# starting at once — a sweep's workers — would otherwise race for the same free port).
RESERVATION_S = 600.0


def reservations_file() -> Path:
    return Path(tempfile.gettempdir()) / f"flowlab-ports-{os.getuid()}.txt"


@contextlib.contextmanager
def _reservations() -> Iterator[dict[int, float]]:
    """The machine's live port reservations (port -> time), under an exclusive lock; changes
    to the dict are written back."""
    with reservations_file().open("a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        now = time.time()
        live: dict[int, float] = {}
        for line in f.read().split():
            port, _, stamp = line.partition("@")
            with contextlib.suppress(ValueError):
                if now - float(stamp) < RESERVATION_S:
                    live[int(port)] = float(stamp)
        yield live
        f.seek(0)
        f.truncate()
        f.write("\n".join(f"{port}@{stamp:.0f}" for port, stamp in live.items()))


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_tcp_port(host: str = "127.0.0.1") -> int:
    """A port that is free now and outside the kernel's ephemeral range.

    Ports from the ephemeral range would race with the outgoing connections of the lab's own
    processes (which take ephemeral ports) and could even self-connect; below it they cannot.
    The port is reserved for every flowlab process of this machine (``RESERVATION_S``), so that
    labs started at the same time never pick the same one.
    """
    low, _ = _ephemeral_range()
    floor = 10_000 if low > 12_000 else 1_024
    rng = random.Random()
    with _reservations() as reserved:
        for _ in range(1000):
            port = rng.randrange(floor, low)
            if port in _taken or port in reserved:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                try:
                    s.bind((host, port))
                except OSError:
                    continue
            _taken.add(port)
            reserved[port] = time.time()
            return port
    raise ScenarioError(f"cannot find a free TCP port on {host} between {floor} and {low}")


def _resolve(
    scenario: Scenario,
    run_dir: str,
    endpoint_for: Callable[[str, str], Endpoint],
    control: Endpoint,
) -> RunConfig:
    services = [
        ServiceSpec(
            name=name,
            role=role,
            endpoints={kind: endpoint_for(name, kind) for kind in ROLE_ENDPOINTS[role]},
        )
        for name, role in service_plan(scenario)
    ]
    return RunConfig(run_dir=run_dir, scenario=scenario, control=control, services=services)


def resolve_loopback(
    scenario: Scenario,
    run_dir: Path,
    host: str = "127.0.0.1",
    placement: dict[str, str] | None = None,
) -> RunConfig:
    """Every endpoint on a free TCP port: on loopback, or on the address of the host each
    service is placed on (``placement``: service name -> address; others and the orchestrator's
    control endpoint on ``host``). Ports are checked free on this machine's loopback."""
    placement = placement or {}
    unknown = sorted(set(placement) - {name for name, _ in service_plan(scenario)})
    if unknown:
        raise ScenarioError(f"hosts: no service named {', '.join(unknown)}")

    def endpoint(name: str, _kind: str) -> Endpoint:
        address = placement.get(name, host)
        port = free_tcp_port()
        return Endpoint(bind=f"tcp://{address}:{port}", connect=f"tcp://{address}:{port}")

    port = free_tcp_port()
    control = Endpoint(bind=f"tcp://{host}:{port}", connect=f"tcp://{host}:{port}")
    return _resolve(scenario, str(run_dir), endpoint, control)


class HostSpec(Spec, frozen=True):
    """One host of a multi-host lab: its address, how to start a process there, what runs on it.

    ``launch`` is a command prefix for processes on that host (e.g. ``["ip", "netns", "exec",
    "b"]`` for a network namespace, or ``["ssh", "hostb"]`` with the run directory on a shared
    filesystem); empty means this machine.
    """

    address: str
    launch: list[str] = []
    services: list[str] = []


class HostsFile(Spec, frozen=True):
    """``flowlab up --hosts FILE``: where the orchestrator listens and where services run."""

    orchestrator: str = "127.0.0.1"
    hosts: dict[str, HostSpec] = {}

    def placement(self) -> dict[str, str]:
        return {svc: h.address for h in self.hosts.values() for svc in h.services}

    def launch_prefix(self) -> dict[str, list[str]]:
        return {svc: list(h.launch) for h in self.hosts.values() for svc in h.services}


def load_hosts(path: str | Path) -> HostsFile:
    try:
        return msgspec.toml.decode(Path(path).read_bytes(), type=HostsFile)
    except (OSError, msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ScenarioError(f"cannot load hosts file {path}: {exc}") from exc


def resolve_compose(scenario: Scenario, run_dir: str = "/run/flowlab") -> RunConfig:
    """Endpoints by host name, one container per service, fixed ports (docker-compose)."""

    def endpoint(name: str, kind: str) -> Endpoint:
        port = COMPOSE_PORTS[kind]
        return Endpoint(bind=f"tcp://*:{port}", connect=f"tcp://{name}:{port}")

    control = Endpoint(
        bind=f"tcp://*:{COMPOSE_CONTROL_PORT}", connect=f"tcp://orchestrator:{COMPOSE_CONTROL_PORT}"
    )
    return _resolve(scenario, run_dir, endpoint, control)
