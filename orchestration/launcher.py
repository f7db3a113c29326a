"""The orchestrator: launches every role as its own OS process, supervises, and stops them cleanly.

- Start: resolve the run config (free loopback ports), write ``RUN_DIR/config.toml``, bind the
  control ROUTER, start every process, and wait for each one's ``ServiceReady`` (no sleeps).
- Supervise: heartbeats every 0.5 s; a process that exits, or misses ``HEARTBEAT_MISSES``
  heartbeats while stopped (SIGSTOP) or idle, or 10 s of them while still working on a loaded
  machine (``orchestration.liveness``), while the lab runs is a *fault*: recorded in
  ``RUN_DIR/faults.json``, announced to every other service (``PeerDown``: they stop waiting on
  it, the injector stops sending and settles what it sent), and it fails the lab (``LabError``
  naming it, with the tail of its log); an injection under way ends ``LabAborted`` with the
  injector's account once it has settled (bounded), and everything is stopped — unless the
  scenario's ``[restart]`` policy names it: then it is started again (a stalled one killed
  first), rejoins from its snapshots, and its peers are told it is back (``PeerUp``).
- Stop: ``StopService`` to every service, then the recorder last so the tape is complete; a
  process that does not exit in time gets SIGTERM, then SIGKILL. Children run in their own
  session (a terminal's Ctrl-C reaches only the orchestrator, which stops them in order) and
  carry ``PR_SET_PDEATHSIG`` so that even a killed orchestrator leaves no orphan.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import msgspec
import zmq
import zmq.asyncio

from config.runconfig import RunConfig, write_run_config
from config.scenario import Scenario
from orchestration.endpoints import HostsFile, resolve_loopback
from orchestration.faults import (
    add_late,
    add_overloads,
    injection_account,
    overload_of,
    write_counters,
    write_faults,
)
from orchestration.liveness import BUSY_STALE_S, HEARTBEAT_MISSES, ProcStat, judge, read_stat
from protocol.codec import MAX_MESSAGE_BYTES, VERSION, Decoder, encode, received_fields
from protocol.control import (
    Heartbeat,
    InjectionDone,
    PeerDown,
    PeerUp,
    Rejected,
    ServiceReady,
    ServiceStatus,
    Shutdown,
    StatusReply,
    StatusRequest,
    StopService,
)
from protocol.errors import ProtocolError
from services.injector import ABORT_SETTLE_S
from services.runtime import HEARTBEAT_INTERVAL_S
from services.security import (
    HANDSHAKE_FAILURES,
    INJECTOR,
    OPERATOR,
    ORCHESTRATOR,
    ZAP_ENDPOINT,
    KeyRing,
    ZapCounter,
    count_handshake_failures,
    create_keys,
    curve_enabled,
    frames_and_user,
    identity_error,
    secure_server,
    serve_zap,
)

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
# After a fault, how long an injection may take to settle: the injector's two settling waits
# (before and after it cancels what is still open) and a margin for its final report.
ABORT_WAIT_S = 2 * ABORT_SETTLE_S + 2.0
CONTROL_TYPES = (ServiceReady, Heartbeat, InjectionDone, StatusRequest, Shutdown)


class LabError(RuntimeError):
    """The lab cannot start or keep running; the message names the process and the cause."""


class LabAborted(LabError):
    """A process died or stalled during an injection; ``done`` is the injector's account of
    what it sent once its orders settled (``None`` if it gave none in time)."""

    def __init__(self, reason: str, done: InjectionDone | None) -> None:
        super().__init__(reason)
        self.done = done


@dataclass(frozen=True)
class Fault:
    """A process that died or stalled while the lab ran."""

    name: str
    role: str
    pid: int
    kind: str  # "exited" or "stalled"
    detail: str
    at_ns: int
    # The restart policy (``[restart]``): which restart followed (0: none, the lab failed) and
    # when the restarted process was ready again (0: not, or not yet).
    restart: int = 0
    back_ns: int = 0

    def describe(self) -> str:
        return f"{self.name} ({self.role}, pid {self.pid}) {self.detail}"


def _set_pdeathsig() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def new_run_dir(root: Path, scenario_name: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = root / f"{stamp}-{scenario_name}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    path.mkdir(parents=True)
    return path


class RemoteProcess:
    """Stands in for the OS process of a service someone else started (``LabSupervisor.attach``).

    Its pid is the one the service announces; it counts as exited (code 0) once the service
    reports ``stopped``. It cannot be signalled (``ProcessLookupError``, as for a gone process).
    """

    def __init__(self) -> None:
        self.pid = 0
        self.returncode: int | None = None
        self._exited = asyncio.Event()

    def exited(self, code: int = 0) -> None:
        if self.returncode is None:
            self.returncode = code
            self._exited.set()

    async def wait(self) -> int:
        await self._exited.wait()
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        raise ProcessLookupError(f"pid {self.pid} is not ours to signal")


def cpu_ms(proc: Proc) -> int | None:
    """A process's CPU time (user + system) in ms now: the kernel's for a local process, its
    last heartbeat's ``cpu.ms`` for a remote one (``None``: neither known)."""
    if isinstance(proc.process, RemoteProcess):
        return proc.counters.get("cpu.ms")
    stat = read_stat(proc.pid)
    return None if stat is None else stat.cpu_ticks * 1_000 // os.sysconf("SC_CLK_TCK")


