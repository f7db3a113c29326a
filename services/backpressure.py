"""Backpressure: whether a service takes one more order, and the peaks that say how close it came.

A service that takes orders (broker, SOR, auction, wholesaler) asks ``Admission.refusal`` before
it accepts a new one. It is refused (``OrderRejected`` field ``protocol.orders.BUSY``) when
accepting it would pass one of the service's bounds (``[limits]`` of the scenario,
docs/RELIABILITY.md):

- **pending**: the orders the service is working at once (its own count, passed in);
- **queued**: messages waiting in its send-side delay queues (``services.latency.Link``);
- **lag**: how far behind the service is, read from the order itself: its age at receipt
  (``recv_ns - ts_ns``) beyond the smallest age seen from the same sender. The smallest age is
  that sender's base delay (the link's modelled latency plus any clock offset between the two
  hosts), as LEDBAT takes its base delay, so only the time the order spent waiting in queues
  counts. An order that waited longer than the bound in the service's inbound queue is refused:
  a refusal costs less than routing, so the backlog drains and the latency stays bounded. Only
  senders known to stamp ``ts_ns`` as they send (the lab's own processes) are measured; the
  service passes ``sent_ns=None`` for others (a third-party client may leave it 0).

Orders already accepted are never refused or dropped: their reports may pass ``queued`` (it is
only checked for new orders), which the peaks record. Pure: no sockets, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Peers whose base delay is remembered; past it the table starts again (rotating identities).
BASE_DELAY_PEERS = 10_000


@dataclass
class Admission:
    """The bounds of one service, the peaks it has seen and its count of busy refusals."""

    service: str
    pending_bound: int
    queued_bound: int
    lag_bound_ns: int
    pending_peak: int = 0
    queued_peak: int = 0
    lag_peak_ns: int = 0
    refused: int = 0
    _base_ns: dict[bytes | None, int] = field(default_factory=dict, repr=False)

    def lag_ns(self, peer: bytes | None, sent_ns: int | None, recv_ns: int) -> int:
        """How long an order from ``peer`` sent at ``sent_ns`` waited beyond its base delay
        (0 when its send time is not known)."""
        if sent_ns is None:
            return 0
        age = recv_ns - sent_ns
        base = self._base_ns.get(peer)
        if base is None or age < base:
            if base is None and len(self._base_ns) >= BASE_DELAY_PEERS:
                self._base_ns.clear()
            self._base_ns[peer] = base = age
        return age - base

    def refusal(
        self, peer: bytes | None, pending: int, queued: int, sent_ns: int | None, recv_ns: int
    ) -> str | None:
        """``None`` to accept one more order (``pending`` and ``queued``: the service's counts
        before it), else the reject's reason, ``"busy: <service> <what> (<n>/<bound>)"``."""
        lag = self.lag_ns(peer, sent_ns, recv_ns)
        self.lag_peak_ns = max(self.lag_peak_ns, lag)
        self.queued_peak = max(self.queued_peak, queued)
        reason = None
        if pending >= self.pending_bound:
            reason = f"busy: {self.service} queue full ({pending}/{self.pending_bound})"
        elif queued >= self.queued_bound:
            reason = f"busy: {self.service} send queues full ({queued}/{self.queued_bound})"
        elif lag > self.lag_bound_ns:
            reason = (
                f"busy: {self.service} behind ({lag // 1_000_000} ms/"
                f"{self.lag_bound_ns // 1_000_000} ms)"
            )
        if reason is not None:
            self.refused += 1
            return reason
        self.pending_peak = max(self.pending_peak, pending + 1)
        return None

    def counters(self) -> dict[str, int]:
        """The heartbeat counters (``busy.*``) the orchestrator reads the run's overload from."""
        return {
            "busy.refused": self.refused,
            "busy.pending_peak": self.pending_peak,
            "busy.pending_bound": self.pending_bound,
            "busy.queued_peak": self.queued_peak,
            "busy.queued_bound": self.queued_bound,
            "busy.lag_peak_us": self.lag_peak_ns // 1_000,
            "busy.lag_bound_us": self.lag_bound_ns // 1_000,
        }


# Token units per message: the bucket refills ``rate_per_s`` units per nanosecond, integer-exact.
UNITS_PER_MESSAGE = 1_000_000_000


@dataclass
class ClientRates:
    """A token bucket per client: ``rate_per_s`` messages a second on average, up to ``burst``
    at once. A message past it is refused (``rate``), not queued.

    A client is its authenticated key when there is one (``user``: the name of the CURVE key it
    connected with, which ZAP checked), so every connection of one key, whatever its routing id,
    drains one bucket; a client rotating routing ids gets no fresh bucket. Without keys
    (``[security] mode = "none"``) a client is its routing id (``peer``).
    """

    rate_per_s: int
    burst: int
    _buckets: dict[tuple[str, bytes | str | None], tuple[int, int]] = field(
        default_factory=dict, repr=False
    )

    @staticmethod
    def client_of(peer: bytes | None, user: str | None) -> tuple[str, bytes | str | None]:
        """The bucket's key: the authenticated key's name, else the routing id."""
        return ("key", user) if user is not None else ("routing id", peer)

    def allow(self, peer: bytes | None, now_ns: int, user: str | None = None) -> bool:
        """Whether the client (``user``'s key, else routing id ``peer``) may send one more
        message at ``now_ns`` (taking its token)."""
        client = self.client_of(peer, user)
        full = self.burst * UNITS_PER_MESSAGE
        bucket = self._buckets.get(client)
        if bucket is None and len(self._buckets) >= BASE_DELAY_PEERS:
            self._buckets.clear()
        tokens, last_ns = bucket if bucket is not None else (full, now_ns)
        tokens = min(full, tokens + max(0, now_ns - last_ns) * self.rate_per_s)
        allowed = tokens >= UNITS_PER_MESSAGE
        self._buckets[client] = (tokens - UNITS_PER_MESSAGE if allowed else tokens, now_ns)
        return allowed

    def reason(self, peer: bytes | None, user: str | None = None) -> str:
        name = (peer or b"").decode(errors="replace")[:64]
        key = f" (key {user[:64]!r})" if user is not None else ""
        return f"rate: client {name!r}{key} over {self.rate_per_s} messages/s (burst {self.burst})"
