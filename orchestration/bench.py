"""``flowlab bench``: the lab's hot paths, each measured in the same run as its baseline.

1. Codec: typed msgspec decode / encode of a ``SubmitOrder`` against ``msgpack`` + a frozen
   dataclass + field checks in Python (the alternative DESIGN §3 measured).
2. Book core: ``orchestration.bench_book.run_book_benchmark`` against a plain book (dict of
   price -> deque, bisect-sorted price lists) replaying the same seeded op list.
3. SOR allocation: greedy and optimal allocation over 10 venues x 10 levels, against the 1 ms aim.
4. Transport: the bare path (``orchestration.bench_transport``: 2 and 3 OS processes, nothing
   but sockets) and then a real lab (``launcher.LabSupervisor``) with every latency model at
   zero, driven by the same order client: client -> broker -> wholesaler (PFOF) -> broker -> client.

Only ratios measured together mean anything on a shared machine; ``bench.json`` keeps every
figure and the counts behind it. See docs/BENCHMARKS.md.
"""

from __future__ import annotations

import asyncio
import enum
import json
import os
import platform
import re
import socket
import statistics
import sys
import tempfile
import time
from bisect import bisect_left, insort
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, make_dataclass
from pathlib import Path
from typing import Any

import msgpack
import msgspec

from config.scenario import LatencyConfig, LatencySpec, Scenario, load_scenario
from orchestration.bench_transport import (
    BENCH_IDENTITY,
    latency_stats,
    make_order,
    measure,
    run_bare,
)
from protocol.codec import VERSION, Decoder, encode
from protocol.common import OrderType, Side, TimeInForce
from protocol.control import Rejected
from protocol.money import to_micros
from protocol.orders import (
    ORDER_REPORTS,
    CancelOrder,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    SubmitOrder,
)

SOR_AIM_US = 1_000.0
BOOK_AIM_OPS = 500_000
NBBO_WAIT_S = 60.0
LAB_TIMEOUT_S = 180.0  # the whole lab measurement, first fill included


@dataclass(frozen=True)
class Counts:
    """How much work each figure does; ``--quick`` shrinks all of it."""

    codec_n: int
    codec_reps: int
    book_ops: int
    book_steady: int
    book_reps: int
    sor_repeats: int
    bare_lat: int
    bare_thr: int
    bare_warm: int
    lab_lat: int
    lab_thr: int
    lab_warm: int
    rounds: int  # transport: rounds of (bare paths, then a fresh lab), medians across rounds
    window: int = 100


FULL = Counts(
    codec_n=100_000,
    codec_reps=5,
    book_ops=200_000,
    book_steady=3_000,
    book_reps=3,
    sor_repeats=2_000,
    bare_lat=2_000,
    bare_thr=8_000,
    bare_warm=300,
    lab_lat=1_000,
    lab_thr=4_000,
    lab_warm=200,
    rounds=3,
)
QUICK = Counts(
    codec_n=20_000,
    codec_reps=3,
    book_ops=20_000,
    book_steady=2_000,
    book_reps=1,
    sor_repeats=200,
    bare_lat=500,
    bare_thr=2_000,
    bare_warm=100,
    lab_lat=300,
    lab_thr=1_000,
    lab_warm=50,
    rounds=1,
)


# ====================================================================== 1. codec
def _checker(t: Any) -> Callable[[Any], bool]:
    """A Python predicate for one field type (ranges, lengths, patterns, enum values)."""
    mi = msgspec.inspect
    if isinstance(t, mi.UnionType):
        subs = tuple(_checker(x) for x in t.types)
        return lambda v: any(ok(v) for ok in subs)
    if isinstance(t, mi.NoneType):
        return lambda v: v is None
    if isinstance(t, mi.BoolType):
        return lambda v: type(v) is bool
    if isinstance(t, mi.IntType):
        lo = t.ge if t.ge is not None else (t.gt + 1 if t.gt is not None else -(2**63))
        hi = t.le if t.le is not None else (t.lt - 1 if t.lt is not None else 2**64 - 1)
        return lambda v: type(v) is int and lo <= v <= hi
    if isinstance(t, mi.StrType):
        lo, hi = t.min_length or 0, t.max_length if t.max_length is not None else 1 << 62
        match = re.compile(t.pattern).search if t.pattern else None
        return lambda v: type(v) is str and lo <= len(v) <= hi and (match is None or bool(match(v)))
    if isinstance(t, mi.EnumType):
        values = frozenset(m.value for m in t.cls)
        return lambda v: isinstance(v, str) and v in values
    raise TypeError(f"cannot build a baseline check for {t!r}")


