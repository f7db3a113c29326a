"""Per-link latency: a model (base + jitter) and the send-side FIFO delay queue that applies it.

Each directed link (this service -> one peer, or this service's PUB -> all its subscribers) has
its own model from the scenario. A message's due time is ``now + sample`` but never earlier than
the previous message's on the same link, so a link never reorders. Messages that fall due in the
same loop iteration leave in one multipart message (``[envelope, VERSION, p1, p2, ...]``): a busy
link batches for free while a quiet one sends each message at once.

Timer resolution: uvloop (libuv) timers have millisecond granularity, so a link flushes every
message due within ``TOLERANCE_NS`` of now. Latencies below a millisecond are therefore honoured
in order but rounded to the loop's clock; reports use measured receive stamps, not the model.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections import deque
from collections.abc import Iterable
from typing import Any, cast

import numpy as np
import zmq
import zmq.asyncio
from zmq.backend import Socket as _RawSocket

from config.scenario import LatencyConfig, LatencySpec
from protocol.codec import VERSION
from services.sockets import wakes_a_reader

TOLERANCE_NS = 500_000
# The frames of a batch go straight to pyzmq's compiled send (docs/PERFORMANCE.md, "Changed
# here: a link's batch goes straight to the compiled send"): its Python wrappers (the asyncio
# socket's future, ``send_multipart``'s per-frame ``Socket.send`` with a Python ``enum.Flag``
# combination) cost 4-5 us a batch, the compiled call under 1 us. Plain int flags, likewise.
_SEND = _RawSocket.send
_MORE = int(zmq.SNDMORE | zmq.DONTWAIT)
_LAST = int(zmq.DONTWAIT)
# A batch a full peer refused is tried again after this, doubling up to RETRY_MAX_S.
RETRY_START_S = 0.001
# A packed link (``Link(packed=True)``: the tape) joins its batch's messages into frames of up
# to this many bytes (a message larger than that goes alone), far inside the 1 MiB a socket
# accepts per frame (``protocol.codec.MAX_MESSAGE_BYTES``).
PACK_BYTES = 256 * 1024
RETRY_MAX_S = 0.05


def _matches(pattern: str, name: str, role: str) -> bool:
    return pattern in ("*", name, role)


def latency_for(
    config: LatencyConfig, src_name: str, src_role: str, dst_name: str, dst_role: str
) -> LatencySpec:
    """The link spec for ``src -> dst``: the last matching ``[[latency.links]]`` entry wins."""
    chosen: LatencySpec = config.default
    for link in config.links:
        if _matches(link.src, src_name, src_role) and _matches(link.dst, dst_name, dst_role):
            chosen = link
    return chosen


LOGNORMAL_SIGMA = 0.5  # shape of the lognormal jitter (its mean is the spec's ``jitter_us``)
# A lognormal delay has no maximum: its bound is taken at ``LOGNORMAL_BOUND`` x its mean, which
# with sigma = 0.5 is exceeded with probability 1 - Phi((ln 20 + sigma^2 / 2) / sigma) ~ 2e-10.
LOGNORMAL_BOUND = 20


def worst_case_ns(spec: LatencySpec) -> int:
    """An upper bound of the one-way delay ``spec`` can sample: exact for ``constant`` and
    ``uniform``, ``base + LOGNORMAL_BOUND x mean jitter`` for ``lognormal`` (see above)."""
    base, jitter = spec.base_us * 1_000, spec.jitter_us * 1_000
    if jitter == 0 or spec.model == "constant":
        return base + jitter
    if spec.model == "uniform":
        return base + 2 * jitter
    return base + LOGNORMAL_BOUND * jitter


# Jitter is drawn this many samples at a time: one numpy call per scalar costs ~2.5 µs, a tenth
# of the broker's time per message under load (docs/PERFORMANCE.md). numpy's Generator draws a
# block in the same sequence as one call per sample, so every message gets the delay it got
# before (tests/unit/test_latency.py checks it against scalar draws).
SAMPLE_BLOCK = 256


class LatencyModel:
    """Samples one-way delays in nanoseconds. ``jitter_us`` is the jitter's mean."""

    __slots__ = ("_block", "_next", "_rng", "_sigma", "base_ns", "jitter_ns", "kind")

    def __init__(self, spec: LatencySpec, rng: np.random.Generator) -> None:
        self.base_ns = spec.base_us * 1_000
        self.jitter_ns = spec.jitter_us * 1_000
        self.kind = spec.model
        self._rng = rng
        self._sigma = LOGNORMAL_SIGMA
        self._block: list[int] = []
        self._next = 0

    @classmethod
    def zero(cls) -> LatencyModel:
        return cls(LatencySpec(), np.random.default_rng(0))

    @property
    def is_zero(self) -> bool:
        return self.base_ns == 0 and self.jitter_ns == 0

    def sample_ns(self) -> int:
        if self.jitter_ns == 0 or self.kind == "constant":
            return self.base_ns + self.jitter_ns
        if self._next == len(self._block):
            self._block, self._next = self._draw_jitter(), 0
        jitter = self._block[self._next]
        self._next += 1
        return self.base_ns + jitter

    def _draw_jitter(self) -> list[int]:
        """The next ``SAMPLE_BLOCK`` jitters (ns, truncated like ``int()``), in draw order."""
        if self.kind == "uniform":
            draws = self._rng.uniform(0.0, 2.0 * self.jitter_ns, size=SAMPLE_BLOCK)
        else:  # lognormal with mean jitter_ns: mu = ln(mean) - sigma^2 / 2
            mu = math.log(self.jitter_ns) - self._sigma * self._sigma / 2.0
            draws = self._rng.lognormal(mu, self._sigma, size=SAMPLE_BLOCK)
        return [int(d) for d in draws.tolist()]


