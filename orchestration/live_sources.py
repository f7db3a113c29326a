"""Where the live view's numbers come from, read by the orchestrator process only.

- ``RunningMetrics``: Rule 605 sums per regime from the broker's tape events, as they arrive;
- ``TapeFollower``: what the recorder appended to ``tape.msgpack`` since the last call;
- ``NbboWatcher``: the latest NBBO per symbol from a SUB socket on the SIP's ``md`` endpoint;
- ``Health``: per-process message rates and queue depth from the heartbeats' counters;
- ``running_differences``: each regime against the first while the run goes on, with a normal
  interval over orders (the report's bootstrap intervals are the ones to cite).
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
import zmq

from config.runconfig import RunConfig
from protocol.codec import ALL_MESSAGE_TYPES, Decoder
from protocol.errors import ProtocolError
from protocol.marketdata import NBBO, SequenceHeartbeat, Trade
from protocol.money import quote_improvement
from protocol.orders import OrderCanceled, OrderFilled, OrderReceived, OrderRejected
from services.security import OPERATOR, authenticate


@dataclass
class RegimeTally:
    """Running Rule 605 sums of one regime (micro-dollars, shares)."""

    orders: int = 0
    terminal: int = 0
    ordered_shares: int = 0
    filled_shares: int = 0
    nbbo_shares: int = 0
    improvement_x_shares: int = 0
    effective_2x_shares: int = 0
    effective_bps_x_shares: float = 0.0
    pfof: int = 0
    commission: int = 0
    tte_ms: list[float] = field(default_factory=list)
    # per terminal order with fills against a usable NBBO: (improvement micro-$ x shares,
    # effective spread bps x shares, shares), the units of a running interval
    per_order: list[tuple[int, float, int]] = field(default_factory=list)


class RunningMetrics:
    """Per-regime metrics from the broker's tape events, updated as they arrive."""

    def __init__(self) -> None:
        self.regimes: dict[str, RegimeTally] = {}
        self._orders: dict[str, tuple[OrderReceived, list[int]]] = {}
        self._sums: dict[str, list[float]] = {}  # order id -> [improvement, eff bps, shares]

    def apply(self, msg: object) -> None:
        match msg:
            case OrderReceived():
                tally = self.regimes.setdefault(msg.regime, RegimeTally())
                tally.orders += 1
                tally.ordered_shares += msg.qty
                self._orders[msg.order_id] = (msg, [])
            case OrderFilled():
                self._fill(msg)
            case OrderCanceled() | OrderRejected():
                self._terminal(msg.order_id)

    def _fill(self, msg: OrderFilled) -> None:
        entry = self._orders.get(msg.order_id)
        if entry is None:
            return
        order, execs = entry
        tally = self.regimes[order.regime]
        execs.append(msg.exec_ns)
        tally.filled_shares += msg.fill_qty
        tally.pfof += msg.pfof
        tally.commission += msg.commission
        bid, ask = order.nbbo_bid, order.nbbo_ask
        if bid and ask:
            sign = msg.side.sign
            improvement = quote_improvement(msg.side, msg.fill_price, bid, ask)
            effective = sign * (2 * msg.fill_price - bid - ask)
            tally.nbbo_shares += msg.fill_qty
            tally.improvement_x_shares += improvement * msg.fill_qty
            tally.effective_2x_shares += effective * msg.fill_qty
            tally.effective_bps_x_shares += effective * msg.fill_qty * 2e4 / (bid + ask)
            sums = self._sums.setdefault(msg.order_id, [0, 0.0, 0])
            sums[0] += improvement * msg.fill_qty
            sums[1] += effective * msg.fill_qty * 2e4 / (bid + ask)
            sums[2] += msg.fill_qty
        if msg.leaves_qty == 0:
            self._terminal(msg.order_id)

    def _terminal(self, order_id: str) -> None:
        entry = self._orders.pop(order_id, None)
        if entry is None:
            return
        order, execs = entry
        tally = self.regimes[order.regime]
        tally.terminal += 1
        sums = self._sums.pop(order_id, None)
        if sums is not None and sums[2] > 0:
            tally.per_order.append((int(sums[0]), float(sums[1]), int(sums[2])))
        if execs:
            tally.tte_ms.append((max(execs) - order.recv_ns) / 1e6)

    def rows(self) -> list[list[str]]:
        out = []
        for regime, t in self.regimes.items():
            per_share = t.nbbo_shares or None
            out.append(
                [
                    regime,
                    f"{t.orders:,}",
                    f"{t.terminal:,}",
                    fmt_or_dash(
                        t.filled_shares / t.ordered_shares if t.ordered_shares else None, "{:.1%}"
                    ),
                    fmt_or_dash(
                        t.improvement_x_shares / 1e6 / per_share if per_share else None, "{:.4f}"
                    ),
                    fmt_or_dash(
                        t.effective_bps_x_shares / per_share if per_share else None, "{:.2f}"
                    ),
                    fmt_or_dash(statistics.median(t.tte_ms) if t.tte_ms else None, "{:.1f}"),
                    f"{t.pfof / 1e6:,.2f}",
                    f"{(t.effective_2x_shares / 2 + t.commission) / 1e6:,.2f}",
                ]
            )
        return out


