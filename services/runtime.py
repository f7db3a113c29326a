"""The one ``Service`` base every role process runs on.

Lifecycle: ``starting`` (bind, connect, take snapshots) -> ``ServiceReady`` to the orchestrator ->
``running`` (heartbeats, handlers) -> ``stopping`` (on SIGTERM/SIGINT, ``StopService`` or a failed
task: drain hooks, flush links and the tape, close every socket) -> ``stopped``. Subclasses
implement the ``_setup``/``_on_running``/``_drain`` hooks, never ``run``/``stop``.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import signal
import time
import zlib
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import msgspec
import numpy as np
import zmq
import zmq.asyncio

from config.runconfig import RunConfig
from config.scenario import ScenarioError
from protocol.base import Message
from protocol.codec import (
    MAX_MESSAGE_BYTES,
    VERSION,
    Decoder,
    check_version,
    encode,
    received_fields,
)
from protocol.control import Heartbeat, PeerDown, PeerUp, Rejected, ServiceReady, StopService
from protocol.errors import ProtocolError
from protocol.marketdata import SequenceHeartbeat
from services.latency import LatencyModel, Link, latency_for
from services.limits import Limits
from services.reports import OrderReports
from services.security import (
    HANDSHAKE_FAILURES,
    INJECTOR,
    ORCHESTRATOR,
    ZAP_ENDPOINT,
    KeyRing,
    ZapCounter,
    count_handshake_failures,
    curve_enabled,
    frames_and_user,
    identity_error,
    secure_client,
    secure_server,
    serve_zap,
)
from services.sockets import Context, on_arrival, recv_frames, stop_arrivals

log = logging.getLogger(__name__)
M = TypeVar("M", bound=Message)
Handler = Callable[[bytes | None, Any, int], None]

HEARTBEAT_INTERVAL_S = 0.5
DRAIN_BATCH = 512
TAPE_LINGER_MS = 10_000
WALL_TIMER_SLACK_NS = 2_000_000
# Rejected frames are logged per peer: the first REJECT_LOG_FIRST, then every REJECT_LOG_EVERY-th
# (a flood of garbage is counted in full, but writes a few lines, not one per frame). The
# per-peer tally forgets everyone past REJECT_LOG_PEERS peers (rotating identities).
REJECT_LOG_FIRST = 10
REJECT_LOG_EVERY = 1_000
REJECT_LOG_PEERS = 10_000


# How long a service's reader may hold the event loop while its socket keeps having messages:
# a reader fed faster than it drains would never let the timers run — the heartbeats (a service
# starved this way missed its own and was judged stalled) and the links' delayed sends (every
# reply waited for the flood to end). Past this it returns, and is called again after the loop's
# other callbacks had a turn (docs/PERFORMANCE.md): 20 ms is far inside the 0.5 s heartbeat and
# keeps the batching a backlog buys (each turn lets the links flush smaller batches).
YIELD_AFTER_NS = 20_000_000
BatchHandler = Callable[[list[list[Any]], int], None]


def reject_logged(n: int) -> bool:
    """Whether a peer's ``n``-th rejected frame (from 1) is logged."""
    return n <= REJECT_LOG_FIRST or n % REJECT_LOG_EVERY == 0


def call_at_wall(when_ns: int, callback: Callable[..., None], *args: Any) -> asyncio.TimerHandle:
    """Run ``callback(*args)`` once the wall clock (``time.time_ns()``) has reached ``when_ns``.

    uvloop rounds a delay to the millisecond and libuv truncates its clock to it, so a timer may
    fire up to 1.5 ms early; ``WALL_TIMER_SLACK_NS`` more makes sure the callback never runs
    before ``when_ns`` (short of a step of the wall clock).
    """
    delay_ns = max(0, when_ns - time.time_ns()) + WALL_TIMER_SLACK_NS
    return asyncio.get_running_loop().call_later(delay_ns / 1e9, callback, *args)


