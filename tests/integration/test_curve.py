"""CURVE + ZAP and authenticated identities on a live lab (issue 13 items 1-2, docs/SECURITY.md).

Attacks from issue 13, each from a raw pyzmq client on real sockets: without keys, with a key
of another run, with the client's key where only the lab's own are admitted, with an admitted
key used to pose as a lab service. Each is dropped and counted, and the lab runs its stream
normally. Then two clients with their own keys reuse one routing id and one order id.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import msgspec
import zmq
import zmq.asyncio

from config.runconfig import RunConfig
from config.scenario import load_scenario
from orchestration.launcher import LabSupervisor
from orchestration.streams import generate_stream, write_stream
from orchestration.tape import build_tables
from protocol.codec import ALL_MESSAGE_TYPES, VERSION, Decoder, encode
from protocol.common import OrderType, Side, TimeInForce
from protocol.control import (
    Heartbeat,
    InjectionDone,
    Rejected,
    Shutdown,
    StatusReply,
    StatusRequest,
)
from protocol.orders import (
    CancelOrder,
    CancelRejected,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderReceived,
    OrderRejected,
    RoutingScorecard,
)
from services.security import OPERATOR, ORCHESTRATOR, authenticate
from tests.helpers import Client, eventually, lab_socket, market_order

TINY = Path(__file__).with_name("scenarios") / "tiny.toml"
ORDERS = 30
NO_REPLY_MS = 1500


def now_ns() -> int:
    return time.time_ns()


def forged_control() -> list[Any]:
    """What issue 13 sent to the control port: a stop, a false account, a false heartbeat."""
    return [
        Shutdown(sender="orchestrator", ts_ns=now_ns(), reason="forged"),
        InjectionDone(
            name="injector",
            sent=2000,
            terminal=2000,
            filled=2000,
            rejected=0,
            canceled=0,
            timed_out=0,
            sender="injector",
            ts_ns=now_ns(),
        ),
        Heartbeat(name="lit-a", state="stopped", sender="lit-a", ts_ns=now_ns()),
    ]


def forged_tape_entry() -> bytes:
    received = OrderReceived(
        order_id="forged-tape",
        regime="pfof",
        symbol="ACME",
        side=Side.BUY,
        qty=100,
        order_type=OrderType.MARKET,
        limit_price=None,
        recv_ns=now_ns(),
        nbbo_bid=None,
        nbbo_ask=None,
        sender="broker",
        ts_ns=now_ns(),
    )
    return msgspec.msgpack.encode(("broker", now_ns(), encode(received)))


def outsider(ctx: zmq.asyncio.Context, kind: int, endpoint: str, keys: str, server: bytes) -> Any:
    """A raw socket with no keys (``keys="none"``) or a fresh key pair of its own."""
    sock = ctx.socket(kind)
    sock.setsockopt(zmq.LINGER, 0)
    if keys == "stranger":
        public, secret = zmq.curve_keypair()
        sock.setsockopt(zmq.CURVE_PUBLICKEY, public)
        sock.setsockopt(zmq.CURVE_SECRETKEY, secret)
        sock.setsockopt(zmq.CURVE_SERVERKEY, server)
    sock.connect(endpoint)
    return sock


async def attack(
    ctx: zmq.asyncio.Context, config: RunConfig, ring_publics: dict[str, bytes]
) -> list[Any]:
    """Every forged message from outsiders; returns the sockets (closed by the caller)."""
    socks = []
    broker, recorder = config.scenario.broker.name, config.scenario.recorder
    for keys in ("none", "stranger"):
        control = outsider(
            ctx, zmq.DEALER, config.control.connect, keys, ring_publics[ORCHESTRATOR]
        )
        tape = outsider(ctx, zmq.PUSH, config.tape, keys, ring_publics[recorder])
        orders = outsider(
            ctx, zmq.DEALER, config.connect(broker, "orders"), keys, ring_publics[broker]
        )
        socks += [control, tape, orders]
        for msg in forged_control():
            control.send_multipart([VERSION, encode(msg)], zmq.NOBLOCK)
        tape.send_multipart([VERSION, forged_tape_entry()], zmq.NOBLOCK)
        orders.send_multipart([VERSION, encode(market_order(order_id="forged-order"))], zmq.NOBLOCK)
    # The client's own key where only the lab's keys are admitted: control and the tape.
    client_control = ctx.socket(zmq.DEALER)
    client_control.setsockopt(zmq.LINGER, 0)
    authenticate(client_control, config, "client", ORCHESTRATOR)
    client_control.connect(config.control.connect)
    client_tape = lab_socket(ctx, config, zmq.PUSH, recorder, "tape")
    socks += [client_control, client_tape]
    client_control.send_multipart([VERSION, encode(forged_control()[0])], zmq.NOBLOCK)
    client_tape.send_multipart([VERSION, forged_tape_entry()], zmq.NOBLOCK)
    return socks


async def no_reply(sock: zmq.asyncio.Socket) -> bool:
    return not await sock.poll(NO_REPLY_MS)


async def posers(ctx: zmq.asyncio.Context, config: RunConfig) -> dict[str, Any]:
    """An admitted client key posing as the broker at a wholesaler (an order, a scorecard), as a
    wholesaler in an auction, and the operator's key sending other services' control messages."""
    decoder = Decoder(ALL_MESSAGE_TYPES)
    as_broker = lab_socket(ctx, config, zmq.DEALER, "wh-a", "orders", identity="broker#poser")
    auction = config.scenario.auction.name
    as_wholesaler = lab_socket(ctx, config, zmq.DEALER, auction, "responses", identity="poser")
    as_client = lab_socket(ctx, config, zmq.DEALER, "wh-a", "orders", identity="reviewer")
    control = ctx.socket(zmq.DEALER)
    control.setsockopt(zmq.LINGER, 0)
    control.setsockopt(zmq.IDENTITY, b"cli-poser")
    authenticate(control, config, OPERATOR, ORCHESTRATOR)
    control.connect(config.control.connect)
    try:
        await as_broker.send_multipart([VERSION, encode(market_order(order_id="as-broker"))])
        response = {
            "type": "SubmitAuctionResponse",
            "msg_id": 1,
            "sender": "wh-a",
            "ts_ns": now_ns(),
            "auction_id": "a-1",
            "response_id": "r-1",
            "responder": "wh-a",
            "price": 50_000_000,
            "qty": 100,
        }
        await as_wholesaler.send_multipart([VERSION, msgspec.msgpack.encode(response)])
        scorecard = RoutingScorecard(
            broker="broker",
            period_start_ns=0,
            period_end_ns=1,
            entries=[],
            sender="broker",
            ts_ns=1,
        )
        await as_client.send_multipart([VERSION, encode(scorecard)])
        for msg in forged_control()[1:]:
            await control.send_multipart([VERSION, encode(msg)])
        # The status reply is the handshake: the control socket handles its messages in order
        await control.send_multipart([VERSION, encode(StatusRequest(sender="cli", ts_ns=1))])
        status = await control.poll(10_000)
        replies = {}
        pairs = (
            ("as_broker", as_broker),
            ("as_wholesaler", as_wholesaler),
            ("scorecard", as_client),
        )
        for name, sock in pairs:
            replies[name] = (
                decoder.decode(await sock.recv_multipart())[0] if await sock.poll(10_000) else None
            )
        replies["status"] = decoder.decode(await control.recv_multipart())[0] if status else None
        return replies
    finally:
        for sock in (as_broker, as_wholesaler, as_client, control):
            sock.close(0)


async def test_outsiders_without_the_run_keys_are_dropped_counted_and_the_lab_runs_normally(
    tmp_path: Path,
) -> None:
    scenario = load_scenario(TINY)
    lab = LabSupervisor(scenario, runs_root=tmp_path)
    ctx = zmq.asyncio.Context()
    socks: list[Any] = []
    try:
        await lab.start()
        assert lab.keys is not None
        socks = await lab.guard(attack(ctx, lab.config, lab.keys.publics))
        replies = await lab.guard(posers(ctx, lab.config))
        rows = generate_stream(scenario, ["pfof"], orders=ORDERS, rate_per_s=50, seed=3)
        stream = write_stream(rows, lab.run_dir / "stream.csv")
        done = await lab.inject(stream, timeout_s=30)
        procs = lab.procs
        broker, recorder = procs[scenario.broker.name], procs[scenario.recorder]

        def counted() -> bool:
            refusals = (
                (procs["wh-a"], "rejected.identity"),
                (procs["wh-a"], "scorecards.refused"),
                (procs["auction"], "responses.rejected.responder"),
            )
            return all(
                counters.get(key, 0) >= 1
                for counters in (lab.counters, broker.counters, recorder.counters)
                for key in ("auth.handshake_failed", "auth.denied")
            ) and all(proc.counters.get(key, 0) >= 1 for proc, key in refusals)

        await lab.guard(eventually(counted, 10))
        lit_a_state = procs["lit-a"].state
        shutdown = lab.shutdown_requested.is_set()
        control_refused = lab.counters.get("control.refused", 0)
        identity_refused = procs["wh-a"].counters.get("rejected.identity", 0)
        responder_refused = procs["auction"].counters.get("responses.rejected.responder", 0)
        scorecard_refused = procs["wh-a"].counters.get("scorecards.refused", 0)
    finally:
        for sock in socks:
            sock.close(0)
        ctx.term()
        codes = await lab.stop()

    assert done.sent == done.terminal == ORDERS  # the real account, not the forged 2000
    assert not shutdown and lit_a_state == "running"
    assert isinstance(replies["status"], StatusReply)  # the operator's key is admitted...
    assert control_refused == 2  # ...but may not speak for an injector or lit-a
    assert all(code == 0 for code in codes.values()), codes
    as_broker, as_wholesaler = replies["as_broker"], replies["as_wholesaler"]
    assert isinstance(as_broker, Rejected) and as_broker.field == "identity"
    assert "belongs to the lab's 'broker'" in as_broker.reason and identity_refused == 1
    assert isinstance(as_wholesaler, OrderRejected) and as_wholesaler.field == "responder"
    assert responder_refused == 1
    scorecard = replies["scorecard"]
    assert isinstance(scorecard, Rejected) and scorecard.field == "sender"
    assert scorecard_refused == 1
    tables = build_tables(lab.run_dir, lab.config)
    assert set(tables["orders"]["order_id"]) == {row["order_id"] for row in rows}


async def submit(client: Client, order_id: str, qty: int, **changes: Any) -> None:
    await client.send(market_order(order_id=order_id, qty=qty, regime="pfof", **changes))


async def test_two_clients_reusing_a_routing_id_and_an_order_id_each_see_only_their_own(
    tmp_path: Path,
) -> None:
    base = load_scenario(TINY)
    scenario = msgspec.structs.replace(
        base,
        security=msgspec.structs.replace(base.security, clients=["alice", "bob"]),
        broker=msgspec.structs.replace(base.broker, regimes=["pfof"]),
    )
    lab = LabSupervisor(scenario, runs_root=tmp_path)
    ctx = zmq.asyncio.Context()
    broker = scenario.broker.name
    ends = (OrderFilled, OrderRejected, OrderCanceled)
    try:
        await lab.start()
        alice = Client(ctx, lab.config, broker, "shared", key="alice")
        await submit(alice, "o1", 100)
        alice_o1 = await alice.until("o1", ends, 15)
        # bob takes alice's routing id while she is connected: refused, not handed over
        bob_same_id = Client(ctx, lab.config, broker, "shared", key="bob")
        await submit(bob_same_id, "o1", 300)
        await bob_same_id.send(CancelOrder(order_id="o1", symbol="ACME", sender="b", ts_ns=1))
        bob_same_id_silent = await no_reply(bob_same_id.sock)
        # the same order id from bob on his own routing id: his own order, filled for him
        bob = Client(ctx, lab.config, broker, "bob-desk", key="bob")
        await submit(bob, "o1", 200)
        bob_o1 = await bob.until("o1", ends, 15)
        # a resting day limit of alice's: bob's cancel of that id does not reach it
        resting = {"order_type": OrderType.LIMIT, "limit_price": 1_000_000, "tif": TimeInForce.DAY}
        await submit(alice, "rest", 100, **resting)
        await alice.until("rest", (OrderAccepted,), 15)
        await bob.send(CancelOrder(order_id="rest", symbol="ACME", sender="b", ts_ns=1))
        bob_cancel = await bob.until("rest", (CancelRejected, OrderCanceled), 15)
        await alice.send(CancelOrder(order_id="rest", symbol="ACME", sender="a", ts_ns=1))
        alice_cancel = await alice.until("rest", (OrderCanceled,), 15)
        for client in (alice, bob, bob_same_id):
            client.sock.close(0)
    finally:
        codes = await lab.stop()
        ctx.term()

    assert bob_same_id_silent and not bob_same_id.replies
    for o1, qty in ((alice_o1, 100), (bob_o1, 200)):
        assert isinstance(o1, OrderFilled) and o1.cum_qty == qty and o1.leaves_qty == 0
    alice_fills = [m for m in alice.replies["o1"] if isinstance(m, OrderFilled)]
    bob_fills = [m for m in bob.replies["o1"] if isinstance(m, OrderFilled)]
    assert sum(f.fill_qty for f in alice_fills) == 100  # every execution reported to its owner
    assert sum(f.fill_qty for f in bob_fills) == 200
    assert isinstance(bob_cancel, CancelRejected) and "unknown order" in bob_cancel.reason
    assert isinstance(alice_cancel, OrderCanceled)
    assert set(alice.replies) == {"o1", "rest"} and set(bob.replies) == {"o1", "rest"}
    assert all(code == 0 for code in codes.values()), codes
    routes = build_tables(lab.run_dir, lab.config)["routes"]
    children = routes[routes["order_id"] == "o1"]["child_id"]
    assert children.is_unique and len(children) >= 2