@dataclass(frozen=True)
class RunningDifference:
    """``regime`` minus ``baseline`` in one metric, with a 95% interval (normal approximation)."""

    regime: str
    baseline: str
    metric: str  # "price_improvement_usd_per_share" or "effective_spread_bps"
    difference: float
    low: float
    high: float

    @property
    def better(self) -> bool | None:
        """True/False when the interval excludes 0 in the investor's favour/against it; None
        when it does not (more price improvement and a smaller effective spread are better)."""
        if self.low <= 0 <= self.high:
            return None
        favour = self.difference > 0
        return favour if self.metric == "price_improvement_usd_per_share" else not favour


def share_weighted_mean(units: list[tuple[float, int]]) -> tuple[float, float] | None:
    """Mean of ``Σ value_x_shares / Σ shares`` over orders and its variance, the ratio
    estimator's linearisation with orders as units: n/(n-1) Σ (q_i/Q)² (x_i - mean)², x_i the
    order's own share-weighted value. None with fewer than two orders."""
    n = len(units)
    total = sum(q for _, q in units)
    if n < 2 or total <= 0:
        return None
    mean = sum(v for v, _ in units) / total
    spread = sum((q / total) ** 2 * (v / q - mean) ** 2 for v, q in units)
    return mean, spread * n / (n - 1)


def running_differences(metrics: RunningMetrics, z: float = 1.96) -> list[RunningDifference]:
    """Each regime against the first seen, in price improvement ($/share) and effective spread
    (bps): the difference of share-weighted means and ``± z`` standard errors."""
    names = list(metrics.regimes)
    out: list[RunningDifference] = []
    for metric, pick, scale in (
        ("price_improvement_usd_per_share", 0, 1e-6),
        ("effective_spread_bps", 1, 1.0),
    ):
        means = {
            name: share_weighted_mean(
                [(u[pick] * scale, u[2]) for u in metrics.regimes[name].per_order]
            )
            for name in names
        }
        base = means[names[0]] if names else None
        for name in names[1:]:
            other = means[name]
            if base is None or other is None:
                continue
            difference = other[0] - base[0]
            half = z * math.sqrt(other[1] + base[1])
            out.append(
                RunningDifference(
                    name, names[0], metric, difference, difference - half, difference + half
                )
            )
    return out


class TapeFollower:
    """Reads what the recorder appended to a tape since the last call (broker events only)."""

    def __init__(self, path: Path, broker: str) -> None:
        self.path, self.broker = path, broker
        self._offset = 0
        self._unpacker = msgpack.Unpacker(raw=False, max_buffer_size=1 << 30)
        self._decoder = Decoder(ALL_MESSAGE_TYPES)

    def poll(self) -> list[object]:
        try:
            with self.path.open("rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except OSError:
            return []
        self._offset += len(chunk)
        self._unpacker.feed(chunk)
        out: list[object] = []
        for service, _recv_ns, payload in self._unpacker:
            if service == self.broker:
                try:
                    out.append(self._decoder.decode_payload(payload))
                except ProtocolError:
                    continue
        return out


class NbboWatcher:
    """The latest NBBO per symbol from the SIP's PUB socket (polled without blocking)."""

    def __init__(self, config: RunConfig) -> None:
        self._ctx = zmq.Context()
        self.sock = self._ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.RCVHWM, 100_000)
        self.sock.setsockopt(zmq.SUBSCRIBE, b"")
        sip = config.scenario.sip
        authenticate(self.sock, config, OPERATOR, sip)
        self.sock.connect(config.connect(sip, "md"))
        self._decoder = Decoder([NBBO, SequenceHeartbeat, Trade])
        self.latest: dict[str, NBBO] = {}
        self.updates = 0

    def poll(self) -> None:
        while True:
            try:
                frames = self.sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                messages = self._decoder.decode(frames)
            except ProtocolError:
                continue
            for msg in messages:
                if isinstance(msg, NBBO):
                    self.latest[msg.symbol] = msg
                    self.updates += 1

    def close(self) -> None:
        self.sock.close(linger=0)
        self._ctx.term()


class Health:
    """Per-process message rates from the heartbeats' counters."""

    def __init__(self) -> None:
        self.rates: dict[str, float] = {}
        self._last: dict[str, tuple[float, int]] = {}

    def heartbeat(self, proc: Any) -> None:
        total = sum(v for k, v in proc.counters.items() if k.endswith(".in") or k == "tape.entries")
        now = time.monotonic()
        previous = self._last.get(proc.name)
        if previous is not None and now > previous[0]:
            self.rates[proc.name] = (total - previous[1]) / (now - previous[0])
        self._last[proc.name] = (now, total)


def fmt_or_dash(value: float | None, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)
