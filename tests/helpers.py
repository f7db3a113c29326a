"""Test helpers shared by unit and integration tests."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import zmq
import zmq.asyncio

from config.runconfig import RunConfig
from config.scenario import Scenario
from orchestration.launcher import LabSupervisor
from orchestration.streams import generate_stream, write_stream
from orchestration.tape import build_tables
from protocol.codec import ALL_MESSAGE_TYPES, VERSION, Decoder, encode
from protocol.common import OrderType, Side
from protocol.orders import OrderFilled, SubmitOrder
from services.security import authenticate


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


def lab_socket(
    ctx: zmq.Context[Any],
    config: RunConfig,
    kind: int,
    service: str,
    endpoint: str,
    *,
    identity: str | None = None,
    key: str = "client",
) -> zmq.Socket[Any]:
    """A raw socket of our own connected to ``service``'s ``endpoint`` with the run's key
    ``key`` (a client's by default; a lab service's name for the tape): an asyncio socket from
    a ``zmq.asyncio.Context``, a blocking one from a plain ``zmq.Context``."""
    sock = ctx.socket(kind)
    sock.setsockopt(zmq.LINGER, 0)
    if kind == zmq.SUB:
        sock.setsockopt(zmq.SUBSCRIBE, b"")
    if identity is not None:
        sock.setsockopt(zmq.IDENTITY, identity.encode())
    authenticate(sock, config, key, service)
    sock.connect(config.connect(service, endpoint))
    return sock


class Client:
    """A DEALER of our own towards one service's ``orders`` (or another ``endpoint``, e.g. the
    auction's ``responses``), with the run's key ``key`` (a client's of ``[security]
    clients``); collects every reply by order id."""

    def __init__(
        self,
        ctx: zmq.asyncio.Context,
        config: RunConfig,
        service: str,
        identity: str,
        *,
        key: str = "client",
        endpoint: str = "orders",
    ) -> None:
        self.sock = ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.IDENTITY, identity.encode())
        authenticate(self.sock, config, key, service)
        self.sock.connect(config.connect(service, endpoint))
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

    def __init__(
        self, ctx: zmq.asyncio.Context, config: RunConfig, service: str, *, key: str = "client"
    ) -> None:
        self.sock = ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.SUBSCRIBE, b"")
        authenticate(self.sock, config, key, service)
        self.sock.connect(config.connect(service, "md"))
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


async def run_stream(
    scenario: Scenario,
    runs: Path,
    orders: int,
    rate: float,
    seed: int,
    start_lock: asyncio.Lock | None = None,
) -> dict[str, pd.DataFrame]:
    """One lab of ``scenario`` (real processes) fed a generated stream of the scenario's
    regimes; every order must end and every process exit cleanly. Returns the run's tables.
    ``start_lock``: labs run side by side start one at a time (start-up is the CPU-heaviest
    part of a lab: 15 interpreters importing on 2 cores)."""
    lab = LabSupervisor(scenario, runs_root=runs)
    try:
        if start_lock is None:
            await lab.start()
        else:
            async with start_lock:
                await lab.start()
        rows = generate_stream(
            scenario, scenario.broker.regimes, orders=orders, rate_per_s=rate, seed=seed
        )
        done = await lab.inject(write_stream(rows, lab.run_dir / "stream.csv"), timeout_s=60)
        assert done.terminal == done.sent == orders
    finally:
        codes = await lab.stop()
    assert all(code == 0 for code in codes.values()), codes
    return build_tables(lab.run_dir, lab.config)


async def market_alone(
    scenario: Scenario, runs: Path, seconds: float
) -> tuple[LabSupervisor, dict[str, int | None]]:
    """A lab of ``scenario`` with no injected orders, left to trade for ``seconds`` (a measured
    duration, not a wait for an event), then stopped: the lab and every process's exit code."""
    lab = LabSupervisor(scenario, runs_root=runs)
    try:
        await lab.start()
        await lab.guard(asyncio.sleep(seconds))
    finally:
        codes = await lab.stop()
    return lab, codes


async def run_streams(
    scenarios: list[Scenario], runs: Path, orders: int, rate: float, *, at_once: int = 2
) -> list[dict[str, pd.DataFrame]]:
    """``run_stream`` for each scenario (its own seed), ``at_once`` labs side by side: a lab at
    tens of orders a second leaves most of a core idle, so two share this 2-core machine (the
    sweep's rule for heavier labs is one per two cores). Tables in the scenarios' order."""
    start_lock = asyncio.Lock()
    slots = asyncio.Semaphore(at_once)

    async def one(scenario: Scenario) -> dict[str, pd.DataFrame]:
        async with slots:
            return await run_stream(scenario, runs, orders, rate, scenario.seed, start_lock)

    # a lab that fails cancels the others (each stops its processes on the way out)
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(one(s)) for s in scenarios]
    return [task.result() for task in tasks]


def per_order(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per filled order: shares, improvement over the quote (micro-dollars, share-weighted
    sums), effective and quoted spread x shares — against the NBBO at the broker's receipt."""
    orders = tables["orders"].set_index("order_id")
    fills = tables["fills"].join(orders[["nbbo_bid", "nbbo_ask"]], on="order_id")
    fills = fills.dropna(subset=["nbbo_bid", "nbbo_ask"])
    bid = fills["nbbo_bid"].astype(float)
    ask = fills["nbbo_ask"].astype(float)
    sign = np.where(fills["side"] == "buy", 1.0, -1.0)
    price = fills["price"].astype(float)
    qty = fills["qty"].astype(float)
    touch = np.where(sign > 0, ask, bid)
    fills = fills.assign(
        improvement=sign * (touch - price) * qty,
        effective=2 * np.abs(price - (bid + ask) / 2) * qty,
        quoted=(ask - bid) * qty,
        shares=qty,
    )
    return fills.groupby(["regime", "order_id"])[
        ["shares", "improvement", "effective", "quoted"]
    ].sum()


def regime_metrics(arm: np.ndarray) -> tuple[float, float]:
    """(price improvement $/share, E/Q) of rows [shares, improvement, effective, quoted]."""
    total = arm.sum(axis=0)
    return total[1] / total[0] / 1e6, total[2] / total[3]


def auction_minus_pfof(tables: dict[str, pd.DataFrame], orders: int) -> np.ndarray:
    """One lab's auction - PFOF (price improvement $/share, E/Q) on the test's own arithmetic;
    each arm must hold more than a third of the ``orders``."""
    table = per_order(tables)
    pfof = table.loc["pfof"].to_numpy(float)
    auction = table.loc["auction"].to_numpy(float)
    assert len(pfof) > orders / 3 and len(auction) > orders / 3
    return np.subtract(regime_metrics(auction), regime_metrics(pfof))
