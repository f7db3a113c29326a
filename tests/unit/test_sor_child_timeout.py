"""A child's timeout while its venue's reports wait unread (services/sor/children.py).

The router gives a child up once any report of it must have arrived. Under load the router
itself can be behind: the venue's fill is already in the router's socket, unread, when the
timer fires. Giving the child up then reroutes shares the venue executed (an overfill, seen in
``flowlab bench --load`` at 500 orders/s on a contended machine). The timer must first let the
router read what that venue sent. Real zmq sockets: the venue's report sits in the router's
DEALER socket."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import zmq
import zmq.asyncio

from protocol.common import Side
from services.sor.children import TIMEOUT_RECHECK_S, ChildOrders, Working
from services.sor.parent import Child, ParentOrder


class Host(ChildOrders):
    """The router's state ChildOrders reads, with its sends recorded."""

    def __init__(self, sock: zmq.asyncio.Socket) -> None:
        self.child_sockets = {"lit-a": sock}
        self.lag_bound_ns = 2_000 * 1_000_000
        self.counters: dict[str, int] = {}
        self.child_timers: dict[str, Any] = {}
        self.unresponsive: dict[str, int] = {}
        self.grace_ns = {"lit-a": 50_000_000}
        self.working: dict[str, Working] = {}
        self.cancels: list[str] = []
        self.rerouted: list[str] = []
        self.cfg = type("Cfg", (), {"child_timeout_ms": 500})()
        self.name = "sor"

    def count(self, key: str, n: int = 1) -> None:
        self.counters[key] = self.counters.get(key, 0) + n

    def _cancel_child(self, work: Working, child: Child, reason: str) -> None:
        self.cancels.append(child.child_id)

    def _work(self, key: str) -> None:
        self.rerouted.append(key)


def working() -> Working:
    parent = ParentOrder(
        "p-1", "ACME", Side.BUY, 500, "greedy", 10_100_000, 1, 9_990_000, 10_000_000
    )
    parent.add_child(Child("p-1/1", "lit-a", "lit", 500, 10_000_000, 1, 2))
    return Working("p-1", b"client", parent, None, 0)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def router_with_unread_report(endpoint: str) -> AsyncIterator[zmq.asyncio.Socket]:
    """The router's DEALER to a venue, with one report from the venue sitting in it unread."""
    ctx = zmq.asyncio.Context()
    venue = ctx.socket(zmq.ROUTER)
    router = ctx.socket(zmq.DEALER)
    router.setsockopt(zmq.IDENTITY, b"sor")
    try:
        venue.bind(endpoint)
        router.connect(endpoint)
        await router.send_multipart([b"hello"])  # the venue learns the router's identity
        await venue.recv_multipart()
        await venue.send_multipart([b"sor", b"report of p-1/1"])  # in the router's pipe now
        yield router
    finally:
        router.close(0)
        venue.close(0)
        ctx.term()


async def test_a_timeout_waits_while_the_venues_report_is_unread_then_gives_up() -> None:
    async with router_with_unread_report("inproc://lit-a") as router:
        host = Host(router)
        work = working()
        host.working["p-1"] = work
        due_ns = time.time_ns()  # due now: only the waiting report holds the child

        host._on_child_timeout("p-1", "p-1/1", due_ns)

        child = work.parent.children["p-1/1"]
        assert not child.abandoned and host.cancels == [] and host.rerouted == []
        assert host.counters == {"children.timeout_deferred": 1}
        assert "p-1/1" in host.child_timers  # looked at again shortly

        assert await router.recv_multipart() == [b"report of p-1/1"]  # the router reads it
        # ...and had it been this child's report, it would have ended the child. It was not,
        # so the recheck timer gives the child up: wait for that, bounded
        deadline = time.monotonic() + 2.0
        while not child.abandoned and time.monotonic() < deadline:
            await asyncio.sleep(TIMEOUT_RECHECK_S)

        assert child.abandoned and host.cancels == ["p-1/1"] and host.rerouted == ["p-1"]
        assert host.counters["children.timed_out"] == 1


async def test_a_router_behind_past_the_lag_bound_gives_up_as_before() -> None:
    async with router_with_unread_report("inproc://lit-a2") as router:
        host = Host(router)
        work = working()
        host.working["p-1"] = work
        # due 2.001 s ago: the router is further behind than [limits] lag_ms (2,000 ms)
        host._on_child_timeout("p-1", "p-1/1", time.time_ns() - 2_001_000_000)

        assert work.parent.children["p-1/1"].abandoned and host.cancels == ["p-1/1"]
        assert "children.timeout_deferred" not in host.counters
