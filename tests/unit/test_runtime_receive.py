"""``services.runtime.receive``: a ``zmq.Again`` raised into an awaited receive (pyzmq's asyncio
socket, when a synchronous shadow drained the message its wake-up announced) is not an error.

The race itself needs a loaded machine to happen; what is tested here is the loop's answer to it,
on a stand-in that raises ``zmq.Again`` as pyzmq does, and on a real socket pair."""

from __future__ import annotations

import asyncio

import pytest
import zmq
import zmq.asyncio

from services.runtime import DRAIN_BATCH, Turn, receive


class RacedSocket:
    """Raises ``zmq.Again`` on its first ``n`` awaited receives, then returns a message."""

    def __init__(self, raced: int) -> None:
        self.raced = raced
        self.calls = 0

    async def recv_multipart(self, copy: bool = True) -> list[bytes]:
        self.calls += 1
        if self.calls <= self.raced:
            raise zmq.Again()
        return [b"msg", b"copy" if copy else b"frames"]


@pytest.mark.parametrize("raced", [0, 1, 3])
async def test_receive_awaits_again_after_zmq_again(raced: int) -> None:
    sock = RacedSocket(raced)

    got = await receive(sock, copy=False)  # type: ignore[arg-type]

    assert got == [b"msg", b"frames"] and sock.calls == raced + 1


async def test_receive_a_message_a_shadow_drain_did_not_take() -> None:
    ctx = zmq.asyncio.Context()
    pull, push = ctx.socket(zmq.PULL), ctx.socket(zmq.PUSH)
    try:
        port = pull.bind_to_random_port("tcp://127.0.0.1")
        push.connect(f"tcp://127.0.0.1:{port}")
        shadow = zmq.Socket.shadow(pull.underlying)
        await push.send_multipart([b"first"])
        await push.send_multipart([b"second"])
        assert await receive(pull) == [b"first"]
        await asyncio.sleep(0.05)  # "second" is queued: the shadow drains it, as _serve does
        assert shadow.recv_multipart(zmq.NOBLOCK) == [b"second"]
        await push.send_multipart([b"third"])

        assert await asyncio.wait_for(receive(pull), 5) == [b"third"]
    finally:
        pull.close(0)
        push.close(0)
        ctx.term()


FLOOD = 100_000


async def _drain_a_flood(turn: Turn | None) -> int:
    """Drain ``FLOOD`` queued messages as ``Service._serve`` does (an awaited receive, then a
    synchronous batch), with or without ``turn``; how often a 5 ms timer ran meanwhile."""
    ctx = zmq.asyncio.Context()
    pull, push = ctx.socket(zmq.PULL), ctx.socket(zmq.PUSH)
    pull.setsockopt(zmq.RCVHWM, 0)
    push.setsockopt(zmq.SNDHWM, 0)
    ticks = 0
    task: asyncio.Future[None] | None = None

    async def timer() -> None:  # a heartbeat, or a link's delayed send
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    try:
        # inproc: a send puts the message in the pipe at once, so the whole flood is queued
        # before the first receive (no I/O thread to wait for)
        pull.bind("inproc://flood")
        push.connect("inproc://flood")
        sender = zmq.Socket.shadow(push.underlying)
        for _ in range(FLOOD):
            sender.send(b"x" * 40)
        shadow = zmq.Socket.shadow(pull.underlying)
        task = asyncio.ensure_future(timer())
        await asyncio.sleep(0)
        n = 0
        while n < FLOOD:
            if turn is not None:
                await turn.give()
            await receive(pull)
            n += 1
            for _ in range(DRAIN_BATCH):
                try:
                    shadow.recv_multipart(zmq.NOBLOCK)
                    n += 1
                except zmq.Again:
                    break
        return ticks
    finally:
        if task is not None:
            task.cancel()
        pull.close(0)
        push.close(0)
        ctx.term()


async def test_a_flooded_receive_loop_gives_the_timers_a_turn() -> None:
    # Without a turn the timer never runs until the flood is drained: an awaited receive of a
    # queued message does not suspend (heartbeats starved, links' sends held back).
    assert await _drain_a_flood(None) == 0
    assert await _drain_a_flood(Turn(budget_ns=1_000_000)) > 0  # 1 ms: the drain is longer
