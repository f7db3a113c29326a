"""One shared run of the whole default lab for the integration tests that only read its results.

The ``default_lab_run`` fixture starts every process of the built-in default scenario on
loopback, probes every bound endpoint with garbage and invalid orders, sends the broker hostile
orders (off tick, oversize, a huge unknown field, a frame above the size bound) and then a valid
one, injects a few hundred orders under three regimes, stops the lab, and hands the tests what
happened: probe replies, the injector's account, exit codes, and the tables built from the tape.
"""

from __future__ import annotations

import asyncio
import gc
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import pytest
import zmq
import zmq.asyncio

from config.runconfig import RunConfig
from config.scenario import REGIMES, load_scenario
from orchestration.launcher import LabSupervisor
from orchestration.streams import generate_stream, validate_rows, write_stream
from orchestration.tape import build_tables, read_tape
from protocol.codec import ALL_MESSAGE_TYPES, MAX_MESSAGE_BYTES, VERSION, Decoder, encode
from protocol.common import OrderType, Side
from protocol.control import InjectionDone
from protocol.orders import OrderCanceled, OrderFilled, OrderRejected, SubmitOrder
from tests.helpers import Client, eventually, lab_socket

# An unknown field name this long (in characters) is sent to every ROUTER endpoint: below the
# size bound, so it is read, and its reject must quote only an excerpt of it.
HUGE_FIELD_CHARS = 500_000
# The valid order sent to the broker after the hostile ones (an id of the injector's form, so
# the tape's id conventions hold for it too); it must fill.
VALID_AFTER_ID = "H000001"

ORDERS = 420
RATE = 140.0


@pytest.fixture(autouse=True)
def _nothing_left_open() -> object:
    """Collect garbage as each test ends, so a context or socket a test left open warns (an
    error here) in that test's teardown, not in whichever later test the collector ran in."""
    yield
    gc.collect()


@dataclass
class Probe:
    service: str
    endpoint: str
    case: str
    reply: object | None
    size: int = 0  # bytes of the reply's frames


@dataclass
class LabRun:
    config: RunConfig
    run_dir: Path
    processes: list[dict]
    probes: list[Probe]
    recorder_bad_frames: int
    rejected_counters: dict[str, int]
    done: InjectionDone
    exit_codes: dict[str, int | None]
    tables: dict = field(default_factory=dict)
    tape: list = field(default_factory=list)
    hostile: list[Probe] = field(default_factory=list)


def garbage_cases(symbol: str) -> list[tuple[str, list[bytes]]]:
    """Frames every ROUTER endpoint must answer with a reject, and keep running."""
    bad_symbol = SubmitOrder(
        order_id="bad-1",
        symbol="NOPE",
        side=Side.BUY,
        qty=100,
        order_type=OrderType.MARKET,
        account="probe",
    )
    zero_qty = msgspec.msgpack.decode(encode(bad_symbol))
    zero_qty.update(symbol=symbol, qty=0, order_id="bad-2")
    huge_field = msgspec.msgpack.decode(encode(bad_symbol))
    huge_field.update(symbol=symbol, order_id="bad-3")
    huge_field["X" * HUGE_FIELD_CHARS] = 1
    return [
        ("no version frame", [b"hello"]),
        ("wrong version", [b"FL9", encode(bad_symbol)]),
        ("not msgpack", [VERSION, b"\xc1\xc1\xc1"]),
        ("unknown type", [VERSION, msgspec.msgpack.encode({"type": "LaunchMissiles"})]),
        ("invalid field", [VERSION, msgspec.msgpack.encode(zero_qty)]),
        ("unknown symbol", [VERSION, encode(bad_symbol)]),
        ("huge unknown field", [VERSION, msgspec.msgpack.encode(huge_field)]),
    ]


async def probe_endpoints(config: RunConfig) -> list[Probe]:
    ctx = zmq.asyncio.Context()
    decoder = Decoder(ALL_MESSAGE_TYPES)
    probes: list[Probe] = []
    symbol = config.scenario.symbol_names[0]
    try:
        for spec in config.services:
            for kind in spec.endpoints:
                if kind in ("md", "tape"):
                    continue  # PUB sends only; the tape PULL is probed separately
                # one routing id per probe: a closed probe's id stays taken until the server has
                # seen that connection close (no handover, docs/SECURITY.md)
                for n, (case, frames) in enumerate(garbage_cases(symbol)):
                    sock = lab_socket(
                        ctx,
                        config,
                        zmq.DEALER,
                        spec.name,
                        kind,
                        identity=f"probe-{spec.name}-{kind}-{n}",
                    )
                    try:
                        await sock.send_multipart(frames)
                        reply, size = None, 0
                        if await sock.poll(5000):
                            answer = await sock.recv_multipart()
                            reply, size = decoder.decode(answer)[0], sum(map(len, answer))
                        probes.append(Probe(spec.name, kind, case, reply, size))
                    finally:
                        sock.close(linger=0)
    finally:
        ctx.term()
    return probes


