"""Lab benchmark: a real lab on the bench scenario (every latency model at zero), driven by the
order client of the bare path (``orchestration.bench.client``): client -> broker -> top-PFOF
wholesaler -> broker -> client, each round trip ended by the terminal report."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import zmq
import zmq.asyncio

from config.scenario import LatencyConfig, LatencySpec, Scenario, SecurityMode, load_scenario
from orchestration.bench.client import (
    BENCH_IDENTITY,
    LatencyStats,
    PathFigures,
    latency_stats,
    make_order,
    measure,
)
from orchestration.launcher import LabSupervisor
from protocol.codec import VERSION, Decoder, encode
from protocol.control import Rejected
from protocol.money import to_micros
from protocol.orders import ORDER_REPORTS, OrderCanceled, OrderFilled, OrderRejected
from services.security import authenticate

NBBO_WAIT_S = 60.0
LAB_TIMEOUT_S = 180.0  # the whole lab measurement, first fill included


class Legs(msgspec.Struct, frozen=True, kw_only=True):
    """The one-at-a-time round trips split at the wholesaler's own stamps."""

    client_to_wholesaler: LatencyStats
    in_wholesaler: LatencyStats
    wholesaler_to_client: LatencyStats


class LabClientFigures(PathFigures, frozen=True, kw_only=True):
    """The client's figures through a real lab: round trips, their legs, the handshake (orders
    until the first fill by ``wholesaler``) and who filled or declined the measured orders."""

    legs: Legs
    wholesaler: str
    handshake_orders: int
    handshake_s: float
    filled_by: dict[str, int]
    unfilled: dict[str, int]


class LabResult(LabClientFigures, frozen=True, kw_only=True):
    """The client's figures, and how the lab started and stopped."""

    processes: int
    start_s: float
    stop_s: float
    exit_codes_nonzero: dict[str, int | None]


def bench_scenario(
    base: Scenario | None = None,
    *,
    noise_rate_per_s: float = 1.0,
    security: SecurityMode = SecurityMode.CURVE,
) -> Scenario:
    """The default scenario with every latency model at zero and a quiet background market
    (noise traders at ``noise_rate_per_s``, no institutions: the bench's figures stay those of
    the retail path, as before the default had them); ``security``: the lab's sockets with
    CURVE (the default) or without (``none``)."""
    s = base if base is not None else load_scenario()
    replace = msgspec.structs.replace
    regimes = list(s.broker.regimes) if "pfof" in s.broker.regimes else [*s.broker.regimes, "pfof"]
    return replace(
        s,
        name="bench",
        latency=LatencyConfig(default=LatencySpec(base_us=0, jitter_us=0), links=[]),
        sip_latency_us=0,
        wholesalers=[replace(w, decision_us=0) for w in s.wholesalers],
        broker=replace(s.broker, regimes=regimes),
        agents=replace(
            s.agents,
            noise=replace(s.agents.noise, rate_per_s=noise_rate_per_s),
            institutional=replace(s.agents.institutional, traders=0),
        ),
        security=replace(s.security, mode=security),
    )


class LabReplies:
    """Reads broker reports; an order is done at its terminal one (last fill, cancel, reject)."""

    def __init__(self) -> None:
        self._decode = Decoder(ORDER_REPORTS).decode_payload
        self.filled_by: Counter[str] = Counter()
        self.unfilled: Counter[str] = Counter()
        self.last_venue = ""
        # Orders whose wall-clock send time is known: per-hop legs from the fill's stamps.
        self.sent_wall: dict[str, int] = {}
        self.legs: list[tuple[int, int, int]] = []  # (client->wholesaler, inside, ->client) ns

    def __call__(self, frames: list[bytes]) -> list[str]:
        if not frames or frames[0] != VERSION:
            raise RuntimeError(f"cannot read broker reply: no {VERSION!r} frame")
        done: list[str] = []
        for payload in frames[1:]:
            msg = self._decode(payload)
            if isinstance(msg, OrderFilled):
                if msg.leaves_qty == 0:
                    sent = self.sent_wall.pop(msg.order_id, None)
                    if sent is not None and msg.recv_ns:
                        now = time.time_ns()
                        inside = msg.exec_ns - msg.recv_ns
                        self.legs.append((msg.recv_ns - sent, inside, now - msg.exec_ns))
                    self.filled_by[msg.venue] += 1
                    self.last_venue = msg.venue
                    done.append(msg.order_id)
            elif isinstance(msg, OrderCanceled | OrderRejected):
                self.unfilled[msg.reason[:60]] += 1
                self.last_venue = ""
                done.append(msg.order_id)
            elif isinstance(msg, Rejected):
                raise RuntimeError(f"broker rejected a bench frame: {msg.reason} ({msg.field})")
        return done