class PlainCodec:
    """The baseline codec DESIGN §3 measured: ``msgpack`` + a frozen, slotted dataclass + field
    checks in Python. Fields, defaults, ranges and patterns come from ``SubmitOrder`` itself, so
    the baseline checks what the typed decoder checks and follows the schema as it changes."""

    def __init__(self, struct: type = SubmitOrder) -> None:
        info = msgspec.inspect.type_info(struct)
        self.tag_field, self.tag = info.tag_field, info.tag
        self.fields = tuple(f.name for f in info.fields)
        self.required = tuple(f.name for f in info.fields if f.required)
        self.defaults = tuple(
            (f.name, f.default.value if isinstance(f.default, enum.Enum) else f.default)
            for f in info.fields
            if not f.required
        )
        self.checks = tuple((f.name, _checker(f.type)) for f in info.fields)
        self.known = frozenset((*self.fields, self.tag_field))
        spec = [(n, object) for n in self.required] + [
            (n, object, default) for n, default in self.defaults
        ]
        self.cls = make_dataclass(f"Plain{struct.__name__}", spec, frozen=True, slots=True)

    def decode(self, payload: bytes) -> Any:
        d = msgpack.unpackb(payload)
        if type(d) is not dict or d.get(self.tag_field) != self.tag:
            raise ValueError(f"{self.tag_field}: expected {self.tag!r}")
        unknown = d.keys() - self.known
        if unknown:
            raise ValueError(f"unknown field {sorted(unknown)[0]!r}")
        for name in self.required:
            if name not in d:
                raise ValueError(f"missing required field {name!r}")
        del d[self.tag_field]
        for name, default in self.defaults:
            if name not in d:
                d[name] = default
        for name, ok in self.checks:
            if not ok(d[name]):
                raise ValueError(f"{name}: invalid value {d[name]!r}")
        # SubmitOrder.__post_init__, in Python
        if d["order_type"] == "limit" and d["limit_price"] is None:
            raise ValueError("limit_price: required for limit orders")
        if d["order_type"] == "market" and d["limit_price"] is not None:
            raise ValueError("limit_price: must be absent for market orders")
        if d["min_qty"] > d["qty"]:
            raise ValueError("min_qty: larger than qty")
        return self.cls(**d)

    def encode(self, obj: Any) -> bytes:
        d = {self.tag_field: self.tag}
        for name in self.fields:
            d[name] = getattr(obj, name)
        return msgpack.packb(d)


def codec_sample() -> SubmitOrder:
    """A typical retail limit order with every common field set."""
    now = 1_763_900_000_000_000_000
    return SubmitOrder(
        msg_id=123,
        sender="injector",
        ts_ns=now,
        order_id="R0000123",
        symbol="ACME",
        side=Side.BUY,
        qty=200,
        order_type=OrderType.LIMIT,
        limit_price=52_400_000,
        tif=TimeInForce.DAY,
        account="retail-1",
        regime="pfof",
        created_ns=now,
    )


def _rate(fn: Callable[[int], None], n: int) -> float:
    t0 = time.perf_counter()
    fn(n)
    return n / (time.perf_counter() - t0)


