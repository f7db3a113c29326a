"""Receive-path benchmark: a service's reader on a ``services.sockets.ServedSocket`` (called by
the socket's readiness, taking queued messages with pyzmq's compiled receive) against what
``Service._serve`` did until 2026-12-04 (an awaited receive on pyzmq's asyncio socket, then a
drain of what else is queued through a synchronous shadow).

A lab's services are woken by small bursts, not floods: one order sets a few messages in
motion per link. So another process sends ``[VERSION, payload]`` (an encoded ``SubmitOrder``)
in bursts of ``burst`` every ``interval_s`` over local TCP, and the figure is the CPU time of
the receiving thread (``time.thread_time``: its own work, not libzmq's I/O thread's, nor time
spent waiting for a CPU) per message received, both paths in alternate blocks of one run
(medians of ``reps`` blocks of ``n`` messages each)."""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import zmq
import zmq.asyncio

from orchestration.bench.codec import codec_sample
from protocol.codec import VERSION, encode
from services.sockets import Context, on_arrival, recv_frames, stop_arrivals

END = b"end"
RECEIVE_TIMEOUT_S = 60.0


class ReceiveResult(msgspec.Struct, frozen=True, kw_only=True):
    """Receiving thread's CPU per message on each path (medians of ``reps`` blocks of ``n``)."""

    n: int
    reps: int
    burst: int
    interval_us: int
    reader_cpu_us: float
    asyncio_cpu_us: float
    ratio: float  # asyncio / reader: how many times the reader's CPU the old path took


def bench_receive(
    n: int = 20_000, reps: int = 3, burst: int = 3, interval_s: float = 0.001
) -> ReceiveResult:
    """Time ``reps`` alternating blocks of ``n`` paced messages through each path."""
    cpu: dict[str, list[float]] = {"reader": [], "asyncio": []}
    for _ in range(reps):
        for name, receive in (("reader", _through_reader), ("asyncio", _through_asyncio)):
            # the old path on pyzmq's own asyncio socket, as it was (the served socket's
            # overrides would make it cheaper than it was)
            context = Context if name == "reader" else zmq.asyncio.Context
            cpu[name].append(_block(receive, context, n, burst, interval_s) / n * 1e6)
    fast, slow = statistics.median(cpu["reader"]), statistics.median(cpu["asyncio"])
    return ReceiveResult(
        n=n,
        reps=reps,
        burst=burst,
        interval_us=round(interval_s * 1e6),
        reader_cpu_us=fast,
        asyncio_cpu_us=slow,
        ratio=slow / fast,
    )


Receive = Callable[[zmq.asyncio.Socket, int], Awaitable[int]]


def _block(
    receive: Receive, context: type[zmq.asyncio.Context], n: int, burst: int, interval_s: float
) -> float:
    """One block: bind, start the sender, receive ``n`` messages; the receiving thread's CPU
    seconds from the first message to the last."""

    async def run() -> float:
        ctx = context()
        sock = ctx.socket(zmq.PULL)
        sock.linger = 0
        port = sock.bind_to_random_port("tcp://127.0.0.1")
        sender = multiprocessing.get_context("spawn").Process(
            target=_send, args=(port, n, burst, interval_s), daemon=True
        )
        sender.start()
        try:
            await asyncio.wait_for(sock.poll(), RECEIVE_TIMEOUT_S)  # the first burst is here
            start = time.thread_time()
            got = await asyncio.wait_for(receive(sock, n), RECEIVE_TIMEOUT_S)
            spent = time.thread_time() - start
            if got != n:
                raise RuntimeError(f"received {got} of {n} messages")
            return spent
        finally:
            sender.join(5)
            if sender.is_alive():
                sender.kill()
            sock.close(0)
            ctx.term()

    return asyncio.run(run())


async def _through_reader(sock: zmq.asyncio.Socket, n: int) -> int:
    shadow: zmq.Socket[Any] = zmq.Socket.shadow(sock.underlying)
    done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    got = [0]

    def read() -> None:
        while True:
            try:
                frames = recv_frames(shadow)
            except zmq.Again:
                return
            if frames == [END]:
                if not done.done():
                    done.set_result(got[0])
                return
            got[0] += 1

    on_arrival(sock, read)
    try:
        return await done
    finally:
        stop_arrivals(sock)


async def _through_asyncio(sock: zmq.asyncio.Socket, n: int) -> int:
    shadow: zmq.Socket[Any] = zmq.Socket.shadow(sock.underlying)
    got = 0
    while True:
        try:
            batch = [await sock.recv_multipart()]
        except zmq.Again:  # the race services.runtime.receive absorbed
            continue
        while True:
            try:
                batch.append(shadow.recv_multipart(zmq.NOBLOCK))
            except zmq.Again:
                break
        for frames in batch:
            if frames == [END]:
                return got
            got += 1


def _send(port: int, n: int, burst: int, interval_s: float) -> None:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PUSH)
    sock.linger = 5_000
    sock.connect(f"tcp://127.0.0.1:{port}")
    frames = [VERSION, encode(codec_sample())]
    sent = 0
    next_at = time.perf_counter()
    while sent < n:
        for _ in range(min(burst, n - sent)):
            sock.send_multipart(frames)
            sent += 1
        next_at += interval_s
        pause = next_at - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
    sock.send_multipart([END])
    sock.close()
    ctx.term()