async def _first_fill(sock: Any, replies: LabReplies, wholesaler: str, timeout_s: float) -> int:
    """Handshake: send orders one at a time until one is filled by ``wholesaler`` (the NBBO is
    usable everywhere on the path). Returns the number of orders it took."""
    deadline = time.monotonic() + timeout_s
    i = 0
    while True:
        oid = make_order(i).order_id
        await sock.send_multipart([VERSION, encode(make_order(i))])
        i += 1
        while True:
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0 or not await sock.poll(left_ms):
                raise TimeoutError(
                    f"no fill from {wholesaler} within {timeout_s:.0f}s "
                    f"(after {i} orders; outcomes {dict(replies.unfilled)})"
                )
            if oid in replies(await sock.recv_multipart()):
                break
        if replies.last_venue == wholesaler:
            return i
        await asyncio.sleep(0.05)  # poll interval before the next attempt, not a timing guess


def _top_pfof_wholesaler(scenario: Scenario) -> str:
    """The broker's PFOF arm goes to the wholesaler paying the most per share."""
    return min(scenario.wholesalers, key=lambda w: (-to_micros(w.pfof_per_share), w.name)).name


def _legs(replies: LabReplies, n_lat: int) -> Legs:
    legs = replies.legs[-n_lat:] if n_lat else []
    return Legs(
        **{
            name: latency_stats([leg[k] for leg in legs])
            for k, name in enumerate(Legs.__struct_fields__)
        }
    )


async def _drive_lab(
    lab: LabSupervisor, *, n_lat: int, n_thr: int, window: int, warm: int
) -> LabClientFigures:
    """The client's figures through ``lab``, after the first-fill handshake."""
    wholesaler = _top_pfof_wholesaler(lab.scenario)
    ctx = zmq.asyncio.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.IDENTITY, BENCH_IDENTITY)
    broker = lab.scenario.broker.name
    authenticate(sock, lab.config, lab.scenario.security.clients[0], broker)
    sock.connect(lab.config.connect(broker, "orders"))
    try:
        replies = LabReplies()
        t0 = time.perf_counter()
        tries = await _first_fill(sock, replies, wholesaler, NBBO_WAIT_S)
        handshake_s = time.perf_counter() - t0
        replies.filled_by.clear()
        replies.unfilled.clear()
        figures = await measure(
            sock,
            replies,
            n_lat=n_lat,
            n_thr=n_thr,
            window=window,
            warm=warm,
            first=tries,
            regime="pfof",
            sent_wall=replies.sent_wall,
        )
    finally:
        ctx.destroy(linger=0)
    return LabClientFigures(
        **msgspec.structs.asdict(figures),
        legs=_legs(replies, n_lat),
        wholesaler=wholesaler,
        handshake_orders=tries,
        handshake_s=handshake_s,
        filled_by=dict(replies.filled_by),
        unfilled=dict(replies.unfilled),
    )


async def bench_lab(
    *,
    n_lat: int,
    n_thr: int,
    window: int,
    warm: int,
    security: SecurityMode = SecurityMode.CURVE,
) -> LabResult:
    """Start a real lab on the bench scenario in a temporary runs dir, measure, stop it."""
    scenario = bench_scenario(security=security)
    with tempfile.TemporaryDirectory(prefix="flowlab-bench-") as runs:
        lab = LabSupervisor(scenario, runs_root=Path(runs))
        t0 = time.perf_counter()
        try:
            await lab.start()
            start_s = time.perf_counter() - t0
            drive = _drive_lab(lab, n_lat=n_lat, n_thr=n_thr, window=window, warm=warm)
            client = await lab.guard(asyncio.wait_for(drive, LAB_TIMEOUT_S))
        finally:
            t1 = time.perf_counter()
            codes = await lab.stop()
            stop_s = time.perf_counter() - t1
    return LabResult(
        **msgspec.structs.asdict(client),
        processes=len(codes),
        start_s=start_s,
        stop_s=stop_s,
        exit_codes_nonzero={n: code for n, code in codes.items() if code != 0},
    )


def merge_lab_rounds(merged: LabResult, rounds: list[LabResult]) -> LabResult:
    """``merged`` (medians across rounds) with the rounds' counts summed and every non-zero
    exit code kept."""
    return msgspec.structs.replace(
        merged,
        filled_by=dict(sum((Counter(r.filled_by) for r in rounds), Counter())),
        unfilled=dict(sum((Counter(r.unfilled) for r in rounds), Counter())),
        exit_codes_nonzero={n: c for r in rounds for n, c in r.exit_codes_nonzero.items()},
    )
