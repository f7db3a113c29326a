"""``flowlab bench``: run every benchmark, print the table, write ``bench.json``.

Transport figures come from ``Counts.rounds`` rounds of (the bare paths, then a fresh lab); each
figure is the median across rounds, so a baseline and its lab figure come from the same stretch
of machine time.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import msgpack
import msgspec
import uvloop

from config.scenario import SecurityMode
from orchestration.bench.book import bench_book
from orchestration.bench.codec import bench_codec
from orchestration.bench.lab import LabResult, bench_lab, merge_lab_rounds
from orchestration.bench.receive import bench_receive
from orchestration.bench.report import (
    BenchRun,
    Counts,
    Machine,
    TransportRounds,
    format_table,
    summary_lines,
)
from orchestration.bench.send import bench_send
from orchestration.bench.sor import bench_sor
from orchestration.bench.transport import BareResult, bench_bare, machine_floor_us

T = TypeVar("T")

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
    send_n=2_000,
    send_reps=3,
    receive_n=1_500,
    receive_reps=1,
)


def median_of(items: list[T]) -> T:
    """The median of every numeric field across rounds (results of one type, nested ones
    included); other fields: the last round's. Absent (``None``) figures are left out."""
    last: Any = items[-1]
    if isinstance(last, msgspec.Struct):
        merged = {f: median_of([getattr(x, f) for x in items]) for f in last.__struct_fields__}
        return msgspec.structs.replace(last, **merged)  # type: ignore[return-value]
    present = [x for x in items if x is not None]
    if present and all(isinstance(x, int | float) and not isinstance(x, bool) for x in present):
        return statistics.median(present)  # type: ignore[return-value,type-var]
    return present[-1] if present else last


def bench_transport(
    c: Counts,
    say: Callable[[str], None] = lambda _m: None,
    security: SecurityMode = SecurityMode.CURVE,
) -> tuple[BareResult, LabResult | None, TransportRounds]:
    """``c.rounds`` rounds of: the bare paths, then a fresh lab. Returns the medians across
    rounds (no lab figures if one round could not measure it) and every round's own."""
    bare_rounds: list[BareResult] = []
    lab_rounds: list[LabResult] = []
    lab_error = None
    for k in range(c.rounds):
        say(f"transport round {k + 1}/{c.rounds}: bare paths (2 and 3 processes)...")
        bare_rounds.append(
            bench_bare(n_lat=c.bare_lat, n_thr=c.bare_thr, window=c.window, warm=c.bare_warm)
        )
        say(f"transport round {k + 1}/{c.rounds}: lab (start, first fill, measure, stop)...")
        try:
            lab_rounds.append(
                uvloop.run(
                    bench_lab(
                        n_lat=c.lab_lat,
                        n_thr=c.lab_thr,
                        window=c.window,
                        warm=c.lab_warm,
                        security=security,
                    )
                )
            )
        except Exception as exc:  # the other figures still stand; say why this one is missing
            lab_error = f"{type(exc).__name__}: {exc}"
            say(f"flowlab bench: cannot measure the lab: {lab_error}")
            break
    measured = bool(lab_rounds) and lab_error is None
    lab = merge_lab_rounds(median_of(lab_rounds), lab_rounds) if measured else None
    rounds = TransportRounds(
        rounds=c.rounds,
        bare_rounds=bare_rounds,
        lab_rounds=lab_rounds if measured else None,
        lab_error=lab_error,
    )
    return median_of(bare_rounds), lab, rounds


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_bench(
    quick: bool = False, out: Path | None = None, security: SecurityMode = SecurityMode.CURVE
) -> int:
    """Run every benchmark, print the table, write ``bench.json`` (into ``out`` or the cwd);
    ``security``: the lab path's sockets with CURVE (the default) or without."""
    try:
        return _run_bench(quick, out, security)
    except KeyboardInterrupt:
        _say("flowlab bench: interrupted (every process it started was stopped)")
        return 130


def measure_all(c: Counts, quick: bool, security: SecurityMode = SecurityMode.CURVE) -> BenchRun:
    """Every figure, in the order they are measured (progress on stderr)."""
    t_start = time.perf_counter()
    date = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    _say("machine floor (socketpair ping-pong)...")
    floor = machine_floor_us()
    load_avg = os.getloadavg()[0]
    _say("codec...")
    codec = bench_codec(n=c.codec_n, reps=c.codec_reps)
    _say("send path...")
    send = bench_send(n=c.send_n, reps=c.send_reps)
    _say("receive path...")
    receive = bench_receive(n=c.receive_n, reps=c.receive_reps)
    _say("book core...")
    book = bench_book(ops=c.book_ops, steady_orders=c.book_steady, reps=c.book_reps)
    _say("SOR allocation...")
    sor = bench_sor(repeats=c.sor_repeats)
    bare, lab, transport = bench_transport(c, _say, security)
    floor_end = machine_floor_us()
    return BenchRun(
        date=date,
        quick=quick,
        security=security.value,
        machine=Machine(
            cpus=os.cpu_count(),
            python=platform.python_version(),
            platform=platform.platform(),
            msgspec=msgspec.__version__,
            msgpack=".".join(map(str, msgpack.version)),
        ),
        counts=c,
        machine_floor_us=floor,
        load_avg_start=load_avg,
        codec=codec,
        send=send,
        receive=receive,
        book=book,
        sor=sor,
        bare=bare,
        lab=lab,
        transport=transport,
        machine_floor_end_us=floor_end,
        seconds=time.perf_counter() - t_start,
    )


def _run_bench(quick: bool, out: Path | None, security: SecurityMode) -> int:
    run = measure_all(QUICK if quick else FULL, quick, security)
    print(f"lab path sockets: [security] mode = {run.security}")
    print(format_table(run))
    print("\n".join(summary_lines(run)))
    path = (out if out is not None else Path.cwd()) / "bench.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(msgspec.to_builtins(run), indent=2, sort_keys=True) + "\n")
    print(f"{'quick ' if quick else ''}bench took {run.seconds:.1f} s; figures in {path}")
    return 1 if run.transport.lab_error is not None else 0
