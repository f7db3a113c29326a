"""The order client of ``flowlab bench``: one DEALER sending benchmark orders and timing round
trips, the same code for the bare transport path and for the lab, and the figures it returns."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import msgspec
import zmq.asyncio

from protocol.codec import VERSION, encode
from protocol.common import OrderType, Side
from protocol.orders import SubmitOrder

BENCH_SYMBOL = "ACME"
BENCH_IDENTITY = b"bench-client"

# Order ids a reply completes (the echo for the bare path, the terminal report for the lab).
Completed = Callable[[list[bytes]], list[str]]


class LatencyStats(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Round trips in microseconds; only ``n`` (0) when there were none."""

    n: int
    p50_us: float | None = None
    p99_us: float | None = None
    mean_us: float | None = None
    max_us: float | None = None


class Throughput(msgspec.Struct, frozen=True, kw_only=True):
    """Orders with up to ``window`` in flight."""

    orders: int
    window: int
    seconds: float
    orders_per_s: float
    latency: LatencyStats


class PathFigures(msgspec.Struct, frozen=True, kw_only=True):
    """What ``measure`` returns: one order in flight, then up to ``window``."""

    latency: LatencyStats
    throughput: Throughput
    next_id: int


def make_order(i: int, *, regime: str = "pfof", symbol: str = BENCH_SYMBOL) -> SubmitOrder:
    """Benchmark order ``i``: 100 shares at market, sides alternating (inventory stays flat)."""
    now = time.time_ns()
    return SubmitOrder(
        msg_id=i + 1,
        sender="bench-client",
        ts_ns=now,
        order_id=f"B{i:08d}",
        symbol=symbol,
        side=Side.BUY if i % 2 == 0 else Side.SELL,
        qty=100,
        order_type=OrderType.MARKET,
        account="bench",
        regime=regime,
        created_ns=now,
    )


def latency_stats(samples_ns: Sequence[int]) -> LatencyStats:
    """p50/p99/mean/max in microseconds (linear interpolation between closest ranks)."""
    if not samples_ns:
        return LatencyStats(n=0)
    a = sorted(samples_ns)

    def pct(q: float) -> float:
        pos = (len(a) - 1) * q / 100.0
        lo = int(pos)
        hi = min(lo + 1, len(a) - 1)
        return (a[lo] + (a[hi] - a[lo]) * (pos - lo)) / 1000.0

    return LatencyStats(
        n=len(a),
        p50_us=pct(50),
        p99_us=pct(99),
        mean_us=sum(a) / len(a) / 1000.0,
        max_us=a[-1] / 1000.0,
    )


async def measure(
    sock: zmq.asyncio.Socket,
    completed: Completed,
    *,
    n_lat: int,
    n_thr: int,
    window: int,
    warm: int,
    first: int = 0,
    regime: str = "pfof",
    sent_wall: dict[str, int] | None = None,
) -> PathFigures:
    """Drive one DEALER: ``warm`` + ``n_lat`` orders one at a time, then ``n_thr`` with up to
    ``window`` in flight. A round trip ends when ``completed`` names the order in a reply.

    With ``sent_wall``, the one-at-a-time phase also notes each order's wall-clock send time
    there (for per-hop breakdowns against the services' own ``time.time_ns`` stamps)."""
    latency, i = await _one_at_a_time(sock, completed, warm, n_lat, first, regime, sent_wall)
    throughput, i = await _in_flight(sock, completed, n_thr, window, i, regime)
    return PathFigures(latency=latency, throughput=throughput, next_id=i)


async def _one_at_a_time(
    sock: zmq.asyncio.Socket,
    completed: Completed,
    warm: int,
    n: int,
    i: int,
    regime: str,
    sent_wall: dict[str, int] | None,
) -> tuple[LatencyStats, int]:
    """Round trips of ``n`` orders sent one at a time after ``warm`` untimed ones."""
    clock = time.perf_counter_ns
    lat: list[int] = []
    for k in range(warm + n):
        t0 = clock()
        oid = f"B{i:08d}"
        if sent_wall is not None:
            sent_wall[oid] = time.time_ns()
        await sock.send_multipart([VERSION, encode(make_order(i, regime=regime))])
        i += 1
        while oid not in completed(await sock.recv_multipart()):
            pass
        if k >= warm:
            lat.append(clock() - t0)
    return latency_stats(lat), i


async def _in_flight(
    sock: zmq.asyncio.Socket, completed: Completed, n: int, window: int, i: int, regime: str
) -> tuple[Throughput, int]:
    """``n`` orders with up to ``window`` in flight: orders/s and their round trips."""
    clock = time.perf_counter_ns
    sent_at: dict[str, int] = {}
    lat: list[int] = []
    sent = done = 0
    t_start = time.perf_counter()
    while done < n:
        while sent < n and sent - done < window:
            oid = f"B{i:08d}"
            sent_at[oid] = clock()
            await sock.send_multipart([VERSION, encode(make_order(i, regime=regime))])
            i += 1
            sent += 1
        frames = await sock.recv_multipart()
        now = clock()
        for oid in completed(frames):
            t0 = sent_at.pop(oid, None)
            if t0 is not None:
                lat.append(now - t0)
                done += 1
    elapsed = time.perf_counter() - t_start
    figures = Throughput(
        orders=n,
        window=window,
        seconds=elapsed,
        orders_per_s=n / elapsed if elapsed > 0 else 0.0,
        latency=latency_stats(lat),
    )
    return figures, i
