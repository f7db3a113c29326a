"""Backpressure and client rates in a service: the shell around ``services/backpressure.py``.

``Limits`` is a mixin of ``services.runtime.Service`` (docs/RELIABILITY.md, "Backpressure"):
``admit`` is the one call an order taker (broker, SOR, auction, wholesaler) makes before it
accepts a new order, refusing it busy past the scenario's ``[limits]``; the runtime asks
``_within_rate`` for every message a client sends to a ROUTER endpoint and answers one past its
rate with ``_refuse_rate``; the heartbeat reads ``_update_queue_counters``.
"""

from __future__ import annotations

import resource
from typing import TYPE_CHECKING, Any, TypeVar

from protocol.base import Message
from protocol.codec import encode
from protocol.control import Rejected
from protocol.orders import BUSY, RATE, SubmitOrder
from services.backpressure import BASE_DELAY_PEERS, Admission, ClientRates
from services.latency import Link
from services.security import INJECTOR

if TYPE_CHECKING:
    import zmq.asyncio

    from config.scenario import Scenario

M = TypeVar("M", bound=Message)


PSS_EVERY = 4  # heartbeats between reads of the proportional set size


def memory_kb(*, proportional: bool = True) -> dict[str, int]:
    """This process's memory in KiB, where Linux says (``{}`` elsewhere): ``rss.peak_kb``, its
    peak resident set (``VmHWM`` of ``/proc/self/status``: this program's own, where
    ``getrusage``'s ``ru_maxrss`` would keep the peak of the process it was forked from before
    ``exec``), and ``pss.peak_kb``, its proportional set now (``/proc/self/smaps_rollup``: each
    shared page split between the processes that map it, so the lab's processes sum to the
    memory it uses; the caller keeps the peak; ``proportional=False`` skips it)."""
    out = {}
    sources = [("/proc/self/status", b"VmHWM:", "rss.peak_kb")]
    if proportional:
        sources.append(("/proc/self/smaps_rollup", b"Pss:", "pss.peak_kb"))
    for path, field, key in sources:
        try:
            with open(path, "rb") as f:
                for line in f:
                    if line.startswith(field):
                        out[key] = int(line.split()[1])
                        break
        except (OSError, ValueError, IndexError):
            continue
    return out


