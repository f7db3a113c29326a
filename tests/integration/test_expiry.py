"""Order expiry (``SubmitOrder.expire_ns``) at every service that takes orders, through real
processes on loopback: an order arriving at or after its expiry is rejected naming ``expire_ns``
and never reaches a book; a resting order is canceled (``"expired"``) when its expiry passes.

One quiet lab (the tiny scenario, agents off, plus a dark pool); our own DEALER clients talk to
the lit venue, the dark pool, the wholesaler, the auction house and the SOR directly.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest
import zmq
import zmq.asyncio

from config.scenario import DarkPoolSpec, load_scenario
from orchestration.launcher import LabSupervisor
from protocol.common import OrderType, Side, TimeInForce
from protocol.orders import (
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    SubmitOrder,
)
from tests.helpers import Client

TINY = Path(__file__).with_name("scenarios") / "tiny.toml"
MS = 1_000_000
REST_MS = 300  # lifetime of the resting orders below
BID = 49_000_000  # below the (empty) market: a buy there rests


def order(order_id: str, **fields: Any) -> SubmitOrder:
    values = {
        "symbol": "ACME",
        "side": Side.BUY,
        "qty": 100,
        "order_type": OrderType.LIMIT,
        "limit_price": BID,
        "account": "expiry-test",
        **fields,
    }
    return SubmitOrder(order_id=order_id, **values)


@dataclass
class ExpiryRun:
    replies: dict[str, dict[str, list[Any]]]  # per destination, per order id
    sent_expire: dict[str, int]  # order id -> its expire_ns
    exit_codes: dict[str, int | None]


async def run_expiry_lab(runs: Path) -> ExpiryRun:
    base = load_scenario(TINY)
    scenario = msgspec.structs.replace(
        base,
        darkpools=[DarkPoolSpec(name="dark-a")],
        agents=msgspec.structs.replace(base.agents, enabled=False),
    )
    lab = LabSupervisor(scenario, runs_root=runs)
    ctx = zmq.asyncio.Context()
    expire: dict[str, int] = {}
    clients: dict[str, Client] = {}
    try:
        await lab.start()
        for name in ("lit-a", "dark-a", "wh-a", scenario.auction.name, scenario.sor.name):
            clients[name] = Client(ctx, lab.config, name, "expiry-test")
        lit, dark = clients["lit-a"], clients["dark-a"]
        seller = Client(ctx, lab.config, "lit-a", "seller")
        selling = {"side": Side.SELL, "tif": TimeInForce.IOC, "account": "seller"}
        now = time.time_ns()
        past = now - 5 * MS
        # Expired on arrival, at every order-taking service
        await lit.send(order("lit-late", tif=TimeInForce.IOC, expire_ns=past))
        await dark.send(
            order(
                "dark-late",
                order_type=OrderType.MIDPOINT,
                limit_price=None,
                tif=TimeInForce.IOC,
                expire_ns=past,
            )
        )
        market = {"order_type": OrderType.MARKET, "limit_price": None}
        await clients["wh-a"].send(order("wh-late", expire_ns=past, **market))
        auction = clients[scenario.auction.name]
        await auction.send(order("auction-late", expire_ns=past, **market))
        # Its reject is the handshake: the first message on a new connection waits for the
        # CURVE handshake, which may take longer than the 20 ms expiry below.
        await lab.guard(auction.until("auction-late", (OrderRejected,)))
        short_expiry = time.time_ns() + 20 * MS
        await auction.send(order("auction-short", expire_ns=short_expiry, **market))
        await clients[scenario.sor.name].send(order("sor-parent", expire_ns=now + 10**9))
        # Resting orders with an expiry: canceled when it passes
        expire["lit-rest"] = expire["dark-rest"] = now + REST_MS * MS
        await lit.send(order("lit-rest", expire_ns=expire["lit-rest"]))
        await dark.send(order("dark-rest", expire_ns=expire["dark-rest"]))
        # Filled before its expiry, then the same id reused without one: the old timer must
        # not cancel the new order
        # (one tick above the other bids, so that the seller meets it first)
        expire["reused"] = now + REST_MS * MS
        above = {"limit_price": BID + 10_000}
        await lit.send(order("reused", expire_ns=expire["reused"], **above))
        await lit.until("reused", (OrderAccepted,))
        await seller.send(order("sell-1", **selling, **above))
        await seller.until("sell-1", (OrderFilled,))
        await lit.until("reused", (OrderFilled,))
        lit.replies.pop("reused")
        await lit.send(order("reused"))
        await lit.until("reused", (OrderAccepted,))
        for name, oid in [
            ("lit-a", "lit-late"),
            ("dark-a", "dark-late"),
            ("wh-a", "wh-late"),
            (scenario.auction.name, "auction-late"),
            (scenario.auction.name, "auction-short"),
            (scenario.sor.name, "sor-parent"),
        ]:
            await lab.guard(clients[name].until(oid, (OrderRejected,)))
        await lab.guard(lit.until("lit-rest", (OrderCanceled,)))
        await lab.guard(dark.until("dark-rest", (OrderCanceled,)))
        # Past every expiry: a seller finds the reused order still resting, and only it
        await asyncio.sleep(0.1)
        await seller.send(order("sell-2", qty=200, **selling))
        await lab.guard(seller.until("sell-2", (OrderCanceled,)))
        await lab.guard(lit.until("reused", (OrderFilled,)))
        replies = {name: c.replies for name, c in clients.items()} | {"seller": seller.replies}
    finally:
        ctx.destroy(linger=0)  # closes our clients' sockets too, on failure as well
        exit_codes = await lab.stop()
    return ExpiryRun(replies, expire, exit_codes)


@pytest.fixture(scope="module")
def expiry_run(tmp_path_factory: pytest.TempPathFactory) -> ExpiryRun:
    return asyncio.run(asyncio.wait_for(run_expiry_lab(tmp_path_factory.mktemp("expiry")), 120))


def _last(run: ExpiryRun, destination: str, order_id: str) -> Any:
    return run.replies[destination][order_id][-1]


@pytest.mark.parametrize(
    ("destination", "order_id"),
    [
        ("lit-a", "lit-late"),
        ("dark-a", "dark-late"),
        ("wh-a", "wh-late"),
        ("auction", "auction-late"),
    ],
)
def test_order_arriving_after_expiry_rejected_naming_expire_ns(
    expiry_run: ExpiryRun, destination: str, order_id: str
) -> None:
    replies = expiry_run.replies[destination][order_id]

    assert [type(m) for m in replies] == [OrderRejected]  # never accepted, never on a book
    assert replies[0].field == "expire_ns"
    assert replies[0].reason.startswith("expired: arrived ")
    assert replies[0].venue == destination


def test_auction_refuses_order_expiring_within_its_window(expiry_run: ExpiryRun) -> None:
    reject = _last(expiry_run, "auction", "auction-short")

    assert (reject.field, reject.reason) == (
        "expire_ns",
        "expires before the auction window (100 ms) would close",
    )


def test_sor_refuses_parent_with_expiry(expiry_run: ExpiryRun) -> None:
    reject = _last(expiry_run, "sor", "sor-parent")

    assert isinstance(reject, OrderRejected) and reject.field == "expire_ns"


@pytest.mark.parametrize(
    ("destination", "order_id"), [("lit-a", "lit-rest"), ("dark-a", "dark-rest")]
)
def test_resting_order_canceled_when_its_expiry_passes(
    expiry_run: ExpiryRun, destination: str, order_id: str
) -> None:
    accepted, canceled = expiry_run.replies[destination][order_id]

    assert isinstance(accepted, OrderAccepted)
    assert isinstance(canceled, OrderCanceled)
    assert (canceled.reason, canceled.canceled_qty, canceled.cum_qty) == ("expired", 100, 0)
    assert canceled.ts_ns >= expiry_run.sent_expire[order_id]  # not a moment before its expiry


def test_expiry_timer_of_a_done_order_spares_a_new_order_with_its_id(
    expiry_run: ExpiryRun,
) -> None:
    replies = expiry_run.replies["lit-a"]["reused"]
    sold = expiry_run.replies["seller"]["sell-2"]

    assert [type(m) for m in replies] == [OrderAccepted, OrderFilled]
    assert [(type(m), getattr(m, "fill_qty", None)) for m in sold] == [
        (OrderAccepted, None),
        (OrderFilled, 100),  # the reused order, at BID; the expired ones left the book
        (OrderCanceled, None),
    ]
    assert sold[1].fill_price == BID


def test_expiry_lab_every_process_exits_cleanly(expiry_run: ExpiryRun) -> None:
    assert expiry_run.exit_codes and all(c == 0 for c in expiry_run.exit_codes.values())
