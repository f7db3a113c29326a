"""How a service reads its sockets (``Service.receive_batches`` on ``services.sockets``): the
socket's readiness calls a reader that takes what is queued, no future per receive.

Real sockets throughout. The service around the reader is a stand-in with the few attributes
``receive_batches`` uses (its name, exit code and ``stop``); the function under test is the
real one."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import uvloop
import zmq
import zmq.asyncio
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.codec import VERSION
from services.latency import LatencyModel, Link
from services.runtime import DRAIN_BATCH, Service
from services.sockets import Context, ServedSocket, stop_arrivals

FLOOD = 100_000


class Host:
    """What ``Service.receive_batches`` reads of its service."""

    def __init__(self) -> None:
        self.name = "test"
        self.exit_code = 0
        self._served: list[zmq.asyncio.Socket] = []
        self.stopped: list[str] = []

    def stop(self, reason: str = "requested") -> None:
        self.stopped.append(reason)


def serve(
    sock: zmq.asyncio.Socket, host: Host | None = None, copy: bool = True
) -> tuple[Host, list[list[list[Any]]]]:
    """Install the real reader on ``sock``; returns the host and the batches it handed on."""
    host = host or Host()
    batches: list[list[list[Any]]] = []
    Service.receive_batches(host, sock, lambda b, _ns: batches.append(b), name="in", copy=copy)  # type: ignore[arg-type]
    return host, batches


async def until(check: Any, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "not within the time bound"
        await asyncio.sleep(0.001)


class Sockets:
    """A ``services.sockets.Context`` that keeps every socket it made until the test ends (a
    socket collected unclosed warns)."""

    def __init__(self) -> None:
        self.context = Context()
        self.made: list[zmq.asyncio.Socket] = []

    def socket(self, kind: int) -> zmq.asyncio.Socket:
        sock = self.context.socket(kind)
        sock.setsockopt(zmq.LINGER, 0)
        self.made.append(sock)
        return sock

    def close(self) -> None:
        for sock in self.made:
            sock.close(0)
        self.context.term()


@pytest.fixture
async def ctx() -> AsyncIterator[Sockets]:
    sockets = Sockets()
    yield sockets
    sockets.close()


async def test_the_context_makes_served_sockets(ctx: Sockets) -> None:
    assert isinstance(ctx.socket(zmq.PULL), ServedSocket)


async def test_a_flood_is_read_whole_in_order_and_the_timers_get_turns(
    ctx: Sockets,
) -> None:
    # Arrange: 100,000 messages queued before the reader starts (inproc: a send puts the
    # message in the pipe at once), and a 5 ms timer (a heartbeat, a link's delayed send)
    pull, push = ctx.socket(zmq.PULL), ctx.socket(zmq.PUSH)
    pull.setsockopt(zmq.RCVHWM, 0)
    push.setsockopt(zmq.SNDHWM, 0)
    pull.bind("inproc://flood")
    push.connect("inproc://flood")
    sender = zmq.Socket.shadow(push.underlying)
    for i in range(FLOOD):
        sender.send(b"%d" % i)
    ticks = 0

    async def timer() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    ticking = asyncio.ensure_future(timer())
    try:
        # Act
        _host, batches = serve(pull)
        await until(lambda: sum(len(b) for b in batches) >= FLOOD, 30)
    finally:
        ticking.cancel()

    # Assert: every message once, in order, in batches of at most DRAIN_BATCH, and the timer
    # ran while the flood was read (the reader returns after YIELD_AFTER_NS, 20 ms)
    got = [parts[0] for batch in batches for parts in batch]
    assert got == [b"%d" % i for i in range(FLOOD)]
    assert max(len(b) for b in batches) == DRAIN_BATCH
    assert ticks > 0


async def arrival_while_blocked_then(
    ctx: Sockets, send: Any
) -> tuple[list[list[list[Any]]], zmq.asyncio.Socket]:
    """A served DEALER; a message for it arrives while the loop cannot see its descriptor (a
    blocking sleep), then ``send(dealer)`` sends on the same socket at once. The batches its
    reader got within 1 s."""
    router, dealer = ctx.socket(zmq.ROUTER), ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.IDENTITY, b"peer-1")
    port = router.bind_to_random_port("tcp://127.0.0.1")
    dealer.connect(f"tcp://127.0.0.1:{port}")
    await dealer.send_multipart([VERSION, b"hello"])
    identity, *_ = await asyncio.wait_for(router.recv_multipart(), 5)
    _host, batches = serve(dealer)
    await asyncio.sleep(0.05)  # registered, nothing queued

    await router.send_multipart([identity, VERSION, b"arrived"])
    time.sleep(0.1)  # it arrives; the loop does not run
    send(dealer)
    deadline = time.monotonic() + 1.0
    while not batches and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    return batches, router


async def test_a_links_direct_send_does_not_strand_an_arrival(
    ctx: Sockets,
) -> None:
    # libzmq's descriptor is edge-triggered and the send takes the arrival's edge off it:
    # unless the send looks at the socket's events again, the reader is never called
    links: list[Link] = []

    def link_send(dealer: zmq.asyncio.Socket) -> None:
        link = Link(dealer, LatencyModel.zero())
        links.append(link)
        link.send(b"sent meanwhile")
        link.flush_now()

    batches, router = await arrival_while_blocked_then(ctx, link_send)

    assert links[0]._shadow is not None and links[0].sent == 1  # the direct send was taken
    assert batches == [[[VERSION, b"arrived"]]]
    assert (await asyncio.wait_for(router.recv_multipart(), 5))[1:] == [VERSION, b"sent meanwhile"]


async def test_an_asyncio_send_does_not_strand_an_arrival(ctx: Sockets) -> None:
    # the same through pyzmq's own asyncio send (a service's replies on a DEALER, its
    # heartbeats), which by itself only wakes awaited receives, not a reader
    batches, _router = await arrival_while_blocked_then(
        ctx, lambda dealer: dealer.send_multipart([VERSION, b"sent meanwhile"])
    )

    assert batches == [[[VERSION, b"arrived"]]]


async def test_a_reader_that_raises_stops_the_service_with_exit_code_1(
    ctx: Sockets,
) -> None:
    pull, push = ctx.socket(zmq.PULL), ctx.socket(zmq.PUSH)
    pull.bind("inproc://raises")
    push.connect("inproc://raises")
    host = Host()

    def handle(_batch: list[list[Any]], _ns: int) -> None:
        raise RuntimeError("broken handler")

    Service.receive_batches(host, pull, handle, name="in")  # type: ignore[arg-type]
    await push.send_multipart([b"x"])
    await until(lambda: host.stopped)

    assert host.exit_code == 1 and host.stopped == ["receive in failed"]
    assert pull._reader is None  # type: ignore[attr-defined]  # not called again


async def test_stopped_arrivals_leave_messages_queued(ctx: Sockets) -> None:
    pull, push = ctx.socket(zmq.PULL), ctx.socket(zmq.PUSH)
    pull.bind("inproc://stopped")
    push.connect("inproc://stopped")
    _host, batches = serve(pull)
    stop_arrivals(pull)

    await push.send_multipart([b"late"])
    await asyncio.sleep(0.05)

    assert batches == []
    assert await asyncio.wait_for(pull.recv_multipart(), 5) == [b"late"]  # still there


async def test_a_canceled_parked_send_leaves_no_wake_up_spinning(
    ctx: Sockets, tmp_path: Path
) -> None:
    # A send parks on a served DEALER (its only pipe full), is canceled, and the pipe then
    # drains (a peer binds): pyzmq's send handler must still run once to stop watching for
    # POLLOUT, or the socket's events are looked at again on every turn of the loop for ever
    # (48,180 times in 0.3 s before the fix; found by the session's reviewer).
    endpoint = f"ipc://{tmp_path / 'late-peer'}"
    dealer = ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.SNDHWM, 1)
    dealer.connect(endpoint)
    calls = 0
    handle_events = dealer._handle_events  # type: ignore[attr-defined]

    def counted(fd: int = 0, events: int = 0) -> None:
        nonlocal calls
        calls += 1
        handle_events(fd, events)

    dealer._handle_events = counted  # type: ignore[attr-defined]
    serve(dealer)
    await dealer.send_multipart([VERSION, b"queued"])
    parked = dealer.send_multipart([VERSION, b"parked"])
    assert not parked.done()  # type: ignore[attr-defined]
    parked.cancel()  # type: ignore[attr-defined]
    await asyncio.sleep(0)
    peer = ctx.socket(zmq.ROUTER)
    peer.bind(endpoint)
    assert (await asyncio.wait_for(peer.recv_multipart(), 5))[1:] == [VERSION, b"queued"]

    await asyncio.sleep(0.3)

    assert calls < 50


async def test_nothing_may_await_a_served_socket(ctx: Sockets) -> None:
    pull = ctx.socket(zmq.PULL)
    serve(pull)

    with pytest.raises(RuntimeError, match="reader"):
        pull.recv_multipart()
    with pytest.raises(RuntimeError, match="already has a reader"):
        serve(pull)


def test_arrivals_are_not_stranded_on_uvloop_either() -> None:
    # the services run on uvloop; the tests above on the standard loop
    async def both() -> None:
        sockets = Sockets()
        try:
            await test_a_links_direct_send_does_not_strand_an_arrival(sockets)
            await test_an_asyncio_send_does_not_strand_an_arrival(sockets)
        finally:
            sockets.close()

    uvloop.run(both())


@settings(max_examples=8, deadline=None)
@given(
    bursts=st.lists(st.integers(min_value=1, max_value=700), min_size=1, max_size=12),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_senders_bursts_and_replies_lose_nothing_and_keep_each_senders_order(
    bursts: list[int], seed: int
) -> None:
    # Three DEALERs send bursts to a served ROUTER over TCP; the ROUTER's handler answers
    # every tenth message through a Link on the same socket (sends between reads). Every
    # message arrives once, each sender's in the order sent, and every answer arrives.
    asyncio.run(_senders_bursts_and_replies(bursts, random.Random(seed)))


async def _senders_bursts_and_replies(bursts: list[int], rng: random.Random) -> None:
    ctx = Sockets()
    try:
        router = ctx.socket(zmq.ROUTER)
        router.setsockopt(zmq.RCVHWM, 0)
        port = router.bind_to_random_port("tcp://127.0.0.1")
        senders = []
        for i in range(3):
            dealer = ctx.socket(zmq.DEALER)
            dealer.setsockopt(zmq.IDENTITY, b"s%d" % i)
            dealer.setsockopt(zmq.SNDHWM, 0)
            dealer.connect(f"tcp://127.0.0.1:{port}")
            senders.append(dealer)
        got: dict[bytes, list[int]] = {b"s0": [], b"s1": [], b"s2": []}
        links: dict[bytes, Link] = {}
        answered = 0

        def handle(batch: list[list[Any]], _ns: int) -> None:
            nonlocal answered
            for identity, _version, payload in batch:
                n = int(payload)
                got[identity].append(n)
                if n % 10 == 0:
                    link = links.setdefault(identity, Link(router, LatencyModel.zero(), identity))
                    link.send(payload)
                    answered += 1

        Service.receive_batches(Host(), router, handle, name="in")  # type: ignore[arg-type]
        sent = {s.identity: 0 for s in senders}
        for size in bursts:
            dealer = rng.choice(senders)
            for _ in range(size):
                dealer.send_multipart([VERSION, b"%d" % sent[dealer.identity]])
                sent[dealer.identity] += 1
            await asyncio.sleep(rng.choice([0, 0, 0.001]))
        await until(lambda: sum(map(len, got.values())) >= sum(bursts), 20)
        replies = 0

        async def read_replies(dealer: zmq.asyncio.Socket) -> None:
            nonlocal replies
            expect = (sent[dealer.identity] + 9) // 10
            seen: list[int] = []
            while len(seen) < expect:
                frames = await asyncio.wait_for(dealer.recv_multipart(), 5)
                seen.extend(int(f) for f in frames[1:])
            assert seen == list(range(0, sent[dealer.identity], 10))
            replies += len(seen)

        await asyncio.gather(*(read_replies(d) for d in senders))

        for dealer in senders:
            assert got[dealer.identity] == list(range(sent[dealer.identity]))
        assert replies == answered
    finally:
        ctx.close()
