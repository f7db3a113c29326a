"""Control plane: readiness, heartbeats, stop, status, and the generic protocol reject."""

from __future__ import annotations

from protocol.base import Message, Record
from protocol.common import Name, Nanos, OrderId, Text


class Rejected(Message, frozen=True):
    """Reply to a frame or message that could not be decoded or is not accepted on this socket.

    ``order_id`` is the rejected payload's ``order_id`` when one could be read from it (a
    SubmitOrder with one bad field), so the sender knows which of its orders was refused.
    """

    reason: Text
    field: str | None = None
    received_type: str | None = None
    order_id: OrderId | None = None


class ServiceReady(Message, frozen=True):
    """Readiness handshake: sockets bound and connected, snapshots taken."""

    name: Name
    role: Name
    pid: int
    endpoints: dict[str, str] = {}


class Heartbeat(Message, frozen=True):
    name: Name
    state: Name
    counters: dict[str, int] = {}


class StopService(Message, frozen=True):
    reason: Text = "requested"


class PeerDown(Message, frozen=True):
    """The orchestrator to every service: ``name`` died or stalled (no heartbeat for 3 intervals)
    at ``since_ns``; stop waiting on it (end or reroute what is outstanding there). The run is
    aborted: an injector stops sending and settles what it sent — unless ``restarting``: the
    scenario's restart policy is starting it again (``PeerUp`` follows), and the run goes on."""

    name: Name
    role: Name
    reason: Text
    since_ns: Nanos
    restarting: bool = False


class PeerUp(Message, frozen=True):
    """The orchestrator to every service: ``name``, reported down, was restarted (its
    ``restarts``-th time) and is ready again since ``since_ns``: route to it again."""

    name: Name
    role: Name
    restarts: int
    since_ns: Nanos


class ServiceStatus(Record, frozen=True):
    name: Name
    role: Name
    pid: int
    state: Name
    heartbeat_age_us: int
    counters: dict[str, int] = {}


class StatusRequest(Message, frozen=True):
    pass


class StatusReply(Message, frozen=True):
    run_dir: str
    started_ns: Nanos
    services: list[ServiceStatus]


class Shutdown(Message, frozen=True):
    """Ask the orchestrator to stop the whole lab."""

    reason: Text = "requested"


class InjectionDone(Message, frozen=True):
    """The injector's final account of a stream."""

    name: Name
    sent: int
    terminal: int
    filled: int
    rejected: int
    canceled: int
    timed_out: int


class PnlReport(Message, frozen=True):
    """Tape event: an agent's accounts (micro-dollars per component, shares of inventory)."""

    name: Name
    role: Name
    components: dict[str, int]
    inventory: dict[str, int] = {}
