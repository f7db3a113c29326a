"""``services.runtime.receive``: a ``zmq.Again`` raised into an awaited receive (pyzmq's asyncio
socket, when a synchronous shadow drained the message its wake-up announced) is not an error.

The race itself needs a loaded machine to happen; what is tested here is the loop's answer to it,
on a stand-in that raises ``zmq.Again`` as pyzmq does, and on a real socket pair."""

from __future__ import annotations

import asyncio

import pytest
import zmq
import zmq.asyncio

from services.runtime import receive


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
