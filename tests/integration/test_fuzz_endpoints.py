"""A fuzz campaign against every ROUTER endpoint a client can reach (issue 13 item 5).

One real lab (the tiny scenario plus a dark pool) on loopback; a raw pyzmq client with the run's
``client`` key (CURVE) sends each endpoint hostile input drawn by hypothesis: random frames and
payloads, truncated or overwritten messages, every wire type with a field replaced, deleted or
added (huge, negative, NaN, wrong types), unknown message types, wrong version frames, several
payloads at once, payloads up to the size bound (long strings, big arrays, deep nesting, a huge
field name), and, once per endpoint, a frame above the bound.

After each case the client sends a *sentinel*, a payload that never decodes but names an order
id, and reads every reply up to the sentinel's ``Rejected``: the service must have answered the
case (no hang), every reply must be a typed wire message (no garbage), a case that is not a valid
wire message must have got a ``Rejected``, no reply may be an ``internal error`` (a handler that
raised), and any other reply must be about an order id this client sent in a valid message. A
frame above the bound must get the sender disconnected, unanswered. After the campaign every
process of the lab is still alive, each fuzzed service counted its rejects, a valid order still
fills and the lab stops cleanly.

The case budget is ``FLOWLAB_FUZZ_CASES`` (``CI_CASES`` by default), spread evenly over the
endpoints; the campaign's figures are printed (``pytest -s``; docs/RELIABILITY.md has a longer
campaign's). Every kind of case goes to every endpoint, drawn with a seed of its own (the endpoint
and the kind): the same budget sends the same cases.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
import msgspec
import zmq
import zmq.asyncio
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from zmq.utils.monitor import recv_monitor_message

from config.runconfig import RunConfig
from config.scenario import DarkPoolSpec, load_scenario
from orchestration.endpoints import ROLE_ENDPOINTS
from orchestration.launcher import LabSupervisor
from protocol.codec import (
    ALL_MESSAGE_TYPES,
    MAX_MESSAGE_BYTES,
    MESSAGE_TYPES_BY_NAME,
    VERSION,
    Decoder,
)
from protocol.control import Rejected
from protocol.errors import ProtocolError
from protocol.orders import CancelRejected, OrderCanceled, OrderFilled, OrderRejected
from tests.helpers import Client, eventually, lab_socket, market_order, pid_alive
from tests.integration.test_faults import TINY
from tests.strategies import (
    ENCODED,
    corrupted_payloads,
    field_names,
    msgpack_values,
    mutated_payloads,
)

# Cases in CI: the whole module stays near 30 s on a small shared machine.
CI_CASES = 400
CASES = int(os.environ.get("FLOWLAB_FUZZ_CASES", CI_CASES))
# Endpoint kinds a client may reach: every ROUTER one. ``md`` is a PUB (it reads nothing) and
# ``tape`` admits only the lab's own keys (tests/integration/test_curve.py).
ROUTER_KINDS = ("orders", "responses", "snapshot")
NOT_FUZZED = ("md", "tape")
REPLY_TIMEOUT_S = 10.0
REJECTS = (Rejected, OrderRejected, CancelRejected)
ANY = Decoder(ALL_MESSAGE_TYPES)

Case = tuple[str, list[bytes]]  # (kind, frames the client sends)


def _one(payloads: st.SearchStrategy[bytes]) -> st.SearchStrategy[list[bytes]]:
    return payloads.map(lambda payload: [VERSION, payload])


@st.composite
def unknown_types(draw: st.DrawFn) -> bytes:
    """A valid message whose ``type`` names no wire message (or is not even a string)."""
    fields: dict[str, Any] = msgpack.unpackb(draw(st.sampled_from(ENCODED)))
    unknown = st.text(max_size=30).filter(lambda name: name not in MESSAGE_TYPES_BY_NAME)
    fields["type"] = draw(unknown | msgpack_values)
    return msgpack.packb(fields)


@st.composite
def large_payloads(draw: st.DrawFn) -> bytes:
    """A valid message with one field (replaced or added) made large, within the size bound:
    a long string or binary, a long array, deep nesting, or a huge field name."""
    fields: dict[str, Any] = msgpack.unpackb(draw(st.sampled_from(ENCODED)))
    size = draw(st.integers(10_000, MAX_MESSAGE_BYTES - 8192))
    shape = draw(st.sampled_from(["string", "binary", "array", "nesting", "name"]))
    name = draw(st.sampled_from(sorted(fields)) | field_names)
    fields.pop(name, None)
    packer = msgpack.Packer()
    if shape == "name":
        name, value = "N" * size, packer.pack(1)
    elif shape == "nesting":  # [[[...[nil]...]]]: one byte per level
        value = b"\x91" * size + b"\xc0"
    else:
        value = packer.pack(
            {"string": "x" * size, "binary": b"\0" * size, "array": [7] * size}[shape]
        )
    head = packer.pack_map_header(len(fields) + 1)
    body = b"".join(packer.pack(k) + packer.pack(v) for k, v in fields.items())
    return head + body + packer.pack(name) + value


# Every kind of case, each drawn for every endpoint (a share of the budget each).
HOSTILE: dict[str, st.SearchStrategy[list[bytes]]] = {
    "random frames": st.lists(st.binary(max_size=64), min_size=1, max_size=6),
    "random payload": _one(st.binary(max_size=200)),
    "corrupted message": _one(corrupted_payloads()),
    "mutated message": _one(mutated_payloads()),
    "unknown type": _one(unknown_types()),
    "wrong version": st.tuples(
        st.binary(max_size=8).filter(lambda version: version != VERSION),
        st.sampled_from(ENCODED),
    ).map(list),
    "several payloads": st.lists(
        st.sampled_from(ENCODED) | mutated_payloads() | st.binary(max_size=40),
        min_size=2,
        max_size=6,
    ).map(lambda payloads: [VERSION, *payloads]),
    "large payload": _one(large_payloads()),
}


def must_be_refused(frames: list[bytes]) -> bool:
    """Whether ``frames`` are not a valid wire message (the version frame and payloads of any
    type): the service must then answer with a ``Rejected``."""
    try:
        ANY.decode(frames)
    except ProtocolError:
        return True
    return False


def ids_of(frames: list[bytes]) -> set[str]:
    """The ids a valid message names (replies about them are not rejects)."""
    ids = set()
    for msg in ANY.decode(frames):
        for name in ("order_id", "response_id", "auction_id"):
            value = getattr(msg, name, None)
            if isinstance(value, str):
                ids.add(value)
    return ids


# What a reject's ``field`` may name: the runtime's own checks and every field of the wire.
WIRE_FIELDS = {"envelope", "version", "payload", "type", "identity", "rate", "busy"} | {
    f.name for t in ALL_MESSAGE_TYPES for f in msgspec.structs.fields(t)
}


def reply_kind(reply: Any) -> str:
    """``"<type>.<field>"`` of a reject (a nested path by its top field; a field the wire does
    not have, which the fuzz made up, as ``(unknown field)``), else the reply's type."""
    name, where = type(reply).__name__, getattr(reply, "field", None)
    if where is None:
        return name
    top = re.split(r"[.\[]", where, maxsplit=1)[0]
    return f"{name}.{top if top in WIRE_FIELDS else '(unknown field)'}"