class Limits:
    """Admission (``admit``), client rates and the queue counters of a service."""

    if TYPE_CHECKING:  # provided by Service (and OrderReports)
        name: str
        scenario: Scenario
        counters: dict[str, int]
        _links: dict[tuple[int, bytes | None], Link]
        _tape_link: Link | None
        _retired_links: list[Link]
        _roles: dict[str, str]

        def make(self, cls: type[M], **fields: Any) -> M: ...
        def count(self, key: str, n: int = 1) -> None: ...
        def reply_link(self, sock: zmq.asyncio.Socket, identity: bytes) -> Link: ...
        def reply_rejected(
            self, link: Link, order_id: str, reason: str, field: str | None
        ) -> None: ...
        def _log_refusal(self, identity: bytes | None, why: object) -> None: ...

    def _init_limits(self) -> None:
        limits = self.scenario.limits
        # made by the first ``admit``: only order takers have one
        self.admission: Admission | None = None
        self._queued: tuple[int, int] = (-1, 0)  # (recv_ns of the batch, messages queued)
        self._rates = (
            ClientRates(limits.client_rate_per_s, limits.client_burst)
            if limits.client_rate_per_s
            else None
        )
        self._lab_peers: dict[bytes | None, bool] = {}

    def admit(
        self, link: Link, identity: bytes | None, msg: SubmitOrder, recv_ns: int, pending: int
    ) -> bool:
        """Whether to take the new order ``msg`` while ``pending`` orders are being worked; if
        not, it is refused busy (``OrderRejected`` field ``busy``, counted
        ``orders.rejected.busy``) on ``link``. Call it once the order is otherwise valid."""
        if self.admission is None:
            limits = self.scenario.limits
            self.admission = Admission(
                self.name, limits.pending_for(self.name), limits.queued, limits.lag_ms * 1_000_000
            )
        stamped = msg.ts_ns > 0 and self._lab_peer(identity)
        reason = self.admission.refusal(
            identity, pending, self._queued_now(recv_ns), msg.ts_ns if stamped else None, recv_ns
        )
        if reason is None:
            return True
        self.count(f"orders.rejected.{BUSY}")
        self.reply_rejected(link, msg.order_id, reason, BUSY)
        return False

    def _lab_peer(self, identity: bytes | None) -> bool:
        """Whether the peer is one of the lab's processes (a service, an injector; under CURVE
        its routing id is its key's, ``identity_error``): they stamp ``ts_ns`` as they send, so
        only their orders' age measures this service's lag, and no client rate applies."""
        known = self._lab_peers.get(identity)
        if known is None:
            name = (identity or b"").decode(errors="replace").partition("#")[0]
            known = name in self._roles or name == INJECTOR or name.startswith(f"{INJECTOR}-")
            if len(self._lab_peers) >= BASE_DELAY_PEERS:
                self._lab_peers.clear()
            self._lab_peers[identity] = known
        return known

    def _within_rate(self, identity: bytes | None, recv_ns: int, user: str | None) -> bool:
        """Whether a client may send this message (``[limits] client_rate_per_s``): one bucket
        per authenticated key (``user``, under CURVE), else per routing id."""
        if self._rates is None or self._lab_peer(identity):
            return True
        return self._rates.allow(identity, recv_ns, user)

    def _refuse_rate(
        self, sock: zmq.asyncio.Socket, identity: bytes | None, user: str | None, msg: Message
    ) -> None:
        """Answer a message past its client's rate without handling it: an order gets
        ``OrderRejected`` field ``rate`` (with its id), anything else ``Rejected``; counted
        ``rejected.rate``, logged as rejected frames are (the first few, then every 1,000th)."""
        assert self._rates is not None and identity is not None
        reason = self._rates.reason(identity, user)
        self.count(f"rejected.{RATE}")
        self._log_refusal(identity, reason)
        link = self.reply_link(sock, identity)
        if isinstance(msg, SubmitOrder):
            self.reply_rejected(link, msg.order_id, reason, RATE)
            return
        order_id = getattr(msg, "order_id", None)
        reply = self.make(
            Rejected,
            reason=reason,
            field=RATE,
            received_type=type(msg).__name__,
            order_id=order_id if isinstance(order_id, str) else None,
        )
        link.send(encode(reply))

    def _queued_now(self, recv_ns: int) -> int:
        """Messages waiting in this service's delay queues, summed once per received batch."""
        if self._queued[0] != recv_ns:
            self._queued = (recv_ns, self._queued_messages())
        return self._queued[1]

    def _queued_messages(self) -> int:
        tape = self._tape_link.queued if self._tape_link is not None else 0
        return sum(link.queued for link in self._links.values()) + tape

    def _update_queue_counters(self) -> None:
        """``queue.depth`` (messages in the delay queues: latency model + backlog), its peak as
        sampled, the ``busy.*`` counters of an order taker, and the process's peak resident
        memory (``rss.peak_kb``; ``pss.peak_kb``: the proportional set as sampled) and CPU time
        (``cpu.ms``), for the heartbeat."""
        depth = self._queued_messages()
        # the process's own resources (flowlab bench --load reads them from counters.json):
        # CPU time (user + system), peak resident memory, peak proportional set as sampled
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.counters["cpu.ms"] = int((usage.ru_utime + usage.ru_stime) * 1_000)
        # the proportional set every fourth heartbeat (2 s) and at the stop: the kernel walks
        # every mapping to add it up (~0.2 ms a read here)
        self._memory_reads = getattr(self, "_memory_reads", 0) + 1
        stopping = getattr(getattr(self, "state", None), "value", "") in ("stopping", "stopped")
        proportional = stopping or self._memory_reads % PSS_EVERY == 1
        for key, kb in memory_kb(proportional=proportional).items():
            self.counters[key] = max(self.counters.get(key, 0), kb)
        self.counters["queue.depth"] = depth
        self.counters["queue.peak"] = max(self.counters.get("queue.peak", 0), depth)
        # Every link's own counts, the tape's link's too after the recorder is lost (kept in
        # ``_retired_links``, so the totals never fall): messages sent and the batches they
        # left in (messages per send: docs/PERFORMANCE.md); and libzmq's own queues: batches a
        # full peer refused (kept, tried again) and messages to a peer that was gone
        # (services/latency.py ``Link``), shown once there are any
        links = [
            *self._links.values(),
            *([self._tape_link] if self._tape_link else []),
            *self._retired_links,
        ]
        self.counters["send.messages"] = sum(link.sent for link in links)
        self.counters["send.batches"] = sum(link.batches for link in links)
        for key, total in (
            ("send.blocked", sum(link.blocked for link in links)),
            ("send.unroutable", sum(link.unroutable for link in links)),
        ):
            if total or key in self.counters:
                self.counters[key] = total
        if self.admission is not None:
            self.counters.update(self.admission.counters())