def bench_codec(*, n: int, reps: int) -> dict[str, Any]:
    """Operations per second, median of ``reps`` round-robin runs of ``n`` each."""
    order = codec_sample()
    payload = encode(order)
    typed = Decoder([SubmitOrder, CancelOrder]).decode_payload  # what the broker's socket accepts
    codec = PlainCodec()
    plain_decode, plain_encode = codec.decode, codec.encode
    plain = plain_decode(payload)
    as_typed = msgspec.structs.asdict(typed(payload))
    if plain_decode(plain_encode(plain)) != plain or as_typed != {
        k: getattr(plain, k) for k in codec.fields
    }:
        raise RuntimeError("cannot trust codec benchmark: the two decoders disagree")

    def msgspec_decode(k: int) -> None:
        for _ in range(k):
            typed(payload)

    def baseline_decode(k: int) -> None:
        for _ in range(k):
            plain_decode(payload)

    def msgspec_encode(k: int) -> None:
        for _ in range(k):
            encode(order)

    def baseline_encode(k: int) -> None:
        for _ in range(k):
            plain_encode(plain)

    variants = (msgspec_decode, baseline_decode, msgspec_encode, baseline_encode)
    rates: dict[str, list[float]] = {f.__name__: [] for f in variants}
    for _ in range(reps):
        for f in variants:
            rates[f.__name__].append(_rate(f, n))
    med = {k: statistics.median(v) for k, v in rates.items()}
    return {
        "n": n,
        "reps": reps,
        "payload_bytes": len(payload),
        "decode_ops_per_s": med["msgspec_decode"],
        "baseline_decode_ops_per_s": med["baseline_decode"],
        "decode_ratio": med["msgspec_decode"] / med["baseline_decode"],
        "encode_ops_per_s": med["msgspec_encode"],
        "baseline_encode_ops_per_s": med["baseline_encode"],
        "encode_ratio": med["msgspec_encode"] / med["baseline_encode"],
    }


# ====================================================================== 2. book core
class PlainBook:
    """Baseline book: price -> deque of ``[order_id, qty]``, prices in bisect-sorted lists.

    Price-time matching of limit and market orders, IOC or resting DAY remainders, cancels by
    id. No validation, no collars, no self-trade prevention, no fill records: it emits nothing
    and counts fills only.
    """

    __slots__ = ("ask_prices", "asks", "bid_prices", "bids", "fills", "orders")

    def __init__(self) -> None:
        self.bids: dict[int, deque[list]] = {}
        self.asks: dict[int, deque[list]] = {}
        self.bid_prices: list[int] = []  # ascending: best bid last
        self.ask_prices: list[int] = []  # ascending: best ask first
        self.orders: dict[str, tuple[list, bool, int]] = {}
        self.fills = 0

    def submit(
        self,
        order_id: str,
        _account: str,
        side: Side,
        qty: int,
        kind: OrderType,
        price: int | None,
        tif: TimeInForce,
        _ts: int,
    ) -> None:
        buy = side is Side.BUY
        if buy:
            book, prices = self.asks, self.ask_prices
            while qty and prices and (price is None or prices[0] <= price):
                qty = self._take(book, prices, 0, qty)
        else:
            book, prices = self.bids, self.bid_prices
            while qty and prices and (price is None or prices[-1] >= price):
                qty = self._take(book, prices, -1, qty)
        if qty and kind is OrderType.LIMIT and tif is TimeInForce.DAY:
            assert price is not None
            own, own_prices = (self.bids, self.bid_prices) if buy else (self.asks, self.ask_prices)
            entry = [order_id, qty]
            level = own.get(price)
            if level is None:
                own[price] = level = deque()
                insort(own_prices, price)
            level.append(entry)
            self.orders[order_id] = (entry, buy, price)

    def _take(self, book: dict[int, deque[list]], prices: list[int], at: int, qty: int) -> int:
        best = prices[at]
        level = book[best]
        while qty and level:
            entry = level[0]
            take = min(qty, entry[1])
            entry[1] -= take
            qty -= take
            self.fills += 1
            if not entry[1]:
                level.popleft()
                del self.orders[entry[0]]
        if not level:
            del book[best]
            del prices[at]
        return qty

    def cancel(self, order_id: str) -> None:
        found = self.orders.pop(order_id, None)
        if found is None:
            return
        entry, buy, price = found
        book, prices = (self.bids, self.bid_prices) if buy else (self.asks, self.ask_prices)
        level = book[price]
        level.remove(entry)
        if not level:
            del book[price]
            del prices[bisect_left(prices, price)]


def _replay_plain(book: PlainBook, flow: list) -> None:
    submit, cancel = book.submit, book.cancel
    for kind, args in flow:
        if kind:
            cancel(args)
        else:
            submit(*args)