@dataclass
class Tally:
    """What a campaign sent and got back."""

    cases: Counter[str] = field(default_factory=Counter)  # by kind
    replies: Counter[str] = field(default_factory=Counter)  # "Rejected.<field>", "OrderAccepted"...
    frames: int = 0
    bytes: int = 0
    disconnected: int = 0  # frames above the bound: the sender disconnected, unanswered

    def summary(self) -> str:
        lines = [
            f"cases {sum(self.cases.values()):,} ({self.frames:,} frames, {self.bytes:,} bytes) "
            f"+ {self.disconnected} frames above the bound (sender disconnected, no reply)",
            "cases by kind: " + ", ".join(f"{k} {n:,}" for k, n in self.cases.most_common()),
            "replies: " + ", ".join(f"{k} {n:,}" for k, n in self.replies.most_common()),
        ]
        return "\n".join(lines)


class Target:
    """One endpoint under fuzz: a blocking DEALER with the run's client key."""

    def __init__(self, ctx: zmq.Context[Any], config: RunConfig, service: str, kind: str) -> None:
        self.ctx, self.config, self.service, self.kind = ctx, config, service, kind
        self.sock = self._dealer(f"fuzz-{service}-{kind}")
        self.own_ids: set[str] = set()
        self.sent = 0

    def _dealer(self, identity: str) -> zmq.Socket[Any]:
        return lab_socket(
            self.ctx, self.config, zmq.DEALER, self.service, self.kind, identity=identity
        )

    def exchange(self, case: Case, tally: Tally) -> None:
        """Send one case and its sentinel; check every reply up to the sentinel's reject."""
        kind, frames = case
        refused = must_be_refused(frames)
        if not refused:
            self.own_ids |= ids_of(frames)
        self.sent += 1
        sentinel = f"sentinel-{self.sent}"
        self.sock.send_multipart(frames)
        self.sock.send_multipart(
            [VERSION, msgpack.packb({"type": "SubmitOrder", "order_id": sentinel})]
        )
        tally.cases[kind] += 1
        tally.frames += len(frames)
        tally.bytes += sum(map(len, frames))
        where = f"{self.service}/{self.kind}, case {kind!r}"
        replies = self._until(sentinel, where)
        for reply in replies:
            tally.replies[reply_kind(reply)] += 1
            if isinstance(reply, REJECTS):
                assert not reply.reason.startswith("internal error"), f"{where}: {reply}"
            else:
                assert getattr(reply, "order_id", None) in self.own_ids | {None}, where
        if refused:
            assert any(isinstance(r, Rejected) for r in replies), f"{where}: no Rejected"

    def _until(self, sentinel: str, where: str) -> list[Any]:
        replies: list[Any] = []
        deadline = time.monotonic() + REPLY_TIMEOUT_S
        while True:
            left_ms = int((deadline - time.monotonic()) * 1000)
            assert left_ms > 0 and self.sock.poll(left_ms), f"{where}: no answer (hung?)"
            answer = self.sock.recv_multipart()
            try:
                messages = ANY.decode(answer)
            except ProtocolError as exc:
                raise AssertionError(f"{where}: untyped reply {answer[:3]!r}: {exc}") from exc
            for msg in messages:
                if isinstance(msg, Rejected) and msg.order_id == sentinel:
                    return replies
                replies.append(msg)

    def above_the_bound(self, tally: Tally) -> None:
        """A frame larger than ``MAX_MESSAGE_BYTES`` from a fresh connection: libzmq must
        disconnect it (the monitor says so) before anything is read or answered."""
        sock = self._dealer(f"fuzz-big-{self.service}-{self.kind}")
        monitor = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        try:
            sock.send_multipart([VERSION, b"\xc4" + b"\0" * (2 * MAX_MESSAGE_BYTES)])
            assert monitor.poll(int(REPLY_TIMEOUT_S * 1000)), f"{self.service}: not disconnected"
            assert recv_monitor_message(monitor)["event"] == zmq.EVENT_DISCONNECTED
            assert not sock.poll(0), f"{self.service}/{self.kind}: answered a frame above the bound"
            tally.disconnected += 1
        finally:
            sock.disable_monitor()
            monitor.close(linger=0)
            sock.close(linger=0)


