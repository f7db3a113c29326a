"""``flowlab bench --load``'s pure parts: the targets each rate is held to, relative to the
sweep's lowest rate, worked out by hand on constructed points (orchestration/bench/load.py)."""

from __future__ import annotations

import msgspec
import pytest

from orchestration.bench.load import (
    LoadPoint,
    LoadResult,
    RegimeLoad,
    ServiceLoad,
    _per_second,
    _services,
    assess,
    format_load,
    highest_met,
)


def point(
    rate: int,
    *,
    pfof_p99: float = 5.0,
    auction_p99: float = 110.0,
    pfof_fill: float = 1.0,
    auction_fill: float = 0.99,
    terminal: int = 1000,
    accepted: int = 1000,
    state: str = "complete",
    pss: float = 600.0,
) -> LoadPoint:
    return LoadPoint(
        rate_per_s=rate,
        orders=1000,
        accepted=accepted,
        terminal=terminal,
        sent_per_s=float(rate),
        received_per_s=float(rate),
        state=state,
        detail="",
        ready_s=1.5,
        regimes={
            "pfof": RegimeLoad(
                orders=500, terminal=500, fill_rate=pfof_fill, tte_p50_ms=2.0, tte_p99_ms=pfof_p99
            ),
            "auction": RegimeLoad(
                orders=500,
                terminal=500,
                fill_rate=auction_fill,
                tte_p50_ms=102.0,
                tte_p99_ms=auction_p99,
            ),
        },
        services=[
            ServiceLoad(
                name="broker",
                role="broker",
                rss_peak_mib=80.0,
                pss_peak_mib=60.0,
                cpu_s=3.0,
                cpu_inject_s=2.0,
                queued_peak=42,
                lag_peak_ms=3,
            )
        ],
        rss_total_mib=1200.0,
        pss_total_mib=pss,
    )


def test_a_rate_within_every_target_meets_them() -> None:
    # pfof p99 15 ms = 3 x 5 ms (at the bound, allowed); auction 150 ms = 1.5 x 100 ms window;
    # fills 0.99 and 0.98: one point under 1.00 and 0.99 (allowed)
    base, loaded = (
        point(500),
        point(8000, pfof_p99=15.0, auction_p99=150.0, pfof_fill=0.99, auction_fill=0.98),
    )
    out = assess([loaded, base], window_ms=100)
    assert [p.rate_per_s for p in out] == [500, 8000]  # sorted by rate
    assert [p.met for p in out] == [True, True]
    assert out[1].misses == []
    assert highest_met(out) == 8000


def test_each_missed_target_is_named_with_its_figures() -> None:
    base = point(500)
    loaded = point(
        4000,
        pfof_p99=15.1,  # > 3 x 5.0
        auction_p99=151.0,  # > 1.5 x 100
        pfof_fill=0.985,  # < 1.00 - 0.01
        accepted=990,
        terminal=985,
        state="overloaded",
        pss=1100.0,
    )
    out = assess([base, loaded], window_ms=100)
    misses = out[1].misses
    assert not out[1].met
    assert misses == [
        "10 of 1,000 orders refused (busy)",
        "5 accepted orders never ended",
        "run overloaded",
        "pfof fill 98.5% < 100.0% - 1 point",
        "pfof TTE p99 15.1 ms > 3x 5.0 ms",
        "auction TTE p99 151.0 ms > 1.5x the 100 ms window",
        "memory (PSS) 1,100 MiB > 1,024 MiB",
    ]
    assert highest_met(out) == 500


def test_the_highest_rate_met_stops_at_the_first_rate_that_missed() -> None:
    # 2,000/s misses; 4,000/s meets (a noisy machine): the answer is still 1,000/s
    points = assess([point(1000), point(2000, auction_p99=400.0), point(4000)], window_ms=100)
    assert [p.met for p in points] == [True, False, True]
    assert highest_met(points) == 1000
    assert highest_met(assess([point(500, state="aborted")], window_ms=100)) is None


def test_rates_are_counted_between_the_first_and_last_stamp() -> None:
    # 5 stamps over 2 s: 4 intervals -> 2 per second
    assert _per_second([0, 500_000_000, 1_000_000_000, 1_500_000_000, 2_000_000_000]) == 2.0
    assert _per_second([7]) is None
    assert _per_second([3, 3]) is None


def test_services_read_their_counters_in_mib_and_seconds() -> None:
    record = {
        "wh-a": {
            "role": "wholesaler",
            "counters": {
                "rss.peak_kb": 81_920,
                "pss.peak_kb": 51_200,
                "cpu.ms": 2_500,
                "queue.peak": 7,
                "busy.queued_peak": 11,
                "busy.lag_peak_us": 4_999,
                "orders.in": 5,
                "child@lit-a.in": 3,
                "orders.terminal": 4,
            },
            "cpu_ms_at_inject": 1_000,
        },
        "value": {"role": "value", "counters": {}},
    }
    wh, value = sorted(_services(record), key=lambda s: s.name, reverse=True)
    assert (wh.rss_peak_mib, wh.pss_peak_mib, wh.cpu_s, wh.cpu_inject_s) == (80.0, 50.0, 2.5, 1.5)
    assert (wh.queued_peak, wh.lag_peak_ms) == (11, 4)
    assert wh.messages_in == 8  # the receive loops' counters, nothing else
    assert value.rss_peak_mib is None and value.queued_peak == 0


def test_the_table_shows_every_rate_and_what_it_missed() -> None:
    points = assess([point(500), point(8000, auction_p99=300.0)], window_ms=100)
    result = LoadResult(
        date="d",
        scenario="retail-day",
        security="curve",
        cpus=2,
        python="3.11",
        window_ms=100,
        orders_per_rate=1000,
        points=points,
        highest_met_rate=highest_met(points),
        seconds=1.0,
    )
    text = format_load(result)
    lines = text.splitlines()
    assert lines[0].split()[0] == "rate/s"
    assert lines[2].split()[0] == "500" and lines[3].split()[0] == "8,000"
    assert "8,000/s missed: auction TTE p99 300.0 ms > 1.5x the 100 ms window" in lines
    assert lines[-1] == "highest rate that met the targets: 500 orders/s (reference: 500/s)"


def test_a_point_without_memory_figures_is_not_held_to_the_memory_target() -> None:
    # a platform without /proc/self/smaps_rollup reports no PSS: no memory verdict either way
    unknown = msgspec.structs.replace(point(500), pss_total_mib=None)
    assert assess([unknown], window_ms=100)[0].met


def test_memory_is_this_programs_own_and_grows_with_what_it_touches() -> None:
    from services.limits import memory_kb

    def status_kb(field: str) -> int:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith(field))

    before = memory_kb()
    if "rss.peak_kb" not in before:
        pytest.skip("no /proc/self/status here")
    assert before["rss.peak_kb"] == status_kb("VmHWM:")
    # touch enough to pass the peak by 64 MiB, whatever this process held before
    size = (before["rss.peak_kb"] - status_kb("VmRSS:") + 64 * 1024) * 1024
    block = bytearray(size)
    block[::4096] = b"x" * len(block[::4096])
    after = memory_kb()
    # the peak grew by the 64 MiB past it (allow 4 MiB for the interpreter's own moves)
    assert after["rss.peak_kb"] - before["rss.peak_kb"] >= 60 * 1024
    assert 0 < after["pss.peak_kb"] <= after["rss.peak_kb"]
    del block