class ServiceState(enum.StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"


_tape_encoder = msgspec.msgpack.Encoder()


class Service(Limits, OrderReports):
    """Base of every role process: sockets, links, tasks, tape, heartbeats, clean shutdown.

    Replies to orders (accepted, rejected, canceled, filled) come from ``OrderReports``;
    backpressure and client rates from ``Limits``.
    """

    role: ClassVar[str] = "service"

    def __init__(
        self,
        config: RunConfig,
        name: str,
        *,
        install_signals: bool = True,
        ready_file: Path | None = None,
        restarts: int = 0,
    ) -> None:
        self.config = config
        # How many times the launcher's restart policy has started this service again (0: the
        # first process): a restarted service rejoins from its snapshots (services/snapshots.py).
        self.restarts = restarts
        self.scenario = config.scenario
        self.name = name
        spec = config.service(name) if name in {s.name for s in config.services} else None
        if spec is not None and spec.role != self.role:
            raise ScenarioError(f"services.{name}: is a {spec.role}, not a {self.role}")
        self.spec = spec
        self.state = ServiceState.STARTING
        self.counters: dict[str, int] = {}
        self.exit_code = 0
        self._install_signals = install_signals
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sockets: list[zmq.asyncio.Socket] = []
        self._served: list[zmq.asyncio.Socket] = []  # sockets whose arrivals call a reader
        self._links: dict[tuple[int, bytes | None], Link] = {}
        self._msg_seq = 0
        self._stop_reason = ""
        self._stopped: asyncio.Event | None = None
        self._tape_socket: zmq.asyncio.Socket | None = None
        self._tape_link: Link | None = None
        self._retired_links: list[Link] = []  # links no longer used, still counted
        self._control: zmq.asyncio.Socket | None = None
        self.ctx: zmq.asyncio.Context | None = None
        self._roles = {s.name: s.role for s in config.services}
        self._rejects_by_peer: dict[bytes | None, int] = {}
        # Readiness for probes that cannot ask the orchestrator (a container's HEALTHCHECK):
        # written when running, its mtime refreshed with every heartbeat, removed at stop.
        self._ready_file = ready_file
        # CURVE (docs/SECURITY.md): the run's keys, this process's key name, and the key each
        # ROUTER peer (socket id, routing id) last sent with.
        self.keys: KeyRing | None = None
        self.key_name = INJECTOR if self.role == "injector" else name
        self._users: dict[tuple[int, bytes], str | None] = {}
        self._init_limits()

    # ------------------------------------------------------------------ lifecycle
    async def run(self) -> int:
        """Run until stopped; returns the process exit code (0 clean, 1 after a failure)."""
        self.ctx = Context()
        self._stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        if self._install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.stop, f"signal {sig.name}")
        try:
            if curve_enabled(self.config):
                self._start_zap()
            self._open_control_and_tape()
            await self._setup()
            if self._stopped.is_set():
                return await self._shutdown()
            self._mark_ready(first=True)  # before the handshake: whoever saw it may probe it
            self._send_control(
                self.make(
                    ServiceReady,
                    name=self.name,
                    role=self.role,
                    pid=os.getpid(),
                    endpoints={
                        k: e.connect for k, e in (self.spec.endpoints if self.spec else {}).items()
                    },
                )
            )
            self.state = ServiceState.RUNNING
            self.spawn(self._heartbeats(), "heartbeats")
            await self._on_running()
            log.info("%s: running", self.name)
            await self._stopped.wait()
        except Exception:
            log.exception("%s: cannot run: failed during start-up", self.name)
            self.exit_code = 1
        return await self._shutdown()

    def stop(self, reason: str = "requested") -> None:
        """Ask the service to stop; harmless to call more than once."""
        if self._stopped is None or self._stopped.is_set():
            return
        self._stop_reason = reason
        log.info("%s: stopping (%s)", self.name, reason)
        self._stopped.set()

    async def _shutdown(self) -> int:
        self.state = ServiceState.STOPPING
        if self._ready_file is not None:
            self._ready_file.unlink(missing_ok=True)
        try:
            await asyncio.wait_for(self._drain(), timeout=5.0)
        except Exception:
            log.exception("%s: cannot drain cleanly", self.name)
        for link in self._links.values():
            link.flush_now()
        if self._tape_link is not None:
            self._tape_link.flush_now()
        for sock in self._served:
            stop_arrivals(sock)
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._update_queue_counters()
        if self._control is not None and self.state is ServiceState.STOPPING:
            self._send_control(
                self.make(Heartbeat, name=self.name, state="stopped", counters=self.counters)
            )
        for sock in self._sockets:
            tape_open = sock is self._tape_socket and self._tape_link is not None
            sock.close(linger=TAPE_LINGER_MS if tape_open else 0)
        if self.ctx is not None:
            self.ctx.term()
        self.state = ServiceState.STOPPED
        log.info("%s: stopped (exit code %d)", self.name, self.exit_code)
        return self.exit_code

    def _mark_ready(self, *, first: bool = False) -> None:
        """Write the ready file (``NAME ROLE PID``; ``first``: once ready, over any left by an
        earlier process) or refresh its time (each heartbeat); a probe reads its age."""
        if self._ready_file is None or self.state in (ServiceState.STOPPING, ServiceState.STOPPED):
            return  # removed at stop, never written again
        try:
            if first or not self._ready_file.exists():
                self._ready_file.write_text(f"{self.name} {self.role} {os.getpid()}\n")
            else:  # a heartbeat: only its time moves
                os.utime(self._ready_file)
        except OSError as e:  # a probe will call it not ready; the service itself is fine
            log.warning("%s: cannot write ready file %s: %s", self.name, self._ready_file, e)

    # ------------------------------------------------------------------ hooks
    async def _setup(self) -> None:
        """Bind, connect and take snapshots. The service is announced ready after this."""

    async def _on_running(self) -> None:
        """Start background work once ready (agents begin trading here)."""

    async def _drain(self) -> None:
        """Last words before sockets close (final P&L to the tape, cancel resting orders...)."""

    # ------------------------------------------------------------------ tasks
    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run a named, tracked task; a task that fails stops the service with exit code 1."""
        task = asyncio.get_running_loop().create_task(coro, name=f"{self.name}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("%s: task %s failed: %r", self.name, task.get_name(), exc, exc_info=exc)
            self.exit_code = 1
            self.stop(f"task {task.get_name()} failed")

    # ------------------------------------------------------------------ sockets
    def socket(self, kind: int, *, identity: str | None = None) -> zmq.asyncio.Socket:
        assert self.ctx is not None, "sockets are created inside the running loop"
        sock = self.ctx.socket(kind)
        sock.setsockopt(zmq.LINGER, 0)
        # A peer sending a bigger frame is disconnected before it is read (docs/RELIABILITY.md).
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        if identity is not None:
            sock.setsockopt(zmq.IDENTITY, identity.encode())
        if kind == zmq.ROUTER:
            # A message to a peer that is gone raises (EHOSTUNREACH), and one to a full peer
            # answers Again, instead of being dropped silently: the Link counts the first and
            # keeps the second queued (services/latency.py).
            sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self._sockets.append(sock)
        return sock

    def bind(self, endpoint: str, kind: int) -> zmq.asyncio.Socket:
        """Bind this service's own endpoint (``orders``, ``md``, ...) from the run config."""
        if self.spec is None or endpoint not in self.spec.endpoints:
            raise ScenarioError(f"services.{self.name}: no {endpoint!r} endpoint to bind")
        sock = self.socket(kind)
        # No ROUTER_HANDOVER: a second connection with a routing id in use is refused, never
        # handed the first one's replies (issue 13).
        if self.keys is not None:
            secure_server(sock, self.keys, self.key_name, endpoint)
            self._monitor(sock)
        sock.bind(self.spec.endpoints[endpoint].bind)
        return sock

    def _start_zap(self) -> None:
        """Load the run's keys and answer ZAP for this process's CURVE server sockets."""
        self.keys = KeyRing.of(self.config)
        zap = self.socket(zmq.REP)
        zap.bind(ZAP_ENDPOINT)
        self.spawn(serve_zap(zap, self.keys, ZapCounter(self.counters, self.name)), "zap")

    def _monitor(self, sock: zmq.asyncio.Socket) -> None:
        monitor = sock.get_monitor_socket(HANDSHAKE_FAILURES)
        self._sockets.append(monitor)
        counter = ZapCounter(self.counters, self.name)
        self.spawn(count_handshake_failures(monitor, counter), f"monitor:{len(self._sockets)}")

    def connect(
        self, peer: str, endpoint: str, kind: int, *, identity: str | None = None
    ) -> zmq.asyncio.Socket:
        """Connect to a peer's endpoint; DEALERs identify themselves by this service's name."""
        if identity is None and kind == zmq.DEALER:
            identity = self.name
        sock = self.socket(kind, identity=identity)
        if self.keys is not None:
            secure_client(sock, self.keys, self.key_name, peer)
        sock.connect(self.config.connect(peer, endpoint))
        return sock

    def user_of(self, sock: zmq.asyncio.Socket, identity: bytes) -> str | None:
        """The key a ROUTER peer's latest message came with (None without CURVE)."""
        return self._users.get((id(sock), identity))

    def role_of(self, name: str) -> str:
        return self._roles.get(name.partition("#")[0], "client")

    def link(
        self,
        sock: zmq.asyncio.Socket,
        peer: str,
        envelope: bytes | None = None,
        *,
        extra_us: int = 0,
    ) -> Link:
        """The delayed, FIFO, batching send side towards ``peer`` (``*`` for a PUB stream).

        ``extra_us`` adds a fixed processing delay of this service to the link's base latency.
        """
        key = (id(sock), envelope)
        link = self._links.get(key)
        if link is None:
            spec = latency_for(
                self.scenario.latency, self.name, self.role, peer, self.role_of(peer)
            )
            if extra_us:
                spec = msgspec.structs.replace(spec, base_us=spec.base_us + extra_us)
            link = Link(sock, LatencyModel(spec, self.rng(f"link:{peer}:{id(sock)}")), envelope)
            self._links[key] = link
        return link

    def reply_link(self, sock: zmq.asyncio.Socket, identity: bytes) -> Link:
        """Link back to the DEALER that sent on a ROUTER (its identity is its service name)."""
        key = (id(sock), identity)
        link = self._links.get(key)
        if link is None:
            link = self.link(sock, identity.decode(errors="replace"), identity)
        return link

    def serve(
        self,
        sock: zmq.asyncio.Socket,
        decoder: Decoder,
        handler: Handler,
        *,
        router: bool,
        name: str,
    ) -> None:
        """Receive, decode and dispatch everything arriving on ``sock``.

        Arrivals are read in batches as they come (``receive_batches``), so a burst costs one
        wake-up. Bad input gets a ``Rejected`` reply naming the problem; a handler that raises
        is logged and answered, and the service goes on.
        """
        counter = f"{name}.in"
        # Under CURVE a ROUTER reads frames (not bytes) for the key each message came with.
        authenticated = router and self.keys is not None

        def handle(batch: list[list[Any]], recv_ns: int) -> None:
            for parts in batch:
                msg_frames, user = frames_and_user(parts)
                if authenticated and self._identity_refused(sock, msg_frames[0], user):
                    continue
                self._dispatch(sock, msg_frames, user, decoder, handler, router, recv_ns, counter)

        self.receive_batches(sock, handle, name=name, copy=not authenticated)

    def receive_batches(
        self, sock: zmq.asyncio.Socket, handle: BatchHandler, *, name: str, copy: bool = True
    ) -> None:
        """Call ``handle(batch, recv_ns)`` with what arrives on ``sock``: up to ``DRAIN_BATCH``
        whole messages at a time (frame lists; ``copy=False``: ``zmq.Frame``s) and the wall
        time they were read. Called from the socket's readiness (``services.sockets``), not
        from a task: no future per receive. A handler that raises stops the service with exit
        code 1, as a failed task does. Until the service stops; nothing may await a receive
        on ``sock`` meanwhile."""
        shadow: zmq.Socket[Any] = zmq.Socket.shadow(sock.underlying)

        def read() -> None:
            start = time.monotonic_ns()
            try:
                while True:
                    batch: list[list[Any]] = []
                    try:
                        while len(batch) < DRAIN_BATCH:
                            batch.append(recv_frames(shadow, copy))
                    except zmq.Again:
                        pass
                    if batch:
                        handle(batch, time.time_ns())
                    if len(batch) < DRAIN_BATCH or time.monotonic_ns() - start >= YIELD_AFTER_NS:
                        return  # called again on the loop's next turn if more is queued
            except Exception as exc:
                stop_arrivals(sock)
                log.error("%s: receive %s failed: %r", self.name, name, exc, exc_info=exc)
                self.exit_code = 1
                self.stop(f"receive {name} failed")

        self._served.append(sock)
        on_arrival(sock, read)

    def _identity_refused(
        self, sock: zmq.asyncio.Socket, identity: bytes, user: str | None
    ) -> bool:
        """Refuse (count, log, answer) a message whose routing id is not its key's to use."""
        assert self.keys is not None
        error = identity_error(self.keys, identity, user)
        if error is None:
            if len(self._users) >= REJECT_LOG_PEERS:
                self._users.clear()  # rotating routing ids: handlers read it at once anyway
            self._users[(id(sock), identity)] = user
            return False
        self.count("rejected.identity")
        self._reject_frame(sock, identity, ProtocolError("identity", error))
        return True

    def _dispatch(
        self,
        sock: zmq.asyncio.Socket,
        frames: list[bytes],
        user: str | None,
        decoder: Decoder,
        handler: Handler,
        router: bool,
        recv_ns: int,
        counter: str,
    ) -> None:
        identity = frames[0] if router else None
        body = frames[1:] if router else frames
        try:
            if router and len(frames) < 2:
                raise ProtocolError("envelope", "missing routing identity")
            check_version(body)
        except ProtocolError as exc:
            self._reject_frame(sock, identity, exc)
            return
        for payload in body[1:]:
            try:
                msg = decoder.decode_payload(payload)
            except ProtocolError as exc:
                self._reject_frame(sock, identity, exc, *received_fields(payload))
                continue
            self.counters[counter] = self.counters.get(counter, 0) + 1
            if router and not self._within_rate(identity, recv_ns, user):
                self._refuse_rate(sock, identity, user, msg)
                continue
            try:
                handler(identity, msg, recv_ns)
            except Exception as exc:
                log.exception("%s: cannot handle %s: %r", self.name, type(msg).__name__, exc)
                self._reject_frame(
                    sock,
                    identity,
                    ProtocolError("payload", f"internal error: {exc!r}"),
                    type(msg).__name__,
                    getattr(msg, "order_id", None),
                )

    def _log_refusal(self, identity: bytes | None, why: object) -> None:
        """Log a message refused from ``identity``: per peer the first few, then every 1,000th
        (``reject_logged``), each with the peer's running tally."""
        tally = self._rejects_by_peer
        if len(tally) >= REJECT_LOG_PEERS and identity not in tally:
            tally.clear()
        n = tally[identity] = tally.get(identity, 0) + 1
        if reject_logged(n):
            log.warning(
                "%s: cannot accept message from %r (rejected: %d): %s", self.name, identity, n, why
            )

    def _reject_frame(
        self,
        sock: zmq.asyncio.Socket,
        identity: bytes | None,
        exc: ProtocolError,
        rtype: str | None = None,
        order_id: str | None = None,
    ) -> None:
        """Count, log and answer (on ROUTER/DEALER sockets) a frame or payload not accepted.

        ``exc`` is already cut to an excerpt (``ProtocolError``); ``order_id`` is the payload's,
        when one could be read, so the sender knows which order was refused."""
        self.counters["rejected.protocol"] = self.counters.get("rejected.protocol", 0) + 1
        self._log_refusal(identity, exc)
        if sock.type not in (zmq.ROUTER, zmq.DEALER):
            return  # SUB/PULL: nobody to answer
        if sock.type == zmq.ROUTER and identity is None:
            return
        reply = self.make(
            Rejected,
            reason=exc.reason,
            field=exc.field,
            received_type=rtype,
            order_id=order_id,
        )
        if sock.type == zmq.ROUTER:
            self.reply_link(sock, identity).send(encode(reply))  # type: ignore[arg-type]
        else:
            sock.send_multipart([VERSION, encode(reply)])

    # ------------------------------------------------------------------ messages
    def next_msg_id(self) -> int:
        self._msg_seq += 1
        return self._msg_seq

    def make(self, cls: type[M], **fields: Any) -> M:
        """A message with this service's header: next ``msg_id``, ``sender``, ``ts_ns`` now."""
        self._msg_seq += 1
        return cls(msg_id=self._msg_seq, sender=self.name, ts_ns=time.time_ns(), **fields)

    def rng(self, purpose: str) -> np.random.Generator:
        """A generator seeded from the scenario seed, this service's name and ``purpose``."""
        key = zlib.crc32(f"{self.name}/{purpose}".encode())
        return np.random.default_rng([self.scenario.seed & 0xFFFFFFFF, key])

    def count(self, key: str, n: int = 1) -> None:
        self.counters[key] = self.counters.get(key, 0) + n

    # ------------------------------------------------------------------ tape and control
    def _open_control_and_tape(self) -> None:
        self._control = self.socket(zmq.DEALER, identity=self.name)
        if self.keys is not None:
            secure_client(self._control, self.keys, self.key_name, ORCHESTRATOR)
        self._control.connect(self.config.control.connect)
        self.serve(
            self._control,
            Decoder([StopService, PeerDown, PeerUp]),
            self._on_control,
            router=False,
            name="control",
        )
        if self.role != "recorder":
            self._tape_socket = self.socket(zmq.PUSH)
            if self.keys is not None:
                secure_client(self._tape_socket, self.keys, self.key_name, self.scenario.recorder)
            self._tape_socket.connect(self.config.tape)
            # packed: a batch of entries is one frame (the recorder reads entries, not frames)
            self._tape_link = Link(self._tape_socket, LatencyModel.zero(), packed=True)

    def _on_control(self, _identity: bytes | None, msg: Message, _recv_ns: int) -> None:
        if isinstance(msg, StopService):
            self.stop(msg.reason)
        elif isinstance(msg, PeerDown) and msg.name != self.name:
            log.warning("%s: peer %s (%s) is down: %s", self.name, msg.name, msg.role, msg.reason)
            self.count("peers.down")
            if msg.name == self.scenario.recorder:
                # Nobody reads the tape any more: stop queueing for it (and lingering on it).
                if self._tape_link is not None:
                    self._retired_links.append(self._tape_link)
                self._tape_link = None
            self._on_peer_down(msg)
        elif isinstance(msg, PeerUp) and msg.name != self.name:
            log.warning("%s: peer %s (%s) is back (restart %d)", self.name, msg.name, msg.role,
                        msg.restarts)  # fmt: skip
            self.count("peers.up")
            self._on_peer_up(msg)

    def _on_peer_down(self, msg: PeerDown) -> None:
        """A peer died or stalled (the orchestrator says so): stop waiting on it. Services with
        orders outstanding at peers end or reroute them here."""

    def _on_peer_up(self, msg: PeerUp) -> None:
        """A peer reported down was restarted and is ready again (the restart policy): services
        that skipped it route to it again here."""

    def _send_control(self, msg: Message) -> None:
        if self._control is not None:
            self._control.send_multipart([VERSION, encode(msg)])

    def tape(self, payload: bytes | Message, recv_ns: int = 0) -> None:
        """Record an event (an encoded message, or one to encode) on the run's tape."""
        if self._tape_link is None:
            if self.state is not ServiceState.STARTING and self._tape_socket is not None:
                self.count("tape.dropped")
            return
        if not isinstance(payload, bytes):
            payload = encode(payload)
        self._tape_link.send(_tape_encoder.encode((self.name, recv_ns, payload)))

    def publish_sequence(self, link: Link, stream: str, current: Callable[[], int]) -> None:
        """Publish ``SequenceHeartbeat`` with the stream's last seq every 0.5 s on ``link``."""
        self.spawn(self._sequence_heartbeats(link, stream, current), f"sequence:{stream}")

    async def _sequence_heartbeats(
        self, link: Link, stream: str, current: Callable[[], int]
    ) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_INTERVAL_S)
            link.send(encode(self.make(SequenceHeartbeat, stream=stream, seq=current())))

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_INTERVAL_S)
            self._update_queue_counters()
            self._send_control(
                self.make(Heartbeat, name=self.name, state=self.state.value, counters=self.counters)
            )
            self._mark_ready()