def targets_of(config: RunConfig) -> list[tuple[str, str]]:
    return [
        (spec.name, kind)
        for spec in config.services
        for kind in spec.endpoints
        if kind in ROUTER_KINDS
    ]


FUZZ_SETTINGS = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
        HealthCheck.filter_too_much,
    ],
}


def fuzz(target: Target, kind: str, cases: int, tally: Tally, abort: threading.Event) -> None:
    """``cases`` hostile cases of ``kind`` drawn by hypothesis to ``target`` (seeded by both)."""

    @seed(zlib.crc32(f"{target.service}/{target.kind}/{kind}".encode()))
    @settings(max_examples=cases, **FUZZ_SETTINGS)
    @given(frames=HOSTILE[kind])
    def one(frames: list[bytes]) -> None:
        if abort.is_set():
            raise RuntimeError("the lab failed: campaign abandoned")
        target.exchange((kind, frames), tally)

    one()


def campaign(config: RunConfig, cases: int, abort: threading.Event) -> Tally:
    """Fuzz every target with its share of ``cases`` (blocking; run in a thread)."""
    tally = Tally()
    ctx: zmq.Context[Any] = zmq.Context()
    try:
        targets = [Target(ctx, config, service, kind) for service, kind in targets_of(config)]
        for target in targets:
            target.above_the_bound(tally)
            for kind in HOSTILE:
                fuzz(target, kind, max(1, cases // (len(targets) * len(HOSTILE))), tally, abort)
    finally:
        ctx.destroy(linger=0)
    return tally


def test_router_kinds_are_every_endpoint_a_client_may_reach() -> None:
    kinds = {kind for kinds in ROLE_ENDPOINTS.values() for kind in kinds}

    assert kinds == set(ROUTER_KINDS) | set(NOT_FUZZED)


async def test_hostile_input_to_every_endpoint_is_refused_typed_and_the_lab_keeps_working(
    tmp_path: Path,
) -> None:
    scenario = load_scenario(TINY)
    scenario = msgspec.structs.replace(scenario, darkpools=[DarkPoolSpec(name="dark-a")])
    lab = LabSupervisor(scenario, runs_root=tmp_path)
    abort = threading.Event()
    ctx = zmq.asyncio.Context()
    try:
        await lab.start()
        targets = targets_of(lab.config)
        started = time.monotonic()
        try:
            tally = await lab.guard(asyncio.to_thread(campaign, lab.config, CASES, abort))
        finally:
            abort.set()
        elapsed = time.monotonic() - started
        alive = {p.name: p.exit_code is None and pid_alive(p.pid) for p in lab.procs.values()}
        fuzzed = {service for service, _ in targets}
        await lab.guard(
            eventually(
                lambda: all(lab.procs[s].counters.get("rejected.protocol", 0) for s in fuzzed), 5
            )
        )
        client = Client(ctx, lab.config, scenario.broker.name, "after-fuzz")
        await client.send(market_order(order_id="after-fuzz"))
        final = await lab.guard(
            client.until("after-fuzz", (OrderFilled, OrderRejected, OrderCanceled), 15)
        )
    finally:
        ctx.destroy(linger=0)
        exit_codes = await lab.stop()
    print(f"\nfuzz campaign: {CASES:,} cases asked, {elapsed:.1f}s\n{tally.summary()}")

    assert len(targets) == 10  # lit-a, lit-b, dark-a, wh-a, the auction (2), sor, broker, snapshots
    assert tally.disconnected == len(targets)
    assert set(tally.cases) == set(HOSTILE)
    assert sum(tally.cases.values()) >= len(targets) * len(HOSTILE)
    assert all(alive.values()), alive
    assert isinstance(final, OrderFilled) and final.leaves_qty == 0, final
    assert all(code == 0 for code in exit_codes.values()), exit_codes
