"""Sample every service of a running lab with py-spy and say where its time goes.

``python -m orchestration.bench.profile --runs DIR --duration S``, started beside a
``flowlab compare --runs DIR``: as soon as the named services of a lab under ``DIR`` run, it
attaches ``py-spy record --format raw --nonblocking`` (niced) to each; from when the lab's
injector starts it measures every lab process's CPU over ``S`` seconds (``/proc``), then stops
py-spy and writes per service the folded stacks (``NAME.txt``), a flame graph (``NAME.svg``)
and ``summary.json``: CPU shares, and per service the top self-time functions and the share of
samples per cost category (``CATEGORIES``). docs/PERFORMANCE.md shows a run and its table.

``--perf``: instead of py-spy, ``perf record -a -e cpu-clock`` over the same window (root or
``perf_event_paranoid`` <= 0). py-spy counts a thread that is ready to run but waiting for a
CPU as busy, which on a saturated 2-core machine piles samples on whatever woke another thread
(docs/PERFORMANCE.md); perf's samples are CPU time only. It cannot see Python frames (Python
3.11), so it says where the machine's CPU goes by thread kind and library (``perf_split``):
the Python interpreter, the kernel, CURVE's encryption, libzmq, msgspec, uvloop...

The pure part (``parse_folded``, ``category_of``, ``summarise``, ``flame_svg``, ``perf_split``)
takes py-spy's folded text or perf's report and nothing else, so it is tested on hand-written
input.
"""

from __future__ import annotations

import argparse
import html
import json
import linecache
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path

SERVICES = ("broker", "sor", "auction", "wh-a", "lit-a", "sip", "recorder")
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*):(?P<line>\d+)\)$")

# Cost categories, first match wins; each is tested against every frame of a sample (leaf first).
TAPE, ZMQ, LOGGING, CODEC = "tape", "zmq send/recv", "logging", "msgspec encode/decode"
MARKET_DATA, SCHEDULING = "market-data fan-out", "asyncio + latency queues"
LOOP = "event loop (uvloop, in C)"
OBJECTS, DOMAIN, OTHER = "per-order Python objects", "domain handlers", "other"
CATEGORIES = (TAPE, ZMQ, LOGGING, CODEC, MARKET_DATA, SCHEDULING, LOOP, OBJECTS, DOMAIN, OTHER)

# From the services' launch to attaching: the lab is ready and its stream not yet started
# (``flowlab compare``: 2-5 s ready on this machine, then the injector starts).
ATTACH_AFTER_S = 2.0

# perf's shared objects, by what they are (first match on the file name wins)
LIBRARIES = (
    ("python interpreter", ("libpython", "python3")),
    ("kernel", ("[kernel",)),
    ("CURVE encryption (libsodium)", ("libsodium",)),
    ("libzmq", ("libzmq",)),
    ("libc", ("libc.so", "libc-")),
    ("msgspec", ("_core.cpython",)),
    ("uvloop", ("loop.cpython",)),
    ("pyzmq (compiled)", ("_zmq.cpython",)),
    ("numpy", ("_multiarray", "_generator", "_pcg64", "_common", "_bounded")),
)
_PERF_LINE = re.compile(
    r"^\s*(?P<pct>\d+(?:\.\d+)?)%\s+(?P<comm>\S(?:.*?\S)?)\s{2,}(?P<dso>\S+)\s*$"
)

Frame = tuple[str, str, int]  # function, file, line
Stack = tuple[Frame, ...]  # root first, leaf last


def parse_frame(text: str) -> Frame:
    m = _FRAME.match(text)
    if m is None:
        return text, "", 0
    return m["func"], m["file"], int(m["line"])


def parse_folded(text: str) -> Counter[Stack]:
    """py-spy ``--format raw`` (``frame;frame;... count`` per line) -> samples per stack."""
    stacks: Counter[Stack] = Counter()
    for line in text.splitlines():
        head, _, count = line.rpartition(" ")
        if head and count.isdigit():
            stacks[tuple(parse_frame(f) for f in head.split(";"))] += int(count)
    return stacks


def _source(frame: Frame) -> str:
    return linecache.getline(frame[1], frame[2]).strip() if frame[1] else ""


def _in(file: str, *parts: str) -> bool:
    return any(p in file for p in parts)


# the services' compiled receives (services/sockets.py): their time is libzmq's, under a
# frame of ours
_RECEIVES = ("recv_frames", "pending_events")


