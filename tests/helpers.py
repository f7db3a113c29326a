"""Test helpers shared by unit and integration tests."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import zmq
import zmq.asyncio

from protocol.codec import ALL_MESSAGE_TYPES, VERSION, Decoder, encode
from protocol.common import OrderType, Side
from protocol.orders import OrderFilled, SubmitOrder


def market_order(**changes: Any) -> SubmitOrder:
    """A valid 100-share market buy of ACME (order ``o1``, account ``client``), with ``changes``."""
    fields: dict[str, Any] = {
        "order_id": "o1",
        "symbol": "ACME",
        "side": Side.BUY,
        "qty": 100,
        "order_type": OrderType.MARKET,
        "account": "client",
    }
    return SubmitOrder(**(fields | changes))


async def eventually(
    predicate: Callable[[], bool | Awaitable[bool]], timeout: float = 10.0, interval: float = 0.02
) -> None:
    """Wait until ``predicate`` holds (a handshake-free condition), failing after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


def wait_until(
    predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.02
) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); treat it as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return False


class Client:
    """A DEALER of our own towards one service; collects every reply by order id."""

    def __init__(self, ctx: zmq.asyncio.Context, endpoint: str, identity: str) -> None:
        self.sock = ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.IDENTITY, identity.encode())
        self.sock.connect(endpoint)
        self.replies: dict[str, list[Any]] = {}
        self._decoder = Decoder(ALL_MESSAGE_TYPES)

    async def send(self, msg: Any) -> None:
        await self.sock.send_multipart([VERSION, encode(msg)])

    async def until(self, order_id: str, kinds: tuple[type, ...], timeout: float = 10.0) -> Any:
        """Receive until ``order_id`` gets one of ``kinds`` (a handshake, not a sleep)."""
        deadline = time.monotonic() + timeout
        while True:
            for msg in self.replies.get(order_id, []):
                if isinstance(msg, kinds) and (
                    not isinstance(msg, OrderFilled) or msg.leaves_qty == 0
                ):
                    return msg
            left = deadline - time.monotonic()
            if left <= 0 or not await self.sock.poll(int(left * 1000)):
                raise AssertionError(
                    f"no {[k.__name__ for k in kinds]} for {order_id} in {timeout}s"
                )
            for msg in self._decoder.decode(await self.sock.recv_multipart()):
                self.replies.setdefault(getattr(msg, "order_id", ""), []).append(msg)


class MarketData:
    """A SUB of our own on a service's market data (``md``); waits for a message by predicate.

    ``subscribed()`` waits for the first message of any kind, so nothing published after it is
    missed (a handshake for the SUB's subscription, not a sleep)."""

    def __init__(self, ctx: zmq.asyncio.Context, endpoint: str) -> None:
        self.sock = ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.SUBSCRIBE, b"")
        self.sock.connect(endpoint)
        self._decoder = Decoder(ALL_MESSAGE_TYPES)

    async def until(self, predicate: Callable[[Any], bool], timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not await self.sock.poll(int(left * 1000)):
                raise AssertionError(f"no matching market data in {timeout}s")
            for msg in self._decoder.decode(await self.sock.recv_multipart()):
                if predicate(msg):
                    return msg

    async def subscribed(self) -> None:
        await self.until(lambda _msg: True)

    def close(self) -> None:
        self.sock.close(0)
