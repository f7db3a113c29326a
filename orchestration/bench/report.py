"""What ``flowlab bench`` reports: the record of a run (``BenchRun``, written as ``bench.json``)
and the table it prints, whose rows are built per result type."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from orchestration.bench.book import BookResult
from orchestration.bench.client import LatencyStats
from orchestration.bench.codec import CodecResult
from orchestration.bench.lab import LabResult
from orchestration.bench.receive import ReceiveResult
from orchestration.bench.send import SendResult
from orchestration.bench.sor import SorResult
from orchestration.bench.transport import BareResult

# (figure, value, baseline, baseline value, ratio)
Row = tuple[str, str, str, str, str]
HEAD: Row = ("figure", "value", "baseline (same run)", "baseline value", "ratio")


@dataclass(frozen=True)
class Counts:
    """How much work each figure does; ``--quick`` shrinks all of it."""

    codec_n: int
    codec_reps: int
    book_ops: int
    book_steady: int
    book_reps: int
    sor_repeats: int
    bare_lat: int
    bare_thr: int
    bare_warm: int
    lab_lat: int
    lab_thr: int
    lab_warm: int
    rounds: int  # transport: rounds of (bare paths, then a fresh lab), medians across rounds
    window: int = 100
    send_n: int = 20_000
    send_reps: int = 5
    receive_n: int = 6_000
    receive_reps: int = 3


class Machine(msgspec.Struct, frozen=True, kw_only=True):
    cpus: int | None
    python: str
    platform: str
    msgspec: str
    msgpack: str


class TransportRounds(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Each transport round's own figures (``bare`` and ``lab`` are their medians), or why the
    lab could not be measured."""

    rounds: int
    bare_rounds: list[BareResult]
    lab_rounds: list[LabResult] | None = None
    lab_error: str | None = None


