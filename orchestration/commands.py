"""The CLI verbs (everything but ``service`` and ``ready``): compare, sweep, calibrate, up,
status, inject, down, report, bench, compose, sor.

``orchestration.cli`` imports this module only for these verbs, never for ``flowlab service``
(every lab process). pandas and what needs it are imported inside the verbs that build tables,
so ``status``, ``down``, ``up`` and ``compose`` start in a fraction of a second.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import IO, Any, TypeVar

import msgspec
import uvloop
import zmq
from rich.live import Live
from rich.text import Text

from config.runconfig import RunConfig, load_run_config
from config.scenario import REGIMES, Scenario, ScenarioError, SecurityMode, load_scenario
from orchestration.arrival_options import ArrivalError
from orchestration.endpoints import HostsFile, load_hosts
from orchestration.faults import faults_exit_code, load_faults, run_state, state_lines
from orchestration.labfile import (
    LAB_FILE,
    LabEntry,
    LabRunning,
    LabState,
    check_root,
    claim_root,
    find_labs,
    process_state,
    publish,
    read_lab,
    record_holder,
    root_holder,
    unpublish,
)
from orchestration.launcher import LabError, LabSupervisor, new_run_dir
from orchestration.live import make_monitor, print_markdown_table, watch
from orchestration.streams import (
    StreamError,
    StreamOptions,
    generate_stream,
    options_from_args,
    read_stream_file,
    validate_rows,
    write_stream,
)
from protocol.codec import VERSION, Decoder, encode
from protocol.control import Shutdown, StatusReply, StatusRequest
from services.security import OPERATOR, ORCHESTRATOR, authenticate

# The verbs that build tables import pandas (and matplotlib, Dask...) inside themselves, so the
# light verbs (up, status, inject, down, compose) start without them.

UP_READY_TIMEOUT_S = 90.0
DOWN_TIMEOUT_S = 60.0
STATUS_TIMEOUT_S = 5.0
T = TypeVar("T")


class LabNotRunning(Exception):
    """No lab runs where the command looked (no ``lab.json`` in the run dir, or a stale one)."""


class ControlTimeout(TimeoutError):
    """The orchestrator of a running lab did not answer a control request in time."""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM cancelled a command's coroutine (whose ``finally`` stopped the lab)."""


# Errors a verb reports as one line, ``flowlab VERB: message``, exit code 1.
USER_ERRORS = (ScenarioError, StreamError, LabError, LabNotRunning, LabRunning, ControlTimeout)


def cmd_realism(args: argparse.Namespace) -> int:
    from orchestration.realism_cli import cmd_realism as realism  # pandas: only for this verb

    return realism(args)


def dispatch(args: argparse.Namespace) -> int:
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "compare": cmd_compare,
        "sweep": cmd_sweep,
        "calibrate": cmd_calibrate,
        "up": cmd_up,
        "status": cmd_status,
        "inject": cmd_inject,
        "stream": cmd_stream,
        "down": cmd_down,
        "report": cmd_report,
        "realism": cmd_realism,
        "bench": cmd_bench,
        "compose": cmd_compose,
        "sor": cmd_sor,
        "miniproject": cmd_miniproject,
    }
    try:
        return handlers[args.verb](args)
    except USER_ERRORS as exc:
        print(f"flowlab {args.verb}: {exc}", file=sys.stderr)
        return 1
    except Interrupted:
        print("flowlab: interrupted; the lab was stopped", file=sys.stderr)
        return 130