def bench_book(*, ops: int, steady_orders: int, reps: int, seed: int = 7) -> dict[str, Any]:
    """``run_book_benchmark`` and the plain book on the same seeded op list (``plan_flow``)."""
    from orchestration.bench_book import plan_flow, run_book_benchmark

    warm, timed, planned_fills = plan_flow(ops=ops, seed=seed, steady_orders=steady_orders)
    core: list[float] = []
    plain: list[float] = []
    plain_fills = 0
    report: dict[str, Any] = {}
    for _ in range(reps):
        report = run_book_benchmark(ops=ops, seed=seed, steady_orders=steady_orders)
        core.append(report["ops_per_s"])
        book = PlainBook()
        _replay_plain(book, warm)
        book.fills = 0
        t0 = time.perf_counter_ns()
        _replay_plain(book, timed)
        plain.append(len(timed) / ((time.perf_counter_ns() - t0) / 1e9))
        plain_fills = book.fills
    core_med, plain_med = statistics.median(core), statistics.median(plain)
    return {
        "ops": ops,
        "steady_orders": steady_orders,
        "seed": seed,
        "reps": reps,
        "ops_per_s": core_med,
        "baseline_ops_per_s": plain_med,
        "ratio": core_med / plain_med,
        "aim_ops_per_s": BOOK_AIM_OPS,
        "fills": report.get("fills", planned_fills),
        "baseline_fills": plain_fills,
    }


# ====================================================================== 3. SOR allocation
def bench_sor(*, repeats: int, venues: int = 10, levels: int = 10) -> dict[str, Any]:
    from orchestration.bench_sor import run_allocation_benchmark

    r = run_allocation_benchmark(venues=venues, levels=levels, repeats=repeats)
    return {
        "venues": venues,
        "levels": levels,
        "repeats": repeats,
        "greedy_us": float(r["greedy_us"]),
        "optimal_us": float(r["optimal_us"]),
        "aim_us": SOR_AIM_US,
        "greedy_ratio": float(r["greedy_us"]) / SOR_AIM_US,
        "optimal_ratio": float(r["optimal_us"]) / SOR_AIM_US,
    }


# ====================================================================== 4. transport
def machine_floor_us(n: int = 2_000) -> float:
    """p50 round trip (µs) of a 64-byte ping-pong over a socketpair with a forked child.

    A yardstick of the machine's state (two wake-ups, no zmq); call it from a process with no
    live zmq context."""
    a, b = socket.socketpair()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        a.close()
        try:
            for _ in range(n):
                b.sendall(b.recv(64))
        finally:
            os._exit(0)
    b.close()
    samples, clock, payload = [], time.perf_counter_ns, b"x" * 64
    try:
        for _ in range(n):
            t0 = clock()
            a.sendall(payload)
            a.recv(64)
            samples.append(clock() - t0)
    finally:
        a.close()
        os.waitpid(pid, 0)
    return float(latency_stats(samples)["p50_us"])


def bench_bare(c: Counts) -> dict[str, Any]:
    """Bare 2- and 3-process paths (one send per message), and the 3-process path batched."""
    two = run_bare(
        processes=2, n_lat=c.bare_lat, n_thr=c.bare_thr, window=c.window, warm=c.bare_warm
    )
    three = run_bare(
        processes=3, n_lat=c.bare_lat, n_thr=c.bare_thr, window=c.window, warm=c.bare_warm
    )
    batched = run_bare(
        processes=3, n_lat=0, n_thr=c.bare_thr, window=c.window, warm=c.bare_warm, batch=True
    )
    return {"two": two, "three": three, "three_batched": batched}


def bench_scenario(base: Scenario | None = None, *, noise_rate_per_s: float = 1.0) -> Scenario:
    """The default scenario with every latency model at zero and a quiet background market."""
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
        agents=replace(s.agents, noise=replace(s.agents.noise, rate_per_s=noise_rate_per_s)),
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