class BenchFigures(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The figures the table shows: whatever parts ran."""

    machine_floor_us: float | None = None
    codec: CodecResult | None = None
    send: SendResult | None = None
    receive: ReceiveResult | None = None
    book: BookResult | None = None
    sor: SorResult | None = None
    bare: BareResult | None = None
    lab: LabResult | None = None


class BenchRun(BenchFigures, frozen=True, kw_only=True, omit_defaults=True):
    """Everything one ``flowlab bench`` measured (``bench.json``)."""

    date: str
    quick: bool
    security: str = "curve"  # the lab path's [security] mode (bench.json omits the default)
    machine: Machine
    counts: Counts
    load_avg_start: float
    transport: TransportRounds
    machine_floor_end_us: float
    seconds: float


# ---------------------------------------------------------------------- rows per result type
def _fmt(v: float, unit: str) -> str:
    if unit == "/s":
        return f"{v / 1e6:.2f}M/s" if v >= 1e6 else f"{v / 1e3:,.1f}k/s"
    if unit == "us":
        return f"{v:,.0f} µs" if v >= 100 else f"{v:.1f} µs"
    return f"{v:.1f} {unit}"


def _row(
    name: str,
    v: float,
    unit: str,
    base: str = "",
    bv: float | None = None,
    ratio: float | None = None,
) -> Row:
    return (
        name,
        _fmt(v, unit),
        base,
        "" if bv is None else _fmt(bv, unit),
        "" if ratio is None else f"{ratio:.2f}x",
    )


def _us(stats: LatencyStats, quantile: str) -> float:
    value = getattr(stats, quantile)
    if value is None:
        raise ValueError(f"no {quantile} in {stats!r}")
    return float(value)


def codec_rows(c: CodecResult) -> list[Row]:
    return [
        _row(
            "codec: decode SubmitOrder (msgspec)",
            c.decode_ops_per_s,
            "/s",
            "msgpack + dataclass + checks",
            c.baseline_decode_ops_per_s,
            c.decode_ratio,
        ),
        _row(
            "codec: encode SubmitOrder (msgspec)",
            c.encode_ops_per_s,
            "/s",
            "dict + msgpack.packb",
            c.baseline_encode_ops_per_s,
            c.encode_ratio,
        ),
    ]


def send_rows(r: SendResult) -> list[Row]:
    return [
        _row(
            "send: a link's message (queue + direct send)",
            r.link_sends_per_s,
            "/s",
            "pyzmq asyncio send_multipart",
            r.asyncio_sends_per_s,
            r.ratio,
        )
    ]


def receive_rows(r: ReceiveResult) -> list[Row]:
    return [
        _row(
            f"receive: CPU per message, bursts of {r.burst} (served socket's reader)",
            r.reader_cpu_us,
            "us",
            "awaited asyncio receive + shadow drain",
            r.asyncio_cpu_us,
            r.ratio,
        )
    ]


def book_rows(b: BookResult) -> list[Row]:
    return [
        _row(
            "book core: mixed ops (aim >= 500k/s)",
            b.ops_per_s,
            "/s",
            "plain dict+deque book",
            b.baseline_ops_per_s,
            b.ratio,
        )
    ]


def sor_rows(s: SorResult) -> list[Row]:
    shape = f"{s.venues} venues x {s.levels} levels"
    return [
        _row(f"SOR greedy, {shape}", s.greedy_us, "us", "aim", s.aim_us, s.greedy_ratio),
        _row(f"SOR optimal, {shape}", s.optimal_us, "us", "aim", s.aim_us, s.optimal_ratio),
    ]


def bare_rows(bare: BareResult, floor: float | None) -> list[Row]:
    two, three = bare.two, bare.three
    two_p50, three_p50 = _us(two.latency, "p50_us"), _us(three.latency, "p50_us")
    in_flight = three.throughput.orders_per_s
    batched = bare.three_batched.throughput.orders_per_s
    return [
        _row(
            "bare 2-proc round trip p50",
            two_p50,
            "us",
            "socketpair floor p50",
            floor,
            two_p50 / floor if floor else None,
        ),
        _row("bare 2-proc round trip p99", _us(two.latency, "p99_us"), "us"),
        _row(
            "bare 3-proc round trip p50",
            three_p50,
            "us",
            "bare 2-proc p50",
            two_p50,
            three_p50 / two_p50,
        ),
        _row("bare 3-proc round trip p99", _us(three.latency, "p99_us"), "us"),
        _row("bare 3-proc, 100 in flight", in_flight, "/s"),
        _row(
            "bare 3-proc, 100 in flight, batched",
            batched,
            "/s",
            "bare 3-proc, 100 in flight",
            in_flight,
            batched / in_flight,
        ),
    ]


LEG_LABELS = {
    "client_to_wholesaler": "lab one way p50: client->broker->wholesaler",
    "in_wholesaler": "lab inside the wholesaler p50 (recv->exec)",
    "wholesaler_to_client": "lab one way p50: wholesaler->broker->client",
}


def lab_rows(lab: LabResult, bare: BareResult) -> list[Row]:
    """The lab against the bare 3-process path of the same rounds."""
    three = bare.three
    rows = []
    for q in ("p50_us", "p99_us"):
        lab_q, bare_q = _us(lab.latency, q), _us(three.latency, q)
        rows.append(
            _row(
                f"lab round trip {q[:3]} (broker->wholesaler)",
                lab_q,
                "us",
                f"bare 3-proc {q[:3]}",
                bare_q,
                lab_q / bare_q,
            )
        )
    rate = lab.throughput.orders_per_s
    for base, label in (
        (three, "bare 3-proc, 100 in flight"),
        (bare.three_batched, "bare 3-proc, batched"),
    ):
        base_rate = base.throughput.orders_per_s
        rows.append(_row("lab, 100 in flight", rate, "/s", label, base_rate, rate / base_rate))
    half = _us(three.latency, "p50_us") / 2
    for key, label in LEG_LABELS.items():
        p50 = getattr(lab.legs, key).p50_us
        if p50 is None:
            continue
        if key == "in_wholesaler":
            rows.append(_row(label, p50, "us"))
        else:
            rows.append(_row(label, p50, "us", "bare 3-proc p50 / 2", half, p50 / half))
    rows.append(_row(f"lab start-up ({lab.processes} processes ready)", lab.start_s, "s"))
    return rows


def table_rows(figures: BenchFigures) -> list[Row]:
    """The rows of every part that ran (the lab's only with the bare paths to compare)."""
    f = figures
    rows: list[Row] = []
    if f.codec is not None:
        rows += codec_rows(f.codec)
    if f.send is not None:
        rows += send_rows(f.send)
    if f.receive is not None:
        rows += receive_rows(f.receive)
    if f.book is not None:
        rows += book_rows(f.book)
    if f.sor is not None:
        rows += sor_rows(f.sor)
    if f.bare is not None:
        rows += bare_rows(f.bare, f.machine_floor_us)
        if f.lab is not None:
            rows += lab_rows(f.lab, f.bare)
    return rows


def format_table(figures: BenchFigures) -> str:
    rows = [HEAD, *table_rows(figures)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEAD))]
    lines = []
    for k, r in enumerate(rows):
        cells = [
            r[0].ljust(widths[0]),
            r[1].rjust(widths[1]),
            r[2].ljust(widths[2]),
            r[3].rjust(widths[3]),
            r[4].rjust(widths[4]),
        ]
        lines.append("  ".join(cells).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def summary_lines(run: BenchRun) -> list[str]:
    """What the table does not show: the machine's state, the rounds, the lab's handshake."""
    lines = [
        f"\nmachine: {run.machine.cpus} CPUs; socketpair floor p50 {run.machine_floor_us:.1f} µs "
        f"at start, {run.machine_floor_end_us:.1f} µs at end; 1-min load average at start "
        f"{run.load_avg_start:.1f}",
        f"transport: median of {run.counts.rounds} round(s), each the bare paths then a fresh lab",
    ]
    lab = run.lab
    if lab is not None:
        lines.append(
            f"lab: {lab.handshake_orders:.0f} order(s) until the first {lab.wholesaler} fill "
            "(median), "
            f"filled by {lab.filled_by}" + (f", unfilled {lab.unfilled}" if lab.unfilled else "")
        )
    return lines