def _scenario(path: Path | None, regimes: str | None = None, seed: int | None = None) -> Scenario:
    scenario = load_scenario(path)
    changes: dict[str, object] = {}
    if regimes:
        names = [r.strip() for r in regimes.split(",") if r.strip()]
        unknown = [r for r in names if r not in REGIMES]
        if unknown:
            raise ScenarioError(
                f"--regimes: unknown {', '.join(unknown)} (known: {', '.join(REGIMES)})"
            )
        changes["broker"] = msgspec.structs.replace(scenario.broker, regimes=names)
    if seed is not None:
        changes["seed"] = seed
    return msgspec.structs.replace(scenario, **changes) if changes else scenario


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on uvloop; Ctrl-C / SIGTERM cancel it (its ``finally`` stops the lab) and
    raise ``Interrupted``."""

    async def main() -> T:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            return await coro
        except asyncio.CancelledError:
            raise Interrupted from None

    return uvloop.run(main())


# ---------------------------------------------------------------------- compare / report
def cmd_compare(args: argparse.Namespace) -> int:
    """The experiment (designs, repeats, live view, report) lives in orchestration.experiment."""
    from orchestration.experiment import exit_code, run_comparison

    scenario = _scenario(args.scenario, args.regimes, args.seed)
    if args.close_after is not None:
        stream = msgspec.structs.replace(scenario.stream, close_after_s=args.close_after)
        scenario = msgspec.structs.replace(scenario, stream=stream)
    results = _run(
        run_comparison(
            scenario,
            runs=args.runs,
            out=args.out,
            design=args.design,
            repeat=args.repeat,
            live=sys.stdout.isatty() and not args.no_live,
            options=options_from_args(args),
            stream_file=args.file,
            stream_rows=_real_arrivals(args, scenario, "A"),
            settle_s=args.settle,
        )
    )
    return exit_code(results, "compare", allow_overload=args.allow_overload)


def cmd_sweep(args: argparse.Namespace) -> int:
    """A grid x replications on Dask, one dataset (orchestration.sweep)."""
    from orchestration.sweep import SweepSpec, run_sweep
    from orchestration.sweep_grid import MIX_KEY, grid, parse_setting, with_warm_start_from

    scenario = _scenario(args.scenario, args.regimes, args.seed)
    settings = list(args.settings)
    if args.interference:
        if settings or args.design != "random":
            raise ScenarioError("--interference is its own grid: no --set, the random design")
        settings = [f"{MIX_KEY}=0.1,0.5,0.9"]
    if not settings:
        raise ScenarioError("sweep: give --set KEY=V1,V2,... (or --interference)")
    points = grid([parse_setting(text, scenario) for text in settings])
    if args.scenario is not None:  # a swept warm start, like the scenario's own: next to it
        points = [with_warm_start_from(p, Path(args.scenario).resolve().parent) for p in points]
    spec = SweepSpec(
        scenario=scenario,
        points=points,
        replications=args.replications,
        regimes=tuple(scenario.broker.regimes),
        design=args.design,
        options=options_from_args(args),
        settle_s=args.settle,
        out=args.out or new_run_dir(Path("runs"), f"sweep-{scenario.name}"),
        keep_runs=args.keep_runs,
        address=args.address,
        workers=args.workers,
        labs_per_worker=args.labs_per_worker,
        live=sys.stdout.isatty() and not args.no_live,
    )
    try:
        record = run_sweep(spec)
    except KeyboardInterrupt:  # the cluster closed on the way out: its workers' labs stopped
        raise Interrupted from None
    return 1 if record["failures"] else 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    """A lab run for the dealers to learn in, its states saved as a warm start (calibrate.py)."""
    from orchestration.calibrate import default_out, finish, run_calibration

    scenario = _scenario(args.scenario, args.regimes, args.seed)
    out = args.out or default_out(args.scenario)
    options = StreamOptions(orders=args.orders, duration_s=args.duration, rate_per_s=args.rate)
    results = _run(run_calibration(scenario, runs=args.runs, options=options))
    return finish(results, out)


def make_report(
    run_dir: Path, config: RunConfig, out: Path, processes: list[dict], extra: dict | None = None
) -> dict:
    from orchestration.report import write_report
    from orchestration.rule606 import arrangements_from_scenario
    from orchestration.tape import build_tables

    tables = build_tables(run_dir, config)
    out.mkdir(parents=True, exist_ok=True)
    extra = {
        "run_state": run_state([(None, run_dir)], tables["orders"], tables),
        **(extra or {}),
    }
    return write_report(
        out,
        scenario=config.scenario.name,
        seed=config.scenario.seed,
        run_dir=str(run_dir),
        processes=processes,
        tables=tables,
        extra=extra,
        regime_order=list(config.scenario.broker.regimes),
        burn_in_s=config.scenario.stream.burn_in_s,
        arrangements=arrangements_from_scenario(config.scenario),
        security=config.scenario.security.mode,
    )


def cmd_report(args: argparse.Namespace) -> int:
    from orchestration.bestex import format_bestex, write_bestex
    from orchestration.experiment import results_from_summary, write_experiment_report
    from orchestration.report import format_regime_table

    if (args.run_dir / "experiment.json").exists():
        # an experiment directory (compare --repeat / --design sequential): pool its runs
        scenario, results, design, repeat = results_from_summary(args.run_dir)
        write_experiment_report(
            scenario, results, design, repeat, args.run_dir, args.out or args.run_dir
        )
        return 0
    config = load_run_config(args.run_dir / "config.toml")
    out = args.out or args.run_dir
    summary = make_report(args.run_dir, config, out, processes=[])
    print(format_regime_table(summary))
    for line in state_lines(summary["run_state"]):
        print(line.replace("**", ""), file=sys.stderr)
    print(f"report: {out / 'report.md'}")
    parents = write_bestex(args.run_dir, config, out)
    if len(parents):  # parents sent straight to the SOR: their best-execution report
        print(format_bestex(parents))
        print(f"best execution: {out / 'bestex.html'}  {out / 'bestex.md'}")
    return 0


# ---------------------------------------------------------------------- up / status / down
def _lab_at(runs: Path, run_dir: Path | None) -> LabEntry:
    """The published lab of ``run_dir`` (default ``RUNS/current``), alive or dead."""
    path = run_dir or (runs / "current")
    entry = read_lab(path)
    if entry is None:
        raise LabNotRunning(f"no running lab at {path} (start one with `flowlab up`)")
    return entry


def _dead_message(entry: LabEntry) -> str:
    return (
        f"the lab at {entry.run_dir} is dead: its orchestrator (pid {entry.pid}) is gone and "
        f"left a stale {LAB_FILE} (`flowlab down` removes it; see "
        f"{entry.run_dir / 'orchestrator.log'})"
    )


def _current(runs: Path, run_dir: Path | None) -> Path:
    """The run dir of a live published lab; ``LabNotRunning`` if there is none or it died."""
    entry = _lab_at(runs, run_dir)
    if entry.state is LabState.DEAD:
        raise LabNotRunning(_dead_message(entry))
    return entry.run_dir


def cmd_up(args: argparse.Namespace) -> int:
    if args.attach or args.config is not None:
        if not (args.attach and args.config is not None):
            raise ScenarioError("--attach and --config FILE go together")
        return _run(attach_lab(load_run_config(args.config), args.runs))
    scenario = _scenario(args.scenario)
    hosts = load_hosts(args.hosts) if args.hosts else None
    if args.foreground:
        live = sys.stdout.isatty() and not args.no_live
        return _run(serve_lab(scenario, args.runs, args.run_dir, live=live, hosts=hosts))
    check_root(args.runs)  # before a run dir is made; the orchestrator claims the root itself
    run_dir = args.run_dir or new_run_dir(args.runs, scenario.name)
    run_dir.mkdir(parents=True, exist_ok=True)
    return _up_in_background(args, run_dir)


def _up_in_background(args: argparse.Namespace, run_dir: Path) -> int:
    """Start ``flowlab up --foreground`` detached and wait until its lab is up."""
    cmd = [sys.executable, "-m", "orchestration.cli", "up", "--foreground"]
    cmd += ["--run-dir", str(run_dir), "--runs", str(args.runs)]
    if args.scenario:
        cmd += ["--scenario", str(args.scenario)]
    if args.hosts:
        cmd += ["--hosts", str(args.hosts)]
    with (run_dir / "orchestrator.log").open("ab") as log_file:
        proc = subprocess.Popen(
            cmd, stdout=log_file, stderr=log_file, stdin=subprocess.DEVNULL, start_new_session=True
        )
    deadline = time.monotonic() + UP_READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if (run_dir / LAB_FILE).exists():
            current = args.runs / "current"
            if current.is_symlink() or current.exists():
                current.unlink()
            current.symlink_to(run_dir.resolve())
            print(
                f"lab up: {run_dir} (orchestrator pid {proc.pid}); "
                "`flowlab status`, `flowlab inject`, `flowlab down`"
            )
            return 0
        if proc.poll() is not None:
            print(
                f"flowlab up: the orchestrator exited with code {proc.returncode}; "
                f"see {run_dir / 'orchestrator.log'}",
                file=sys.stderr,
            )
            return 1
        time.sleep(0.1)  # polling a child's handshake file from a synchronous CLI
    proc.terminate()
    print(f"flowlab up: the lab did not become ready in {UP_READY_TIMEOUT_S:.0f}s", file=sys.stderr)
    return 1


@contextlib.asynccontextmanager
async def _published(lab: LabSupervisor, claim: IO[str]) -> AsyncIterator[LabSupervisor]:
    """Start ``lab`` and write its locked ``lab.json`` (how the other verbs find it); on the
    way out, stop it, remove the file and release the runs root (``claim``)."""
    published: IO[str] | None = None
    try:
        record_holder(claim, lab.run_dir)
        await lab.start()
        info = {
            "pid": os.getpid(),
            "control": lab.config.control.connect,
            "processes": lab.processes,
        }
        published = publish(lab.run_dir, info)
        yield lab
    finally:
        await lab.stop()
        unpublish(lab.run_dir, published)
        claim.close()


async def serve_lab(
    scenario: Scenario,
    runs: Path,
    run_dir: Path | None,
    live: bool = False,
    hosts: HostsFile | None = None,
) -> int:
    claim = claim_root(runs)  # before the supervisor makes a run dir
    try:
        title = f"flowlab up: scenario {scenario.name!r}"
        if live:  # printed once; the dashboard's head names the verb only
            print(title, flush=True)
        monitor = make_monitor(live, 0, title)
        lab = LabSupervisor(
            scenario, runs_root=runs, run_dir=run_dir, on_heartbeat=monitor.heartbeat, hosts=hosts
        )
    except BaseException:
        claim.close()
        raise
    async with _published(lab, claim):
        print(f"lab up: {lab.run_dir}", flush=True)
        try:
            await watch(lab, monitor, lab.guard(lab.shutdown_requested.wait()))
        except LabError:
            await lab.settle_externals()  # `flowlab inject` clients end their orders first
            raise
    return 0


async def attach_lab(config: RunConfig, runs: Path) -> int:
    """Supervise services started elsewhere (docker compose) until SIGTERM or ``flowlab down``."""
    claim = claim_root(runs)
    lab = LabSupervisor.attach(config)
    async with _published(lab, claim):
        print(f"lab attached: {len(lab.procs)} services ready; run dir {lab.run_dir}", flush=True)
        await lab.guard(lab.shutdown_requested.wait())
    return 0


def _control_request(
    run_dir: Path, msg: msgspec.Struct, expect: type | None, timeout_s: float = 5.0
) -> Any:
    config = load_run_config(run_dir / "config.toml")
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    # A fresh routing id per request: `status --watch` reconnects twice a second, and the
    # control ROUTER refuses an id still held by a connection it has not seen close yet.
    sock.setsockopt(zmq.IDENTITY, f"cli-{os.getpid()}-{time.monotonic_ns()}".encode())
    try:
        authenticate(sock, config, OPERATOR, ORCHESTRATOR)
        sock.connect(config.control.connect)
        sock.send_multipart([VERSION, encode(msg)])
        if expect is None:
            return None
        if not sock.poll(int(timeout_s * 1000)):
            raise ControlTimeout(
                f"the orchestrator at {config.control.connect} did not answer in {timeout_s}s"
            )
        return Decoder([expect]).decode(sock.recv_multipart())[0]
    finally:
        sock.close(linger=1000)
        ctx.term()


def cmd_status(args: argparse.Namespace) -> int:
    if args.all:
        return _status_all(args.runs)
    entry = _lab_at(args.runs, args.run_dir)
    if entry.state is LabState.DEAD:
        print(f"flowlab status: {_dead_message(entry)}", file=sys.stderr)
        return 1
    run_dir = entry.run_dir

    def ask() -> StatusReply:
        request = StatusRequest(sender="cli", ts_ns=time.time_ns())
        try:
            return _control_request(run_dir, request, StatusReply, STATUS_TIMEOUT_S)
        except ControlTimeout as exc:  # alive (its lab.json is locked) but not answering
            stopped = process_state(entry.pid) == "T"
            why = "stopped (SIGSTOP?)" if stopped else "alive: slow or stuck"
            raise ControlTimeout(f"the lab at {run_dir} is {why}, pid {entry.pid}: {exc}") from None

    if args.watch:
        return _watch_status(ask)
    print("\n".join(_status_lines(ask())))
    return 0


def _status_all(runs: Path) -> int:
    """Every published lab under ``runs``: live ones, and dead ones' stale ``lab.json``."""
    entries = find_labs(runs)
    holder = root_holder(runs)
    if holder is not None and not any(e.state is LabState.RUNNING for e in entries):
        print(f"a lab is starting under {runs} (orchestrator pid {holder.get('pid', '?')})")
    if not entries:
        if holder is None:
            print(f"no lab under {runs}")
        return 0
    current = (runs / "current").resolve() if (runs / "current").is_symlink() else None
    print(f"{'state':<8} {'pid':>7} {'processes':>9}  run dir")
    for e in entries:
        mark = "  (current)" if e.run_dir == current else ""
        procs = len(e.info.get("processes", []))
        print(f"{e.state.value:<8} {e.pid:>7} {procs:>9}  {e.run_dir}{mark}")
    return 0