def category_of(stack: Stack, source: dict[Frame, str] | None = None) -> str:
    """The cost category of one sample. The tape covers everything under ``Service.tape`` and the
    recorder; zmq, logging, then the leaf's own line (a C call such as msgspec's ``encode`` has
    no Python frame: its time is its caller's line), then the leaf's module.
    ``source`` maps a frame to its line of code (default: read from the file)."""
    line_of = (lambda f: source.get(f, "")) if source is not None else _source
    funcs = [(f.rpartition(".")[2], file) for f, file, _ in stack]
    if any(
        (f == "tape" and file.endswith("services/runtime.py")) or file.endswith("recorder.py")
        for f, file in funcs
    ):
        return TAPE
    if any(_in(file, "/zmq/") for _, file in funcs) or funcs[-1][0] in _RECEIVES:
        return ZMQ
    if any(_in(file, "/logging/") for _, file in funcs):
        return LOGGING
    leaf = stack[-1]
    func, file = funcs[-1]
    if file.endswith(("asyncio/runners.py", "uvloop/__init__.py")):
        return LOOP  # uvloop's own run loop (libuv, callbacks' dispatch) has no Python frame
    code = line_of(leaf)
    if func in ("decode_payload", "frames") or re.search(r"\b(encode|decode)\w*\(", code):
        return CODEC
    if _in(file, "services/feeds.py", "services/sip/") or "publish" in func:
        return MARKET_DATA
    if _in(
        file, "services/latency.py", "services/sockets.py", "/asyncio/", "uvloop", "/numpy/"
    ) or (func in ("read", "call_at_wall") and file.endswith("services/runtime.py")):
        return SCHEDULING
    if (
        func in ("make", "__init__", "__new__", "__call__")
        or "self.make(" in code
        or file.endswith(("msgspec/structs.py", "/enum.py", "<string>"))
    ):
        return OBJECTS
    if _in(file, "services/", "protocol/", "config/"):
        return DOMAIN
    return OTHER


def _short(file: str) -> str:
    for marker in ("site-packages/", "/python3.11/", "/services/", "/protocol/", "/config/"):
        if marker in file:
            tail = file.split(marker, 1)[1]
            return tail if marker in ("site-packages/", "/python3.11/") else marker[1:] + tail
    return file.rsplit("/", 1)[-1]


def summarise(stacks: Counter[Stack], *, top: int = 12) -> dict[str, object]:
    """The share of samples per category and the top self-time functions (leaf function,
    all its lines)."""
    total = sum(stacks.values())
    by_category: Counter[str] = Counter()
    by_leaf: Counter[str] = Counter()
    for stack, n in stacks.items():
        by_category[category_of(stack)] += n
        func, file, _ = stack[-1]
        by_leaf[f"{func} ({_short(file)})"] += n
    share = (lambda n: round(100.0 * n / total, 1)) if total else (lambda n: 0.0)
    return {
        "samples": total,
        "categories_pct": {c: share(by_category[c]) for c in CATEGORIES if by_category[c]},
        "top_self_pct": {f: share(n) for f, n in by_leaf.most_common(top)},
    }


def flame_svg(stacks: Counter[Stack], title: str, width: int = 1200) -> str:
    """A flame graph (root at the bottom) as a self-contained SVG; frames narrower than a pixel
    are left out, each box's tooltip gives its function and share of samples."""
    total = sum(stacks.values()) or 1
    tree: _Node = _Node()
    for stack, n in stacks.items():
        node = tree
        for func, file, _ in stack:
            node = node.kids.setdefault(f"{func} ({_short(file)})", _Node())
            node.n += n
    boxes: list[tuple[str, int, float, int, float]] = []  # name, samples, x, depth, width

    def walk(node: _Node, x: float, depth: int) -> None:
        for name, kid in sorted(node.kids.items()):
            w = width * kid.n / total
            if w >= 1.0:
                boxes.append((name, kid.n, x, depth, w))
                walk(kid, x, depth + 1)
            x += w

    walk(tree, 0.0, 0)
    height = (max((b[3] for b in boxes), default=0) + 2) * 16 + 8
    body = "".join(_box(*b, total=total, y=height - 16 * (b[3] + 1)) for b in boxes)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="monospace" font-size="11">'
        f'<text x="4" y="14">{html.escape(title)} ({total} samples)</text>{body}</svg>\n'
    )


class _Node:
    __slots__ = ("kids", "n")

    def __init__(self) -> None:
        self.n = 0
        self.kids: dict[str, _Node] = {}


def _box(name: str, n: int, x: float, depth: int, w: float, *, total: int, y: int) -> str:
    hue = 10 + 5 * (zlib.crc32(name.encode()) % 10)
    label = html.escape(name[: int(w / 7)]) if w > 30 else ""
    tip = html.escape(f"{name}: {n} samples, {100.0 * n / total:.1f}%")
    return (
        f'<g><title>{tip}</title><rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="15" '
        f'fill="hsl({hue},80%,60%)"/><text x="{x + 2:.1f}" y="{y + 11}">{label}</text></g>'
    )


