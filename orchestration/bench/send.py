"""Send-path benchmark: one batch of a link leaving through ``services.latency.Link`` (its direct
send into pyzmq's compiled ``Socket.send``) against the same batch through pyzmq's asyncio
socket (``send_multipart(..., flags=DONTWAIT)``, what ``Link`` did until 2026-12-04).

Each ``Link`` send is the whole of it (the message queued with its due time, then its batch of
one sent at once: ``send`` and ``flush_now``); the asyncio send is the send alone. Both send the
same frames (``[VERSION, payload]``, the payload an encoded ``SubmitOrder``) over
one local TCP connection, DEALER to ROUTER, with the receiving side drained between timed
blocks so the pipe never fills. Only the calling thread's send is timed: libzmq's I/O thread
moves the bytes in both cases alike. The figure is the median of ``reps`` blocks of ``n``
sends, each path timed in alternate blocks of one run."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable

import msgspec
import zmq
import zmq.asyncio

from orchestration.bench.codec import codec_sample
from protocol.codec import VERSION, encode
from services.latency import LatencyModel, Link
from services.sockets import Context

DRAIN_TIMEOUT_S = 30.0


class SendResult(msgspec.Struct, frozen=True, kw_only=True):
    """Batches sent per second through each path (medians of ``reps`` blocks of ``n``)."""

    n: int
    reps: int
    frames: int
    link_sends_per_s: float
    asyncio_sends_per_s: float
    ratio: float  # link / asyncio


def bench_send(n: int = 20_000, reps: int = 5) -> SendResult:
    """Time ``reps`` alternating blocks of ``n`` sends through each path."""
    return asyncio.run(_bench(n, reps))


async def _bench(n: int, reps: int) -> SendResult:
    ctx = Context()  # the lab's sockets (services/sockets.py)
    dealer, router = ctx.socket(zmq.DEALER), ctx.socket(zmq.ROUTER)
    try:
        for sock in (dealer, router):
            sock.linger = 0
            sock.sndhwm = sock.rcvhwm = 0  # never full: every send is taken at once
        port = router.bind_to_random_port("tcp://127.0.0.1")
        dealer.connect(f"tcp://127.0.0.1:{port}")
        payload = encode(codec_sample())
        frames = [VERSION, payload]
        link = Link(dealer, LatencyModel.zero())

        def through_link() -> None:  # queued (now due), then sent as a batch of one
            link.send(payload)
            link.flush_now()

        def through_asyncio() -> None:
            dealer.send_multipart(frames, flags=zmq.DONTWAIT)

        received = [0]
        rates: dict[str, list[float]] = {"link": [], "asyncio": []}
        sent = 0
        for _ in range(reps):
            for name, send in (("link", through_link), ("asyncio", through_asyncio)):
                rates[name].append(n / _time(send, n))
                sent += n
                await _drain(router, sent, received)
        if link.sent != n * reps:
            raise RuntimeError(f"the link sent {link.sent} of {n * reps}")
    finally:
        dealer.close(linger=0)
        router.close(linger=0)
        ctx.term()
    fast, slow = statistics.median(rates["link"]), statistics.median(rates["asyncio"])
    return SendResult(
        n=n,
        reps=reps,
        frames=len(frames),
        link_sends_per_s=fast,
        asyncio_sends_per_s=slow,
        ratio=fast / slow,
    )


def _time(send: Callable[[], None], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        send()
    return time.perf_counter() - start


async def _drain(router: zmq.asyncio.Socket, total: int, got: list[int]) -> None:
    """Receive until ``total`` messages have arrived since the start (``got[0]`` counts them)."""
    shadow: zmq.Socket[bytes] = zmq.Socket.shadow(router.underlying)
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while got[0] < total:
        try:
            shadow.recv_multipart(zmq.NOBLOCK)
            got[0] += 1
        except zmq.Again:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {got[0]} of {total} sends arrived") from None
            await asyncio.sleep(0.001)