def hostile_orders(symbol: str) -> list[tuple[str, list[bytes]]]:
    """Orders the broker must refuse before routing, each naming the problem and its order id."""
    base = {
        "type": "SubmitOrder",
        "symbol": symbol,
        "side": "buy",
        "qty": 100,
        "order_type": "market",
        "account": "hostile",
        "regime": "pfof",
    }
    cases = {
        "off tick": {"order_type": "limit", "limit_price": 100_005_000},
        "oversize": {"qty": 100_000_000},
        "unknown symbol": {"symbol": "NOPE"},
        "huge unknown field": {"Y" * HUGE_FIELD_CHARS: 1},
    }
    return [
        (case, [VERSION, msgspec.msgpack.encode(base | {"order_id": f"hostile-{n}"} | change)])
        for n, (case, change) in enumerate(cases.items())
    ]


async def probe_broker(config: RunConfig) -> list[Probe]:
    """Hostile input to the broker from a raw client, then a frame above the size bound from
    another, then a valid order: its last report (which must be a fill) is case "valid after"."""
    ctx = zmq.asyncio.Context()
    decoder = Decoder(ALL_MESSAGE_TYPES)
    broker = config.scenario.broker.name
    symbol = config.scenario.symbol_names[0]
    probes: list[Probe] = []
    sock = lab_socket(ctx, config, zmq.DEALER, broker, "orders", identity="hostile-client")
    big = lab_socket(ctx, config, zmq.DEALER, broker, "orders", identity="hostile-big")
    client = Client(ctx, config, broker, "hostile-after")
    try:
        for case, frames in hostile_orders(symbol):
            await sock.send_multipart(frames)
            reply, size = None, 0
            if await sock.poll(5000):
                answer = await sock.recv_multipart()
                reply, size = decoder.decode(answer)[0], sum(map(len, answer))
            probes.append(Probe(broker, "orders", case, reply, size))
        await big.send_multipart([VERSION, b"\x00" * (2 * MAX_MESSAGE_BYTES)])
        reply = decoder.decode(await big.recv_multipart())[0] if await big.poll(1000) else None
        probes.append(Probe(broker, "orders", "frame above the bound", reply))
        valid = SubmitOrder(
            order_id=VALID_AFTER_ID,
            symbol=symbol,
            side=Side.BUY,
            qty=100,
            order_type=OrderType.MARKET,
            account="hostile",
            regime="pfof",
        )
        await client.send(valid)
        final = await client.until(VALID_AFTER_ID, (OrderFilled, OrderRejected, OrderCanceled), 15)
        probes.append(Probe(broker, "orders", "valid after", final))
    finally:
        for s in (sock, big, client.sock):
            s.close(linger=0)
        ctx.term()
    return probes


async def poison_tape(config: RunConfig) -> None:
    """Garbage on the tape from inside the lab (a faulty service: the tape admits only the
    lab's own keys; an outsider's push is refused, test_curve.py)."""
    ctx = zmq.asyncio.Context()
    recorder, insider = config.scenario.recorder, config.scenario.agents.name
    sock = lab_socket(ctx, config, zmq.PUSH, recorder, "tape", key=insider)
    sock.setsockopt(zmq.LINGER, 2000)
    await sock.send_multipart([b"garbage", b"frames"])
    sock.close()
    ctx.term()


async def run_default_lab(runs: Path) -> LabRun:
    scenario = msgspec.structs.replace(
        load_scenario(),
        broker=msgspec.structs.replace(load_scenario().broker, regimes=list(REGIMES)),
    )
    lab = LabSupervisor(scenario, runs_root=runs)
    try:
        await lab.start()
        probes = await lab.guard(probe_endpoints(lab.config))
        hostile = await lab.guard(probe_broker(lab.config))
        await lab.guard(poison_tape(lab.config))
        rows = generate_stream(scenario, list(REGIMES), orders=ORDERS, rate_per_s=RATE, seed=7)
        validate_rows(rows, scenario)
        done = await lab.inject(write_stream(rows, lab.run_dir / "stream.csv"), timeout_s=30)
        recorder = lab.procs[scenario.recorder]
        await lab.guard(eventually(lambda: recorder.counters.get("tape.bad_frames", 0) > 0, 10))
        counters = {name: p.counters.get("rejected.protocol", 0) for name, p in lab.procs.items()}
        bad_frames = recorder.counters.get("tape.bad_frames", 0)
    finally:
        exit_codes = await lab.stop()
    return LabRun(
        config=lab.config,
        run_dir=lab.run_dir,
        processes=lab.processes,
        probes=probes,
        recorder_bad_frames=bad_frames,
        rejected_counters=counters,
        done=done,
        exit_codes=exit_codes,
        tables=build_tables(lab.run_dir, lab.config),
        tape=list(read_tape(lab.run_dir)),
        hostile=hostile,
    )


@pytest.fixture(scope="session")
def default_lab_run(tmp_path_factory: pytest.TempPathFactory) -> LabRun:
    return asyncio.run(asyncio.wait_for(run_default_lab(tmp_path_factory.mktemp("runs")), 240))