@dataclass
class Proc:
    name: str
    role: str
    process: asyncio.subprocess.Process | RemoteProcess
    log_path: Path
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    state: str = "starting"
    last_seen_ns: int = 0
    counters: dict[str, int] = field(default_factory=dict)
    exit_code: int | None = None
    stat: ProcStat | None = None  # the kernel's view at the last look while it was silent
    late: bool = False  # warned that it is late but working (orchestration.liveness)
    # stalled, then killed by the restart policy: the stall, already recorded, to restart from
    restart_fault: Fault | None = None

    @property
    def pid(self) -> int:
        return self.process.pid


class LabSupervisor:
    """The process supervisor of a running lab: starts, watches and stops every service.

    Use ``async with LabSupervisor(scenario) as lab:`` or ``start()``/``stop()``. (The notebook
    facade over it is ``orchestration.api.Lab``.)
    """

    # True: supervise services started elsewhere (``LabSupervisor.attach``), spawn none
    attached = False

    def __init__(
        self,
        scenario: Scenario,
        *,
        runs_root: Path = Path("runs"),
        run_dir: Path | None = None,
        on_heartbeat: Callable[[Proc], None] | None = None,
        hosts: HostsFile | None = None,
    ) -> None:
        self.scenario = scenario
        self.run_dir = run_dir or new_run_dir(runs_root, scenario.name)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir.chmod(0o700)  # config, keys and tape: the operator's only
        (self.run_dir / "logs").mkdir(exist_ok=True)
        self.hosts = hosts
        self.config: RunConfig = resolve_loopback(
            scenario,
            self.run_dir,
            host=hosts.orchestrator if hosts else "127.0.0.1",
            placement=hosts.placement() if hosts else None,
        )
        # the session day starts now, for every service (services/session.py)
        self.config = msgspec.structs.replace(self.config, session_origin_ns=time.time_ns())
        self.config_path = self.run_dir / "config.toml"
        if curve_enabled(self.config):  # before anything (the dashboard too) connects
            create_keys(self.config)
        self.procs: dict[str, Proc] = {}
        self.externals: dict[str, ServiceStatus] = {}
        self._externals_gone = asyncio.Event()  # set whenever no external injector is left
        self.injections: dict[str, asyncio.Future[InjectionDone]] = {}
        self.started_ns = time.time_ns()
        self.failure: asyncio.Future[str] | None = None
        self.faults: list[Fault] = []
        self.overloads: list[dict[str, object]] = []  # set when the lab stops
        self.cpu_ms_at_inject: dict[str, int | None] = {}  # at the last injection's start
        self.late: list[dict[str, object]] = []  # silent but working (orchestration.liveness)
        self.restarts: dict[str, int] = {}  # the restart policy's restarts so far, by name
        self.shutdown_requested = asyncio.Event()
        self.stopping = False
        self.stopped = False
        self._on_heartbeat = on_heartbeat
        self._ctx: zmq.asyncio.Context | None = None
        self._control: zmq.asyncio.Socket | None = None
        self._tasks: list[asyncio.Task[None]] = []
        # The control socket's own counts: refused handshakes and control messages.
        self.counters: dict[str, int] = {}
        self.keys: KeyRing | None = None
        self._aux_sockets: list[zmq.asyncio.Socket] = []

    @classmethod
    def attach(
        cls, config: RunConfig, *, on_heartbeat: Callable[[Proc], None] | None = None
    ) -> LabSupervisor:
        """A lab over services someone else starts (docker compose) from ``config``.

        ``start()`` binds the control endpoint of ``config`` and tracks every service in it by
        name (readiness, heartbeats) without spawning any; ``stop()`` sends each ``StopService``,
        the recorder last. The run dir is ``config.run_dir``.
        """
        lab = cls(config.scenario, run_dir=Path(config.run_dir), on_heartbeat=on_heartbeat)
        lab.config = config
        lab.attached = True
        return lab

    # ------------------------------------------------------------------ start
    async def __aenter__(self) -> LabSupervisor:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        write_run_config(self.config, self.config_path)
        self.failure = asyncio.get_running_loop().create_future()
        self._ctx = zmq.asyncio.Context()
        self._control = self._ctx.socket(zmq.ROUTER)
        self._control.setsockopt(zmq.LINGER, 0)
        self._control.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        if curve_enabled(self.config):
            self._start_curve(self._control)
        self._control.bind(self.config.control.bind)
        self._tasks.append(asyncio.create_task(self._serve_control(), name="control"))
        self._tasks.append(asyncio.create_task(self._watch_heartbeats(), name="heartbeats"))
        try:
            for spec in self.config.services:
                if self.attached:
                    self.track(spec.name, spec.role)
                else:
                    await self.spawn(spec.name, spec.role)
            await self.wait_ready(list(self.procs))
        except BaseException:
            await self.stop()
            raise

    def _start_curve(self, control: zmq.asyncio.Socket) -> None:
        """The run's keys (written by ``__init__``; attached: by ``flowlab keys``), the ZAP
        handler and the control socket as a CURVE server admitting only the lab's own keys."""
        assert self._ctx is not None
        self.keys = KeyRing.of(self.config)
        counter = ZapCounter(self.counters, ORCHESTRATOR)
        zap = self._ctx.socket(zmq.REP)
        zap.setsockopt(zmq.LINGER, 0)
        zap.bind(ZAP_ENDPOINT)
        monitor = control.get_monitor_socket(HANDSHAKE_FAILURES)
        self._aux_sockets = [zap, monitor]
        secure_server(control, self.keys, ORCHESTRATOR, "control")
        self._tasks.append(asyncio.create_task(serve_zap(zap, self.keys, counter), name="zap"))
        self._tasks.append(
            asyncio.create_task(count_handshake_failures(monitor, counter), name="monitor")
        )

    def _control_refusal(self, identity: bytes, user: str | None, msg: object) -> str | None:
        """Why a control message may not come from key ``user`` (None: it may)."""
        assert self.keys is not None
        error = identity_error(self.keys, identity, user)
        if error is not None:
            return error
        match msg:
            case ServiceReady() | Heartbeat() if self.keys.owner_of(msg.name.encode()) != user:
                return f"name: {msg.name!r} is not the service of key {user!r}"
            case InjectionDone() if user != INJECTOR:
                return f"only an injector's key may report an injection (key {user!r})"
            case Shutdown() if user not in (OPERATOR, ORCHESTRATOR):
                return f"only the operator's key may shut the lab down (key {user!r})"
        return None

    async def spawn(self, name: str, role: str, *extra: str) -> Proc:
        """Start one service process (``python -m services.main ROLE ...``: ``flowlab service``'s
        arguments) with its log in the run dir."""
        log_path = self.run_dir / "logs" / f"{name}.log"
        prefix = self.hosts.launch_prefix().get(name, []) if self.hosts else []
        cmd = [
            *prefix,
            sys.executable,
            "-m",
            "services.main",  # `flowlab service`'s arguments, without the other verbs' start-up
            role,
            "--config",
            str(self.config_path),
            "--name",
            name,
            *extra,
        ]
        with log_path.open("ab") as log_file:
            process = await asyncio.create_subprocess_exec(
                *cmd,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                start_new_session=True,
                preexec_fn=_set_pdeathsig,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        proc = Proc(name, role, process, log_path)
        self.procs[name] = proc
        self._tasks.append(asyncio.create_task(self._supervise(proc), name=f"supervise:{name}"))
        return proc

    def track(self, name: str, role: str) -> Proc:
        """Supervise a service started elsewhere (attach mode); it is known by its name."""
        proc = Proc(name, role, RemoteProcess(), self.run_dir / "logs" / f"{name}.log")
        self.procs[name] = proc
        self._tasks.append(asyncio.create_task(self._supervise(proc), name=f"supervise:{name}"))
        return proc

    async def wait_ready(self, names: list[str], timeout: float = READY_TIMEOUT_S) -> None:
        waiters = [self.procs[n].ready.wait() for n in names]
        try:
            await self.guard(asyncio.wait_for(asyncio.gather(*waiters), timeout))
        except TimeoutError:
            missing = [n for n in names if not self.procs[n].ready.is_set()]
            raise LabError(
                f"cannot start the lab: not ready after {timeout:.0f}s: {', '.join(missing)}\n"
                + "\n".join(self.log_tail(n) for n in missing)
            ) from None

    async def guard(self, awaitable):  # type: ignore[no-untyped-def]
        """Await ``awaitable`` unless a process fails first (then raise ``LabError``)."""
        assert self.failure is not None
        task = asyncio.ensure_future(awaitable)
        done, _ = await asyncio.wait({task, self.failure}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            return task.result()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise LabError(self.failure.result())

    def log_tail(self, name: str, lines: int = 15) -> str:
        path = self.run_dir / "logs" / f"{name}.log"
        try:
            tail = path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            tail = []
        return f"--- {path} (last {len(tail)} lines)\n" + "\n".join(tail)

    # ------------------------------------------------------------------ supervision
    def _fail(self, reason: str) -> None:
        log.error("lab failure: %s", reason)
        if self.failure is not None and not self.failure.done():
            self.failure.set_result(reason)

    async def _supervise(self, proc: Proc) -> None:
        code = await proc.process.wait()
        proc.exit_code = code
        proc.state = "exited"
        if proc.restart_fault is not None and not self.stopping:  # stalled, killed to restart
            await self._restart(proc, proc.restart_fault)
            return
        expected = self.stopping or (proc.role == "injector" and code == 0)
        if not expected:
            restart = self._may_restart(proc)
            fault = self._fault(proc, "exited", f"exited with code {code}", restarting=restart)
            if restart:
                await self._restart(proc, fault)
            else:
                self._fail(fault.describe() + "\n" + self.log_tail(proc.name))

    def _may_restart(self, proc: Proc) -> bool:
        """The scenario's restart policy names ``proc``, it was running, and it has restarts
        left (docs/RELIABILITY.md, "Restart policy")."""
        policy = self.scenario.restart
        return (
            not self.attached
            and not self.stopping
            and proc.ready.is_set()
            and proc.name in policy.services
            and self.restarts.get(proc.name, 0) < policy.max_restarts
        )

    async def _restart(self, old: Proc, fault: Fault) -> None:
        """Start ``old``'s service again (``--restart N``: it rejoins from its snapshots), wait
        for it to be ready, record when it was back and tell every other service (``PeerUp``).
        A restart that is not ready within ``[restart] ready_timeout_s`` fails the lab."""
        n = self.restarts[old.name] = self.restarts.get(old.name, 0) + 1
        log.warning("restarting %s (restart %d): %s", old.name, n, fault.detail)
        timeout = self.scenario.restart.ready_timeout_s
        try:
            proc = await self.spawn(old.name, old.role, "--restart", str(n))
            await asyncio.wait_for(proc.ready.wait(), timeout)
        except (TimeoutError, OSError) as exc:
            why = "not ready" if isinstance(exc, TimeoutError) else f"cannot start: {exc}"
            self._fail(
                f"{fault.describe()}; restart {n} {why} after {timeout:g}s\n"
                + self.log_tail(old.name)
            )
            return
        back = replace(fault, restart=n, back_ns=time.time_ns())
        self.faults = [back if f is fault else f for f in self.faults]
        write_faults(self.run_dir, [vars(f) for f in self.faults])
        log.warning(
            "%s restarted (restart %d, pid %d): back after %.2fs",
            old.name, n, proc.pid, (back.back_ns - fault.at_ns) / 1e9,
        )  # fmt: skip
        up = PeerUp(
            sender="orchestrator",
            ts_ns=time.time_ns(),
            name=old.name,
            role=old.role,
            restarts=n,
            since_ns=back.back_ns,
        )
        self._announce(encode(up), proc)

    async def _watch_heartbeats(self) -> None:
        period = HEARTBEAT_INTERVAL_S / 2
        while True:
            before = time.monotonic()
            await asyncio.sleep(period)
            if time.monotonic() - before > period + HEARTBEAT_INTERVAL_S:
                # This loop itself was held up: heartbeats may sit unread in the control
                # socket, so nobody is judged on this round.
                continue
            now = time.time_ns()
            for proc in self.procs.values():
                live = proc.ready.is_set() and proc.exit_code is None and not self.stopping
                if live and proc.state != "stalled":
                    self._judge_silence(proc, (now - proc.last_seen_ns) / 1e9)

    def _judge_silence(self, proc: Proc, silent_s: float) -> None:
        """Stalled, late or fine (``orchestration.liveness.judge``); a stall is a fault."""
        if silent_s <= HEARTBEAT_INTERVAL_S:
            proc.stat, proc.late = None, False
            return
        local = not isinstance(proc.process, RemoteProcess)
        before, proc.stat = proc.stat, read_stat(proc.pid) if local else None
        verdict = judge(silent_s, proc.stat, before)
        if verdict == "late" and not proc.late:
            proc.late = True
            state = proc.stat.state if proc.stat else None
            load = round(os.getloadavg()[0], 2)
            late = {"name": proc.name, "role": proc.role, "pid": proc.pid, "state": state}
            self.late.append(late | {"load": load, "at_ns": time.time_ns()})
            log.warning(
                "%s (pid %s) sent no heartbeat for %.1fs but is still working (%s): late on a "
                "loaded machine (load %.1f), stalled if silent for %gs",
                *(proc.name, proc.pid, silent_s, state, load, BUSY_STALE_S),
            )
        if verdict == "stalled":
            proc.state = "stalled"
            misses = round(silent_s / HEARTBEAT_INTERVAL_S) if proc.late else HEARTBEAT_MISSES
            how = " while working" if proc.late else ""
            restart = self._may_restart(proc)
            fault = self._fault(
                proc,
                "stalled",
                f"sent no heartbeat for {silent_s:.1f}s{how} "
                f"({misses} intervals of {HEARTBEAT_INTERVAL_S:g}s)",
                restarting=restart,
            )
            if restart:  # killed (SIGKILL ends a stopped process too), then started again
                proc.restart_fault = fault
                self._signal(proc, signal.SIGKILL)
            else:
                self._fail(fault.describe())

    def _fault(self, proc: Proc, kind: str, detail: str, *, restarting: bool = False) -> Fault:
        """Record a fault in ``RUN_DIR/faults.json`` and tell every other service (``PeerDown``;
        ``restarting``: the restart policy starts it again) so that none keeps waiting on
        ``proc``."""
        fault = Fault(proc.name, proc.role, proc.pid, kind, detail, time.time_ns())
        self.faults.append(fault)
        log.error("lab fault: %s", fault.describe())
        write_faults(self.run_dir, [vars(f) for f in self.faults])
        down = PeerDown(
            sender="orchestrator",
            ts_ns=time.time_ns(),
            name=proc.name,
            role=proc.role,
            reason=detail,
            since_ns=fault.at_ns,
            restarting=restarting,
        )
        self._announce(encode(down), proc)
        return fault

    def _announce(self, payload: bytes, about: Proc) -> None:
        """Send a control message to every live service but ``about`` and to the injectors of
        ``flowlab inject`` (externals)."""
        if self._control is None:
            return
        others = [p.name for p in self.procs.values() if p is not about and p.exit_code is None]
        for name in [*others, *self.externals]:
            self._control.send_multipart([name.encode(), VERSION, payload])

    async def _serve_control(self) -> None:
        assert self._control is not None
        decoder = Decoder(CONTROL_TYPES)
        while True:
            parts = await self._control.recv_multipart(copy=False)
            frames, user = frames_and_user(parts)
            identity, body = frames[0], frames[1:]
            try:
                messages = decoder.decode(body)
            except ProtocolError as exc:
                rtype, order_id = received_fields(body[1]) if len(body) > 1 else (None, None)
                reply = Rejected(
                    sender="orchestrator",
                    ts_ns=time.time_ns(),
                    reason=exc.reason,
                    field=exc.field,
                    received_type=rtype,
                    order_id=order_id,
                )
                await self._control.send_multipart([identity, VERSION, encode(reply)])
                continue
            for msg in messages:
                refusal = None if self.keys is None else self._control_refusal(identity, user, msg)
                if refusal is not None:
                    self.counters["control.refused"] = self.counters.get("control.refused", 0) + 1
                    log.warning("cannot accept %s: %s", type(msg).__name__, refusal)
                    continue
                await self._on_control(identity, msg)

    async def _on_control(self, identity: bytes, msg: object) -> None:
        assert self._control is not None
        now = time.time_ns()
        match msg:
            case ServiceReady():
                proc = self.procs.get(msg.name)
                if proc is not None:
                    proc.state, proc.last_seen_ns = "running", now
                    if isinstance(proc.process, RemoteProcess):
                        proc.process.pid = msg.pid
                    proc.ready.set()
                else:
                    self.externals[msg.name] = ServiceStatus(
                        name=msg.name,
                        role=msg.role,
                        pid=msg.pid,
                        state="running",
                        heartbeat_age_us=0,
                    )
            case Heartbeat():
                proc = self.procs.get(msg.name)
                if proc is not None:
                    proc.state, proc.last_seen_ns, proc.counters = (
                        msg.state,
                        now,
                        dict(msg.counters),
                    )
                    if msg.state == "stopped" and isinstance(proc.process, RemoteProcess):
                        proc.process.exited(0)
                    if self._on_heartbeat is not None:
                        self._on_heartbeat(proc)
            case InjectionDone():
                future = self.injections.get(msg.name)
                if future is not None and not future.done():
                    future.set_result(msg)
                self.externals.pop(msg.name, None)
                if not self.externals:
                    self._externals_gone.set()
            case StatusRequest():
                reply = StatusReply(
                    sender="orchestrator",
                    ts_ns=now,
                    run_dir=str(self.run_dir),
                    started_ns=self.started_ns,
                    services=self.status(),
                )
                await self._control.send_multipart([identity, VERSION, encode(reply)])
            case Shutdown():
                self.shutdown_requested.set()

    async def settle_externals(self, timeout_s: float = ABORT_WAIT_S) -> None:
        """After a fault: give injectors started by ``flowlab inject`` (told by ``PeerDown``)
        up to ``timeout_s`` to settle their orders and report, before the lab is stopped."""
        if self.externals:
            self._externals_gone.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._externals_gone.wait(), timeout_s)

    def status(self) -> list[ServiceStatus]:
        now = time.time_ns()
        return [
            ServiceStatus(
                name=p.name,
                role=p.role,
                pid=p.pid,
                state=p.state,
                heartbeat_age_us=(now - p.last_seen_ns) // 1000 if p.last_seen_ns else -1,
                counters=p.counters,
            )
            for p in self.procs.values()
        ] + list(self.externals.values())

    @property
    def processes(self) -> list[dict[str, object]]:
        return [{"name": p.name, "role": p.role, "pid": p.pid} for p in self.procs.values()]

    # ------------------------------------------------------------------ injection
    async def inject(
        self,
        stream_path: Path,
        *,
        target: str = "broker",
        name: str = "injector",
        timeout_s: float = 30.0,
        close_after_s: float | None = None,
    ) -> InjectionDone:
        """Run an injector process over ``stream_path`` and return its final account.

        ``close_after_s``: seconds after the last order before every open order is canceled
        (the close); ``None`` takes the scenario's ``[stream] close_after_s``.
        """
        future: asyncio.Future[InjectionDone] = asyncio.get_running_loop().create_future()
        self.injections[name] = future
        # each process's CPU time as its last heartbeat gave it, so counters.json can tell the
        # injection's share from the start-up's (flowlab bench --load)
        self.cpu_ms_at_inject = {n: cpu_ms(p) for n, p in self.procs.items()}
        close = [] if close_after_s is None else ["--close-after", str(close_after_s)]
        await self.spawn(
            name,
            "injector",
            "--stream",
            str(stream_path),
            "--target",
            target,
            "--timeout",
            str(timeout_s),
            *close,
        )
        try:
            return await self.guard(asyncio.shield(future))  # guard cancels what it awaits
        except LabError as exc:
            # A fault: the injector was told (PeerDown); it stops sending and settles its orders
            done = None
            with contextlib.suppress(TimeoutError):
                done = await asyncio.wait_for(future, ABORT_WAIT_S)
            account = None if done is None else injection_account(done)
            write_faults(self.run_dir, [vars(f) for f in self.faults], account)
            raise LabAborted(str(exc), done) from None

    # ------------------------------------------------------------------ stop
    async def stop(self) -> dict[str, int | None]:
        """Stop every process, the recorder last; returns exit codes by name. Idempotent."""
        if self.stopped:
            return {n: p.exit_code for n, p in self.procs.items()}
        self.stopping = True
        recorder = self.scenario.recorder
        others = [p for p in self.procs.values() if p.name != recorder]
        await self._stop_procs(others)
        if recorder in self.procs:
            await self._stop_procs([self.procs[recorder]])
        self._record_overloads()
        write_counters(
            self.run_dir,
            [(p.name, p.role, p.counters) for p in self.procs.values()],
            self.cpu_ms_at_inject,
        )
        if self.late:  # a contended run: said in faults.json, not a fault
            add_late(self.run_dir, self.late)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._control is not None:
            self._control.close(linger=0)
        for sock in self._aux_sockets:
            sock.close(linger=0)
        if self._ctx is not None:
            self._ctx.term()
        self.stopped = True
        return {n: p.exit_code for n, p in self.procs.items()}

    def _record_overloads(self) -> None:
        """Add the services that were overloaded (from their last heartbeat's counters) to
        ``RUN_DIR/faults.json``: the run is then ``overloaded`` (docs/RELIABILITY.md)."""
        limits = self.scenario.limits
        found = [
            overload_of(p.name, p.role, p.counters, limits.queued, limits.lag_ms)
            for p in self.procs.values()
        ]
        self.overloads = [o for o in found if o is not None]
        if self.overloads:
            log.warning(
                "lab overloaded: %s",
                "; ".join(f"{o['name']} {o['detail']}" for o in self.overloads),
            )
            add_overloads(self.run_dir, self.overloads)

    async def _stop_procs(self, procs: list[Proc]) -> None:
        live = [p for p in procs if p.process.returncode is None]
        for p in live:
            if self._control is not None:
                stop = StopService(
                    sender="orchestrator", ts_ns=time.time_ns(), reason="lab stopping"
                )
                await self._control.send_multipart([p.name.encode(), VERSION, encode(stop)])
            if not p.ready.is_set():
                self._signal(p, signal.SIGTERM)
        for sig, timeout in ((None, STOP_TIMEOUT_S), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            live = [p for p in live if p.process.returncode is None]
            if not live:
                return
            if sig is not None:
                log.warning("sending %s to %s", sig.name, ", ".join(p.name for p in live))
                for p in live:
                    self._signal(p, sig)
            await asyncio.wait(
                [asyncio.ensure_future(p.process.wait()) for p in live], timeout=timeout
            )

    @staticmethod
    def _signal(proc: Proc, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            proc.process.send_signal(sig)