class Link:
    """The send side of one directed link, with its own FIFO delay queue.

    A batch leaves with a non-blocking send. When libzmq's queue to the peer is full (its high
    water mark: the peer reads too slowly) the batch stays at the head of this queue and is
    tried again after ``RETRY_START_S``, doubling to ``RETRY_MAX_S``, so nothing is dropped and
    the backlog shows in ``queued`` (and so in ``[limits] queued``, which makes an order taker
    refuse new orders busy); ``blocked`` counts the refusals. A ROUTER's peer that is gone
    (``ROUTER_MANDATORY``: ``EHOSTUNREACH``) cannot be reached at all: the batch is dropped and
    counted in ``unroutable`` rather than dropped silently, as a ROUTER does by default.
    """

    __slots__ = (
        "_envelope",
        "_loop",
        "_model",
        "_packed",
        "_queue",
        "_retry_s",
        "_scheduled",
        "_shadow",
        "_socket",
        "batches",
        "blocked",
        "sent",
        "unroutable",
    )

    def __init__(
        self,
        socket: zmq.asyncio.Socket,
        model: LatencyModel,
        envelope: bytes | None = None,
        *,
        packed: bool = False,
    ) -> None:
        self._socket = socket
        self._model = model
        self._envelope = envelope
        # packed: a batch's messages travel concatenated in as few frames as PACK_BYTES allows,
        # for a receiver that reads self-delimiting entries (the recorder: MessagePack arrays);
        # each frame costs libzmq and CURVE work of its own (docs/PERFORMANCE.md)
        self._packed = packed
        self._queue: deque[tuple[int, bytes]] = deque()
        self._scheduled = False
        self._loop = asyncio.get_running_loop()
        self._retry_s = 0.0
        # the same libzmq socket, synchronous: what the direct send uses (None: pyzmq's
        # asyncio socket lacks the internals the direct send keeps in step, ``direct_send_ok``)
        self._shadow: Any = zmq.Socket.shadow(socket.underlying) if direct_send_ok(socket) else None
        self.sent = 0
        self.batches = 0
        self.blocked = 0
        self.unroutable = 0

    def send(self, payload: bytes) -> None:
        """Queue one encoded message; it leaves when due, in order, batched with its neighbours."""
        now = time.time_ns()
        due = now + self._model.sample_ns() if not self._model.is_zero else now
        if self._queue and self._queue[-1][0] > due:
            due = self._queue[-1][0]
        self._queue.append((due, payload))
        if not self._scheduled:
            self._scheduled = True
            delay = (due - now - TOLERANCE_NS) / 1e9
            if delay <= 0:
                self._loop.call_soon(self._flush)
            else:
                self._loop.call_later(delay, self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        queue = self._queue
        if not queue:
            return
        limit = time.time_ns() + TOLERANCE_NS
        due = 0
        for at, _payload in queue:
            if at > limit:
                break
            due += 1
        if due:
            if not self._put(due):  # the peer's queue is full: try again shortly
                self._retry_s = min(RETRY_MAX_S, max(RETRY_START_S, 2 * self._retry_s))
                self._scheduled = True
                self._loop.call_later(self._retry_s, self._flush)
                return
            self._retry_s = 0.0
        if queue:
            self._scheduled = True
            self._loop.call_later(max(0.0, (queue[0][0] - limit) / 1e9), self._flush)

    def _put(self, n: int) -> bool:
        """Send the first ``n`` queued messages as one batch and remove them from the queue;
        ``False`` (all kept) when the peer's queue is full."""
        out = [VERSION] if self._envelope is None else [self._envelope, VERSION]
        payloads = (payload for _, payload in itertools.islice(self._queue, n))
        out.extend(pack(payloads) if self._packed else payloads)
        sock: Any = self._socket  # pyzmq's internals (``direct_send_ok``) are untyped
        # Direct only when nothing is parked on the socket (a later batch must not pass one)
        # and every frame is bytes (pyzmq checks the frames before sending any; a bad one met
        # halfway would leave the message half sent).
        if self._shadow is not None and not sock._send_futures and _all_bytes(out):
            exc = self._send_direct(out)
        else:
            # Through the asyncio socket, without waiting (a full peer answers Again at once).
            # pyzmq types it an Awaitable; zmq.asyncio returns a Future, done unless parked
            sent = cast("asyncio.Future[object]", sock.send_multipart(out, flags=zmq.DONTWAIT))
            if not sent.done():  # queued behind another sender's parked send on this socket
                sent.add_done_callback(self._late_result)
                exc = None
            else:
                exc = sent.exception()
        if isinstance(exc, zmq.Again):
            self.blocked += 1
            return False
        if isinstance(exc, zmq.ZMQError) and exc.errno == zmq.EHOSTUNREACH:
            self.unroutable += n
        elif exc is not None:
            raise exc
        else:
            self.sent += n
            self.batches += 1
        for _ in range(n):
            self._queue.popleft()
        return True

    def _send_direct(self, out: list[bytes]) -> BaseException | None:
        """Send ``out`` as one multipart message through the compiled send, as pyzmq's asyncio
        socket would with ``DONTWAIT`` (the exception instead of raising it). libzmq takes a
        multipart message whole or not at all: only its first frame can meet a full queue or
        an unknown peer. Then, whatever the outcome, as pyzmq does after each send that ends at
        once, a receive awaiting this socket (or its reader, ``services.sockets``) is woken if a
        message is waiting: the socket's descriptor is edge-triggered, and a send (a failed one
        too: libzmq reads its pending commands first) can consume the edge an arrival raised."""
        shadow = self._shadow
        error: BaseException | None = None
        try:
            for frame in out[:-1]:
                _SEND(shadow, frame, _MORE)
            _SEND(shadow, out[-1], _LAST)
        except zmq.ZMQError as exc:
            error = exc
        sock: Any = self._socket
        if wakes_a_reader(sock):
            sock._schedule_remaining_events()
        return error

    def _late_result(self, sent: asyncio.Future[object]) -> None:
        if not sent.cancelled() and sent.exception() is not None:
            self.unroutable += 1  # a batch pyzmq parked could not be sent after all

    def flush_now(self) -> None:
        """Send everything queued regardless of due time (used when stopping); what a full
        peer cannot take now is counted ``unroutable``."""
        if self._queue and not self._put(len(self._queue)):
            self.unroutable += len(self._queue)
            self._queue.clear()

    @property
    def queued(self) -> int:
        return len(self._queue)


def pack(payloads: Iterable[bytes], limit: int = PACK_BYTES) -> list[bytes]:
    """``payloads`` concatenated, in order, into frames of at most ``limit`` bytes (one larger
    than ``limit`` is a frame of its own)."""
    frames: list[bytes] = []
    run: list[bytes] = []
    size = 0
    for payload in payloads:
        if run and size + len(payload) > limit:
            frames.append(b"".join(run))
            run, size = [], 0
        run.append(payload)
        size += len(payload)
    if run:
        frames.append(b"".join(run))
    return frames


def _all_bytes(frames: list[bytes]) -> bool:
    return all(type(frame) is bytes for frame in frames)


def direct_send_ok(socket: zmq.asyncio.Socket) -> bool:
    """Whether ``socket`` (pyzmq's asyncio socket) has the internals ``Link`` keeps in step
    when it sends around it: its parked sends, its awaiting receives and the call that wakes
    them (pyzmq 26-27). Without them every batch goes through the asyncio socket."""
    return all(
        hasattr(socket, name)
        for name in ("_send_futures", "_recv_futures", "_schedule_remaining_events")
    )