async def _drive_lab(lab: Any, c: Counts) -> dict[str, Any]:
    import zmq
    import zmq.asyncio

    scenario = lab.scenario
    # The broker's PFOF arm goes to the wholesaler paying the most per share.
    wholesaler = min(
        scenario.wholesalers, key=lambda w: (-to_micros(w.pfof_per_share), w.name)
    ).name
    ctx = zmq.asyncio.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.IDENTITY, BENCH_IDENTITY)
    sock.connect(lab.config.connect(scenario.broker.name, "orders"))
    try:
        replies = LabReplies()
        t0 = time.perf_counter()
        tries = await _first_fill(sock, replies, wholesaler, NBBO_WAIT_S)
        handshake_s = time.perf_counter() - t0
        replies.filled_by.clear()
        replies.unfilled.clear()
        result = await measure(
            sock,
            replies,
            n_lat=c.lab_lat,
            n_thr=c.lab_thr,
            window=c.window,
            warm=c.lab_warm,
            first=tries,
            regime="pfof",
            sent_wall=replies.sent_wall,
        )
    finally:
        ctx.destroy(linger=0)
    legs = replies.legs[-c.lab_lat :] if c.lab_lat else []
    result["legs"] = {
        name: latency_stats([leg[k] for leg in legs])
        for k, name in enumerate(("client_to_wholesaler", "in_wholesaler", "wholesaler_to_client"))
    }
    result.update(
        wholesaler=wholesaler,
        handshake_orders=tries,
        handshake_s=handshake_s,
        filled_by=dict(replies.filled_by),
        unfilled=dict(replies.unfilled),
    )
    return result


async def bench_lab(c: Counts) -> dict[str, Any]:
    """Start a real lab on the bench scenario in a temporary runs dir, measure, stop it."""
    from orchestration.launcher import LabSupervisor

    scenario = bench_scenario()
    with tempfile.TemporaryDirectory(prefix="flowlab-bench-") as runs:
        lab = LabSupervisor(scenario, runs_root=Path(runs))
        t0 = time.perf_counter()
        try:
            await lab.start()
            start_s = time.perf_counter() - t0
            result = await lab.guard(asyncio.wait_for(_drive_lab(lab, c), LAB_TIMEOUT_S))
        finally:
            t1 = time.perf_counter()
            codes = await lab.stop()
            stop_s = time.perf_counter() - t1
    bad = {n: code for n, code in codes.items() if code != 0}
    result.update(processes=len(codes), start_s=start_s, stop_s=stop_s, exit_codes_nonzero=bad)
    return result


def _merge(items: list[Any]) -> Any:
    """Median of every numeric leaf across rounds (same-shaped dicts); other leaves: the last."""
    if all(isinstance(x, dict) for x in items):
        keys = dict.fromkeys(k for x in items for k in x)
        return {k: _merge([x[k] for x in items if k in x]) for k in keys}
    if all(isinstance(x, int | float) and not isinstance(x, bool) for x in items):
        return statistics.median(items)
    return items[-1]


