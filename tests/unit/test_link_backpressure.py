"""libzmq's own queues (issue 13): a ROUTER drops a message to a full or gone peer silently by
default. A ``Link`` keeps a batch a full peer refused and sends it once the peer reads (nothing
lost, order kept, counted ``blocked``), and counts what goes to a peer that is gone
(``unroutable``). Real sockets, real high-water marks."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import cast

import zmq
import zmq.asyncio

from protocol.codec import VERSION
from services.latency import LatencyModel, Link
from services.limits import Limits

MESSAGES = 400


async def _router_and_peer(
    ctx: zmq.asyncio.Context,
) -> tuple[zmq.asyncio.Socket, zmq.asyncio.Socket]:
    router = ctx.socket(zmq.ROUTER)
    router.setsockopt(zmq.ROUTER_MANDATORY, 1)  # as services.runtime.Service.socket sets it
    router.setsockopt(zmq.SNDHWM, 2)
    router.setsockopt(zmq.LINGER, 0)
    router.bind("inproc://link-hwm")  # no kernel buffers: the pipe holds SNDHWM + RCVHWM
    peer = ctx.socket(zmq.DEALER)
    peer.setsockopt(zmq.IDENTITY, b"slow")
    peer.setsockopt(zmq.RCVHWM, 2)
    peer.setsockopt(zmq.LINGER, 0)
    peer.connect("inproc://link-hwm")
    await peer.send_multipart([VERSION, b"hello"])  # the router learns the routing id
    assert (await asyncio.wait_for(router.recv_multipart(), 5))[0] == b"slow"
    return router, peer


async def test_a_full_peer_delays_batches_and_loses_none() -> None:
    ctx = zmq.asyncio.Context()
    router, peer = await _router_and_peer(ctx)
    try:
        link = Link(router, LatencyModel.zero(), b"slow")
        for i in range(MESSAGES):  # one batch per loop turn: many more than the HWMs hold
            link.send(b"m%d" % i)
            await asyncio.sleep(0)
        await asyncio.sleep(0.05)
        held = link.queued

        received: list[bytes] = []
        while len(received) < MESSAGES:
            frames = await asyncio.wait_for(peer.recv_multipart(), 5)
            assert frames[0] == VERSION
            received.extend(frames[1:])

        # the peer's queue filled: batches were refused and kept, none dropped, order kept
        assert link.blocked > 0 and held > 0
        assert received == [b"m%d" % i for i in range(MESSAGES)]
        assert (link.sent, link.queued, link.unroutable) == (MESSAGES, 0, 0)
    finally:
        router.close(0)
        peer.close(0)
        ctx.term()


async def test_a_peer_that_is_gone_is_counted_unroutable_not_dropped_silently() -> None:
    ctx = zmq.asyncio.Context()
    router = ctx.socket(zmq.ROUTER)
    router.setsockopt(zmq.ROUTER_MANDATORY, 1)
    router.setsockopt(zmq.LINGER, 0)
    router.bind_to_random_port("tcp://127.0.0.1")
    try:
        link = Link(router, LatencyModel.zero(), b"nobody")
        for i in range(3):
            link.send(b"m%d" % i)
        await asyncio.sleep(0.01)

        assert (link.unroutable, link.sent, link.queued, link.blocked) == (3, 0, 0, 0)
    finally:
        router.close(0)
        ctx.term()


def test_link_counters_keep_a_retired_links_counts_and_show_refusals_once_there_are_any() -> None:
    # The heartbeat's send.* counters sum every link's own counts, a retired one's too (the
    # tape's link after the recorder is lost): the totals never fall when a link goes.
    # send.blocked and send.unroutable appear only once one is non-zero.
    class Heartbeat(Limits):
        def __init__(self) -> None:
            self.counters: dict[str, int] = {}
            self._links = {}
            self._tape_link = None
            self._retired_links = []
            self.admission = None

    def link(sent: int, batches: int, blocked: int = 0, unroutable: int = 0) -> Link:
        fake = SimpleNamespace(
            sent=sent, batches=batches, blocked=blocked, unroutable=unroutable, queued=0
        )
        return cast(Link, fake)

    service = Heartbeat()
    service._links[(1, b"peer")] = link(sent=30, batches=4)
    service._tape_link = link(sent=70, batches=6)
    service._update_queue_counters()
    before = {k: v for k, v in service.counters.items() if k.startswith("send.")}

    service._retired_links.append(service._tape_link)  # what the recorder's loss does
    service._tape_link = None
    service._links[(1, b"peer")] = link(sent=31, batches=5, blocked=2)
    service._update_queue_counters()
    after = {k: v for k, v in service.counters.items() if k.startswith("send.")}

    assert before == {"send.messages": 100, "send.batches": 10}
    assert after == {"send.messages": 101, "send.batches": 11, "send.blocked": 2}