# ---------------------------------------------------------------------------- the live part
def find_pids(runs: Path, names: tuple[str, ...] | None = None) -> dict[str, int]:
    """Service name -> pid of the lab processes whose ``--config`` lies under ``runs`` (those
    in ``names``; all with None)."""
    found: dict[str, int] = {}
    root = runs.resolve()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = [
                a.decode(errors="replace") for a in (proc / "cmdline").read_bytes().split(b"\0")
            ]
            role_process = "service" in argv or "services.main" in argv  # flowlab / launcher
            if not role_process or "--name" not in argv or "--config" not in argv:
                continue
            config = Path(argv[argv.index("--config") + 1])
            if not config.is_absolute():
                config = (proc / "cwd").resolve() / config
        except (OSError, IndexError):
            continue  # gone, or not ours to read
        name = argv[argv.index("--name") + 1] if argv.index("--name") + 1 < len(argv) else ""
        if (names is None or name in names) and config.resolve().is_relative_to(root):
            found[name] = int(proc.name)
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (0 when it is gone)."""
    return _stat_cpu_seconds(Path(f"/proc/{pid}/stat")) or 0.0


def _stat_cpu_seconds(stat: Path) -> float | None:
    """User + system CPU seconds from a ``/proc/.../stat`` file (None when it is gone)."""
    try:
        fields = stat.read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu_seconds(pid: int) -> tuple[float, float]:
    """A process's CPU seconds so far split into its main thread's (the Python interpreter:
    the event loop and everything py-spy sees) and its other threads' (libzmq's I/O thread,
    which moves the bytes and, under CURVE, encrypts them; the ZAP handler that checks keys is an
    asyncio task, so its time is the Python thread's). Threads that have ended are not counted
    (they leave ``/proc/PID/task``); libzmq's live as long as the process. (0, 0) when
    it is gone."""
    main = other = 0.0
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return 0.0, 0.0
    for task in tasks:
        seconds = _stat_cpu_seconds(task / "stat")
        if seconds is None:
            continue  # the thread ended
        if task.name == str(pid):
            main += seconds
        else:
            other += seconds
    return main, other


def record(runs: Path, names: tuple[str, ...], duration_s: float, rate_hz: int, out: Path) -> None:
    """Attach py-spy to ``names`` as soon as they run (before the load: attaching costs CPU that
    would stall a loaded lab), niced; measure every lab process's CPU over ``duration_s`` from
    when the injector starts, then stop py-spy (SIGINT: it writes its file) and summarise."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    pids = _wait_for(runs, names, lambda found: set(names) <= set(found))
    time.sleep(ATTACH_AFTER_S)  # past their start-up (imports), before the stream
    out.mkdir(parents=True, exist_ok=True)
    procs = {
        name: subprocess.Popen(
            [
                spy,
                "record",
                "--pid",
                str(pid),
                "--rate",
                str(rate_hz),
                "--format",
                "raw",
                "--full-filenames",
                "--nonblocking",
                "--output",
                str(out / f"{name}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=lambda: os.nice(19),
        )
        for name, pid in pids.items()
    }
    _wait_for(runs, ("injector",), lambda found: "injector" in found)
    everyone = find_pids(runs)
    cpu_before = {name: cpu_seconds(pid) for name, pid in everyone.items()}
    threads_before = {name: thread_cpu_seconds(pid) for name, pid in everyone.items()}
    start_ns = time.time_ns()
    time.sleep(duration_s)
    end_ns = time.time_ns()
    pct = 100.0 * 1e9 / (end_ns - start_ns)
    cpu_pct = {
        name: round((cpu_seconds(pid) - cpu_before[name]) * pct, 1)
        for name, pid in everyone.items()
    }
    threads_after = {name: thread_cpu_seconds(pid) for name, pid in everyone.items()}
    # of each process's CPU: its Python thread, and libzmq's threads (I/O and CURVE)
    thread_pct = {
        name: {
            "python": round((threads_after[name][0] - threads_before[name][0]) * pct, 1),
            "libzmq": round((threads_after[name][1] - threads_before[name][1]) * pct, 1),
        }
        for name in everyone
    }
    for proc in procs.values():
        proc.send_signal(signal.SIGINT)
    for proc in procs.values():
        proc.wait()
    summary: dict[str, object] = {
        "window_ns": [start_ns, end_ns],
        "pids": pids,
        "cpu_pct": cpu_pct,
        "thread_cpu_pct": thread_pct,
    }
    for name in procs:
        stacks = parse_folded((out / f"{name}.txt").read_text())
        summary[name] = summarise(stacks)
        (out / f"{name}.svg").write_text(flame_svg(stacks, f"{name}: py-spy at {rate_hz} Hz"))
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


def library_of(dso: str) -> str:
    for label, prefixes in LIBRARIES:
        if any(dso.startswith(prefix) for prefix in prefixes):
            return label
    return "other"


def thread_kind(comm: str) -> str:
    """A thread's kind from its name: libzmq's I/O threads are ``ZMQbg/...``; Python's main
    threads are ``python...`` (the services, the injector, the profile tool) or ``flowlab``
    (the orchestrator); the idle task is ``swapper``; anything else (kernel workers, perf
    itself) is "other"."""
    if comm.startswith("ZMQbg"):
        return "libzmq threads"
    if comm.startswith("python") or comm == "flowlab":
        return "python threads"
    if comm.startswith("swapper"):
        return "idle"
    return "other"


def perf_split(report: str) -> dict[str, dict[str, float]]:
    """Shares of perf's samples (``perf report --stdio --no-children --sort comm,dso -g
    none``) by thread kind, by library, and by both ("kind / library"), in percent of all
    samples; idle included, so the shares add up to 100."""
    by_kind: dict[str, float] = {}
    by_library: dict[str, float] = {}
    by_both: dict[str, float] = {}
    for line in report.splitlines():
        m = _PERF_LINE.match(line)
        if m is None or line.lstrip().startswith("#"):
            continue
        pct = float(m["pct"])
        kind, library = thread_kind(m["comm"]), library_of(m["dso"])
        for shares, key in (
            (by_kind, kind),
            (by_library, library),
            (by_both, f"{kind} / {library}"),
        ):
            shares[key] = shares.get(key, 0.0) + pct

    def rounded(shares: dict[str, float]) -> dict[str, float]:
        return {k: round(v, 1) for k, v in sorted(shares.items(), key=lambda kv: -kv[1])}

    return {"threads": rounded(by_kind), "libraries": rounded(by_library), "both": rounded(by_both)}


def record_perf(runs: Path, duration_s: float, rate_hz: int, out: Path) -> None:
    """``perf record`` of the whole machine over ``duration_s`` from when the lab's injector
    starts; writes ``perf.data``, ``perf-report.txt`` and ``perf-summary.json``."""
    perf = shutil.which("perf")
    if perf is None:
        raise SystemExit("cannot profile with --perf: no perf on PATH (Debian: linux-perf)")
    out.mkdir(parents=True, exist_ok=True)
    _wait_for(runs, ("injector",), lambda found: "injector" in found)
    data = out / "perf.data"
    subprocess.run(
        [perf, "record", "-a", "-e", "cpu-clock", "-F", str(rate_hz), "-o", str(data), "--",
         "sleep", str(duration_s)],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    report = subprocess.run(
        [perf, "report", "-i", str(data), "--stdio", "--no-children", "--sort", "comm,dso",
         "-g", "none"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    (out / "perf-report.txt").write_text(report)
    summary = perf_split(report)
    (out / "perf-summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


def _wait_for(
    runs: Path, names: tuple[str, ...], ready: Callable[[dict[str, int]], bool]
) -> dict[str, int]:
    deadline = time.monotonic() + 120
    while not ready(found := find_pids(runs, names)):
        if time.monotonic() > deadline:
            raise SystemExit(f"cannot profile: no lab running {', '.join(names)} under {runs}")
        time.sleep(0.05)
    return found


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m orchestration.bench.profile", description=__doc__)
    p.add_argument("--runs", type=Path, required=True, help="the runs dir of the lab to sample")
    p.add_argument("--services", default=",".join(SERVICES), help="comma-separated names")
    p.add_argument(
        "--duration", type=float, default=5.0, help="seconds of load measured (default: 5)"
    )
    p.add_argument("--rate", type=int, default=100, help="samples per second (default: 100)")
    p.add_argument("--out", type=Path, default=Path("profile"), help="where files go")
    p.add_argument(
        "--perf",
        action="store_true",
        help="perf's on-CPU samples of the whole machine by thread kind and library, instead "
        "of py-spy (use --rate 499)",
    )
    args = p.parse_args(argv)
    if args.perf:
        record_perf(args.runs, args.duration, args.rate, args.out)
        return
    names = tuple(n for n in args.services.split(",") if n)
    record(args.runs, names, args.duration, args.rate, args.out)


if __name__ == "__main__":
    main()