def bench_transport(c: Counts, say: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    """``c.rounds`` rounds of: the bare paths, then a fresh lab. Figures are medians across rounds,
    so a baseline and its lab figure always come from the same stretch of machine time."""
    import uvloop

    bare_rounds: list[dict[str, Any]] = []
    lab_rounds: list[dict[str, Any]] = []
    out: dict[str, Any] = {"rounds": c.rounds}
    for k in range(c.rounds):
        say(f"transport round {k + 1}/{c.rounds}: bare paths (2 and 3 processes)...")
        bare_rounds.append(bench_bare(c))
        say(f"transport round {k + 1}/{c.rounds}: lab (start, first fill, measure, stop)...")
        try:
            lab_rounds.append(uvloop.run(bench_lab(c)))
        except Exception as exc:  # the other figures still stand; say why this one is missing
            out["lab_error"] = f"{type(exc).__name__}: {exc}"
            say(f"flowlab bench: cannot measure the lab: {out['lab_error']}")
            break
    out["bare"] = _merge(bare_rounds)
    out["bare_rounds"] = bare_rounds
    if lab_rounds and "lab_error" not in out:
        lab = _merge(lab_rounds)
        lab["filled_by"] = dict(sum((Counter(r["filled_by"]) for r in lab_rounds), Counter()))
        lab["unfilled"] = dict(sum((Counter(r["unfilled"]) for r in lab_rounds), Counter()))
        lab["exit_codes_nonzero"] = {
            name: code for r in lab_rounds for name, code in r["exit_codes_nonzero"].items()
        }
        out["lab"] = lab
        out["lab_rounds"] = lab_rounds
    return out


# ====================================================================== table and entry point
def _fmt(v: float, unit: str) -> str:
    if unit == "/s":
        return f"{v / 1e6:.2f}M/s" if v >= 1e6 else f"{v / 1e3:,.1f}k/s"
    if unit == "us":
        return f"{v:,.0f} µs" if v >= 100 else f"{v:.1f} µs"
    return f"{v:.1f} {unit}"


def table_rows(res: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """``(figure, value, baseline, baseline value, ratio)`` rows for whatever parts ran."""
    rows: list[tuple[str, str, str, str, str]] = []

    def row(
        name: str, v: float, unit: str, base: str, bv: float | None, ratio: float | None
    ) -> None:
        rows.append(
            (
                name,
                _fmt(v, unit),
                base,
                "" if bv is None else _fmt(bv, unit),
                "" if ratio is None else f"{ratio:.2f}x",
            )
        )

    if "codec" in res:
        c = res["codec"]
        row(
            "codec: decode SubmitOrder (msgspec)",
            c["decode_ops_per_s"],
            "/s",
            "msgpack + dataclass + checks",
            c["baseline_decode_ops_per_s"],
            c["decode_ratio"],
        )
        row(
            "codec: encode SubmitOrder (msgspec)",
            c["encode_ops_per_s"],
            "/s",
            "dict + msgpack.packb",
            c["baseline_encode_ops_per_s"],
            c["encode_ratio"],
        )
    if "book" in res:
        b = res["book"]
        row(
            "book core: mixed ops (aim >= 500k/s)",
            b["ops_per_s"],
            "/s",
            "plain dict+deque book",
            b["baseline_ops_per_s"],
            b["ratio"],
        )
    if "sor" in res:
        s = res["sor"]
        row(
            f"SOR greedy, {s['venues']} venues x {s['levels']} levels",
            s["greedy_us"],
            "us",
            "aim",
            s["aim_us"],
            s["greedy_ratio"],
        )
        row(
            f"SOR optimal, {s['venues']} venues x {s['levels']} levels",
            s["optimal_us"],
            "us",
            "aim",
            s["aim_us"],
            s["optimal_ratio"],
        )
    floor = res.get("machine_floor_us")
    if "bare" in res:
        two, three = res["bare"]["two"], res["bare"]["three"]
        batched = res["bare"]["three_batched"]
        row(
            "bare 2-proc round trip p50",
            two["latency"]["p50_us"],
            "us",
            "socketpair floor p50",
            floor,
            two["latency"]["p50_us"] / floor if floor else None,
        )
        row("bare 2-proc round trip p99", two["latency"]["p99_us"], "us", "", None, None)
        row(
            "bare 3-proc round trip p50",
            three["latency"]["p50_us"],
            "us",
            "bare 2-proc p50",
            two["latency"]["p50_us"],
            three["latency"]["p50_us"] / two["latency"]["p50_us"],
        )
        row("bare 3-proc round trip p99", three["latency"]["p99_us"], "us", "", None, None)
        row("bare 3-proc, 100 in flight", three["throughput"]["orders_per_s"], "/s", "", None, None)
        row(
            "bare 3-proc, 100 in flight, batched",
            batched["throughput"]["orders_per_s"],
            "/s",
            "bare 3-proc, 100 in flight",
            three["throughput"]["orders_per_s"],
            batched["throughput"]["orders_per_s"] / three["throughput"]["orders_per_s"],
        )
    if "lab" in res and "bare" in res:
        lab, three = res["lab"], res["bare"]["three"]
        batched = res["bare"]["three_batched"]
        for q in ("p50_us", "p99_us"):
            row(
                f"lab round trip {q[:3]} (broker->wholesaler)",
                lab["latency"][q],
                "us",
                f"bare 3-proc {q[:3]}",
                three["latency"][q],
                lab["latency"][q] / three["latency"][q],
            )
        row(
            "lab, 100 in flight",
            lab["throughput"]["orders_per_s"],
            "/s",
            "bare 3-proc, 100 in flight",
            three["throughput"]["orders_per_s"],
            lab["throughput"]["orders_per_s"] / three["throughput"]["orders_per_s"],
        )
        row(
            "lab, 100 in flight",
            lab["throughput"]["orders_per_s"],
            "/s",
            "bare 3-proc, batched",
            batched["throughput"]["orders_per_s"],
            lab["throughput"]["orders_per_s"] / batched["throughput"]["orders_per_s"],
        )
        half = three["latency"]["p50_us"] / 2
        for key, label in (
            ("client_to_wholesaler", "lab one way p50: client->broker->wholesaler"),
            ("in_wholesaler", "lab inside the wholesaler p50 (recv->exec)"),
            ("wholesaler_to_client", "lab one way p50: wholesaler->broker->client"),
        ):
            leg = lab.get("legs", {}).get(key, {})
            if "p50_us" not in leg:
                continue
            if key == "in_wholesaler":
                row(label, leg["p50_us"], "us", "", None, None)
            else:
                row(label, leg["p50_us"], "us", "bare 3-proc p50 / 2", half, leg["p50_us"] / half)
        row(
            f"lab start-up ({lab['processes']} processes ready)",
            lab["start_s"],
            "s",
            "",
            None,
            None,
        )
    return rows


def format_table(res: dict[str, Any]) -> str:
    head = ("figure", "value", "baseline (same run)", "baseline value", "ratio")
    rows = [head, *table_rows(res)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = []
    for k, r in enumerate(rows):
        cells = [
            r[0].ljust(widths[0]),
            r[1].rjust(widths[1]),
            r[2].ljust(widths[2]),
            r[3].rjust(widths[3]),
            r[4].rjust(widths[4]),
        ]
        lines.append("  ".join(cells).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_bench(quick: bool = False, out: Path | None = None) -> int:
    """Run every benchmark, print the table, write ``bench.json`` (into ``out`` or the cwd)."""
    try:
        return _run_bench(quick, out)
    except KeyboardInterrupt:
        _say("flowlab bench: interrupted (every process it started was stopped)")
        return 130


def _run_bench(quick: bool, out: Path | None) -> int:
    c = QUICK if quick else FULL
    t_start = time.perf_counter()
    res: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "quick": quick,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "msgspec": msgspec.__version__,
            "msgpack": ".".join(map(str, msgpack.version)),
        },
        "counts": c.__dict__,
    }
    _say("machine floor (socketpair ping-pong)...")
    res["machine_floor_us"] = machine_floor_us()
    res["load_avg_start"] = os.getloadavg()[0]
    _say("codec...")
    res["codec"] = bench_codec(n=c.codec_n, reps=c.codec_reps)
    _say("book core...")
    res["book"] = bench_book(ops=c.book_ops, steady_orders=c.book_steady, reps=c.book_reps)
    _say("SOR allocation...")
    res["sor"] = bench_sor(repeats=c.sor_repeats)
    transport = bench_transport(c, _say)
    res["bare"] = transport.pop("bare")
    if "lab" in transport:
        res["lab"] = transport.pop("lab")
    res["transport"] = transport
    code = 1 if "lab_error" in transport else 0
    res["machine_floor_end_us"] = machine_floor_us()
    res["seconds"] = time.perf_counter() - t_start
    print(format_table(res))
    print(
        f"\nmachine: {os.cpu_count()} CPUs; socketpair floor p50 {res['machine_floor_us']:.1f} µs "
        f"at start, {res['machine_floor_end_us']:.1f} µs at end; 1-min load average at start "
        f"{res['load_avg_start']:.1f}"
    )
    print(f"transport: median of {c.rounds} round(s), each the bare paths then a fresh lab")
    lab = res.get("lab")
    if lab is not None:
        print(
            f"lab: {lab['handshake_orders']:.0f} order(s) until the first {lab['wholesaler']} fill "
            "(median), "
            f"filled by {lab['filled_by']}"
            + (f", unfilled {lab['unfilled']}" if lab["unfilled"] else "")
        )
    path = (out if out is not None else Path.cwd()) / "bench.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(res, indent=2, sort_keys=True) + "\n")
    print(f"{'quick ' if quick else ''}bench took {res['seconds']:.1f} s; figures in {path}")
    return code