def _status_lines(reply: StatusReply) -> list[str]:
    up_s = (time.time_ns() - reply.started_ns) / 1e9
    header = f"{'name':<12} {'role':<11} {'pid':>7} {'state':<9} {'heartbeat':>10} {'queue':>6}"
    lines = [f"lab {reply.run_dir} up {up_s:.0f}s", header + "  messages in"]
    for s in reply.services:
        msgs = sum(v for k, v in s.counters.items() if k.endswith(".in"))
        age = f"{s.heartbeat_age_us / 1000:.0f} ms" if s.heartbeat_age_us >= 0 else "-"
        queue = s.counters.get("queue.depth", "-")
        lines.append(
            f"{s.name:<12} {s.role:<11} {s.pid:>7} {s.state:<9} {age:>10} {queue:>6}  {msgs}"
        )
    return lines


def _watch_status(ask: Callable[[], StatusReply]) -> int:
    """A live table of the background lab's processes, refreshed twice a second, until Ctrl-C.

    Ctrl-C sets a flag the loop reads between requests instead of raising where it lands: a
    KeyboardInterrupt inside a request's socket close or context teardown could leave a zmq
    context open, and the process then hung at exit (seen on a slow host)."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda _sig, _frame: stop.set())
    try:
        with Live(Text("\n".join(_status_lines(ask()))), refresh_per_second=4) as live:
            while not stop.wait(0.5):  # the refresh period of a polling view
                live.update(Text("\n".join(_status_lines(ask()))))
        return 0
    except (LabNotRunning, ControlTimeout) as exc:  # the lab went away
        print(f"flowlab status: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, previous)


def cmd_down(args: argparse.Namespace) -> int:
    entry = _lab_at(args.runs, args.run_dir)
    run_dir = entry.run_dir
    if entry.state is LabState.DEAD:
        (run_dir / LAB_FILE).unlink(missing_ok=True)
        print(
            f"lab down: {run_dir} was not running (orchestrator pid {entry.pid} gone); "
            f"removed its stale {LAB_FILE}"
        )
        return _after_down(args, run_dir, entry.info.get("processes", []))
    _control_request(run_dir, Shutdown(sender="cli", ts_ns=time.time_ns()), None)
    deadline = time.monotonic() + DOWN_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            os.kill(entry.pid, 0)
        except ProcessLookupError:
            print(f"lab down: {run_dir}", flush=True)
            return _after_down(args, run_dir, entry.info.get("processes", []))
        time.sleep(0.1)  # waiting for another process to exit: nothing to await
    print(
        f"flowlab down: orchestrator pid {entry.pid} still running after {DOWN_TIMEOUT_S:.0f}s",
        file=sys.stderr,
    )
    return 1


def _after_down(args: argparse.Namespace, run_dir: Path, processes: list[dict]) -> int:
    """The report (unless ``--no-report``), then the exit code of the run's state: 1 for an
    aborted or degraded lab, and for an overloaded one unless ``--allow-overload``, naming
    what happened, as ``compare`` does (the lab's orchestrator wrote ``faults.json``)."""
    reported = 0 if args.no_report else _report_after_down(run_dir, processes)
    state = faults_exit_code([load_faults(run_dir)], "down", allow_overload=args.allow_overload)
    return reported or state


def _report_after_down(run_dir: Path, processes: list[dict]) -> int:
    """The report of a lab just stopped, in its run dir, if anything was injected into it."""
    if not any(run_dir.glob("stream-*.csv")):
        print("no orders were injected: no report (`flowlab inject` sends a stream)")
        return 0
    config = load_run_config(run_dir / "config.toml")
    try:
        make_report(run_dir, config, run_dir, processes=processes)
    except (OSError, ValueError, KeyError) as exc:
        print(
            f"flowlab down: cannot write the report: {exc}; retry with `flowlab report {run_dir}`",
            file=sys.stderr,
        )
        return 1
    print(f"report: {run_dir / 'report.html'} (tables: {run_dir}/*.parquet)")
    return 0


def cmd_inject(args: argparse.Namespace) -> int:
    """Send a stream into the running lab from this process, with a live account and a short
    Rule 605 table at the end (``orchestration.inject_view``)."""
    from rich.console import Console

    from orchestration.inject_view import log_to_file, print_summary, run_with_account
    from services.main import service_class

    run_dir = _current(args.runs, args.run_dir)
    config = load_run_config(run_dir / "config.toml")
    scenario = config.scenario
    real = _real_arrivals(args, scenario, f"L{int(time.time())}-")
    if real is not None:
        rows = real
    elif args.file is not None:
        rows = read_stream_file(args.file)
    else:
        regimes = [r for r in (args.regimes or ",".join(scenario.broker.regimes)).split(",") if r]
        rows = generate_stream(
            scenario,
            regimes,
            orders=args.orders,
            rate_per_s=args.rate,
            seed=args.seed,
            id_prefix=f"I{int(time.time())}-",
            options=options_from_args(args),
        )
    if args.strategy:
        rows = [{**row, "strategy": args.strategy} for row in rows]
    validate_rows(rows, scenario)
    stream = write_stream(rows, run_dir / f"stream-{int(time.time() * 1000)}.csv")
    name = f"injector-{os.getpid()}"
    to_broker = args.to == "broker"
    console = Console()
    console.print(
        f"injecting {len(rows):,} orders into the {args.to} of {run_dir}", highlight=False
    )
    log_to_file(run_dir / "logs" / f"{name}.log", name)
    injector = service_class("injector")(
        config,
        name,
        stream=str(stream),
        target=scenario.broker.name if to_broker else scenario.sor.name,
        timeout_s=args.timeout,
        close_after_s=args.close_after,
    )
    live = sys.stdout.isatty() and not args.no_live
    code = uvloop.run(run_with_account(injector, len(rows), live=live, out=sys.stdout))
    print_summary(
        injector,
        run_dir / "tape.msgpack",
        scenario.broker.name,
        to_broker=to_broker,
        console=console,
    )
    if args.report is not None:
        make_report(run_dir, config, args.report, processes=_lab_processes(run_dir))
        console.print(f"report: {args.report / 'report.html'}", highlight=False)
    return code


def _real_arrivals(
    args: argparse.Namespace, scenario: Scenario, id_prefix: str
) -> list[dict[str, object]] | None:
    """The rows of ``--lobster`` / ``--taq`` (None without them), described on stdout."""
    if not (args.lobster or args.taq):
        return None
    from orchestration.arrivals import arrivals_from_args  # pandas: only with real data

    arrivals = arrivals_from_args(args, scenario, id_prefix)
    print(f"real arrivals: {arrivals.describe()}", flush=True)
    return arrivals.rows


def cmd_stream(args: argparse.Namespace) -> int:
    """Convert real arrivals into a stream file (``orchestration.arrivals``), checked against
    the scenario as ``inject --file`` would check it."""
    from orchestration.arrivals import arrivals_from_args, save_stream

    scenario = _scenario(args.scenario)
    if not (args.lobster or args.taq):
        raise ArrivalError("give --lobster MESSAGE ORDERBOOK or --taq TRADES QUOTES")
    arrivals = arrivals_from_args(args, scenario, args.id_prefix)
    validate_rows(arrivals.rows, scenario)
    path = save_stream(arrivals.rows, args.out)
    print(f"{arrivals.describe()}\nstream: {path}")
    return 0


def _lab_processes(run_dir: Path) -> list[dict]:
    """The processes the running lab's orchestrator published in ``lab.json``."""
    entry = read_lab(run_dir)
    return list(entry.info.get("processes", [])) if entry is not None else []


def cmd_compose(args: argparse.Namespace) -> int:
    from orchestration.compose import write_compose

    for path in write_compose(args.out_dir, _scenario(args.scenario)):
        print(f"wrote {path}")
    return 0


def cmd_sor(args: argparse.Namespace) -> int:
    """``flowlab sor``: every strategy and single-venue baseline on one parent (docs/SOR.md)."""
    from orchestration.bestex import (
        STRATEGIES,
        bestex_rounds,
        format_bestex,
        format_rounds,
        run_sor,
    )
    from orchestration.sor_progress import SorProgress

    scenario = _scenario(args.scenario)
    if args.rounds < 1:
        raise ScenarioError(f"--rounds: must be >= 1, got {args.rounds}")
    names = [s.strip() for s in (args.strategies or ",".join(STRATEGIES)).split(",") if s.strip()]
    venues = args.baselines.split(",") if args.baselines else [v.name for v in scenario.venues]
    names += [f"direct:{v.strip()}" for v in venues if v.strip()]
    print(
        f"flowlab sor: scenario {scenario.name!r}, {args.side} {args.qty:,} x {', '.join(names)}",
        flush=True,
    )
    live = sys.stdout.isatty() and not args.no_live
    with SorProgress(args.rounds, len(names), live=live) as progress:
        run_dir, frame, codes = _run(
            run_sor(
                scenario,
                names,
                qty=args.qty,
                side=args.side,
                symbol=args.symbol,
                limit_offset_bps=args.limit_bps,
                runs=args.runs,
                out=args.out,
                timeout_s=args.timeout,
                gap_s=args.gap,
                rounds=args.rounds,
                on_batch=progress.batch_done,
            )
        )
    print_markdown_table(format_bestex(frame), "Best execution per parent")
    if args.rounds > 1:
        rounds = format_rounds(bestex_rounds(frame, seed=scenario.seed))
        print_markdown_table(rounds, "Over rounds (means, 95% CI)")
    out = args.out or run_dir
    print(f"report: {out / 'bestex.html'}  {out / 'bestex.md'}")
    return 0 if all(code == 0 for code in codes.values()) else 1


def cmd_bench(args: argparse.Namespace) -> int:
    from orchestration.bench.run import run_bench

    security = SecurityMode(args.security)
    if args.load and args.scaling:
        raise ScenarioError("--load and --scaling: one at a time")
    lab_only = {"--rates": args.rates, "--orders": args.orders, "--scenario": args.scenario}
    given = [flag for flag, value in lab_only.items() if value is not None]
    if args.keep_runs is not None:
        given.append("--keep-runs")
    if given and not (args.load or args.scaling):
        raise ScenarioError(f"{', '.join(given)}: only with --load or --scaling")
    scaling_only = [
        flag
        for flag, value in (("--dimensions", args.dimensions), ("--factors", args.factors))
        if value is not None
    ]
    if scaling_only and not args.scaling:
        raise ScenarioError(f"{', '.join(scaling_only)}: only with --scaling")
    if args.orders is not None and args.orders <= 0:
        raise ScenarioError(f"--orders must be positive (got {args.orders})")
    if args.scaling:
        from orchestration.bench.scaling import run_scaling_bench

        if args.rates is not None and len(args.rates) != 1:
            raise ScenarioError(f"--rates: --scaling runs one rate (got {len(args.rates)})")
        return run_scaling_bench(
            _scenario(args.scenario),
            quick=args.quick,
            dimensions=args.dimensions,
            factors=args.factors,
            rate=args.rates[0] if args.rates else None,
            orders=args.orders,
            out=args.out,
            security=security,
            keep_runs=args.keep_runs,
        )
    if args.load:
        from orchestration.bench.load import run_load_bench

        return run_load_bench(
            _scenario(args.scenario),
            quick=args.quick,
            rates=args.rates,
            orders=args.orders,
            out=args.out,
            security=security,
            keep_runs=args.keep_runs,
        )
    return run_bench(quick=args.quick, out=args.out, security=security)


def cmd_miniproject(args: argparse.Namespace) -> int:
    """``flowlab miniproject pfof``: the seed's model offline; ``--live`` runs the live scenario
    first, ``--run`` reads a finished one (docs/PFOF-MINIPROJECT.md)."""
    from orchestration.experiment import exit_code, run_comparison
    from orchestration.miniproject_report import (
        format_miniproject,
        miniproject_tables,
        write_tables,
    )

    if args.orders < 1:
        raise ScenarioError(f"--orders: must be >= 1, got {args.orders}")
    if args.repeat < 1 or (args.repeat > 1 and not args.live):
        raise ScenarioError(f"--repeat: {args.repeat} labs need --live and must be >= 1")
    run_dir = args.run
    if args.live:
        scenario = _scenario(args.scenario)
        results = _run(run_comparison(scenario, runs=args.runs, out=None, repeat=args.repeat))
        if exit_code(results, "miniproject"):
            return 1
        # one lab: its run dir; several: the experiment dir above them (experiment.json)
        run_dir = results[0].run_dir if args.repeat == 1 else results[0].run_dir.parent
    tables = miniproject_tables(args.seed, args.orders, run_dir)
    print(format_miniproject(tables, args.seed, args.orders))
    if run_dir is not None:
        print(f"live run: {run_dir}")
    if args.out is not None:
        write_tables(tables, args.out)
        print(f"tables: {args.out}/miniproject_*.parquet and .csv")
    return 0
