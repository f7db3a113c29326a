"""Backpressure instead of unbounded queues (issue 13 item 4), and rate limits per client
(item 5).

``flowlab compare`` runs as a user runs it, with a burst far above what the lab of
``scenarios/overload.toml`` may work at once (the broker 12 orders, the auction 2 auctions).
The orders past the bounds must be refused busy (typed, counted on the heartbeats, on the tape),
every accepted order must end, the services' memory must stay flat, and the run must say it
was overloaded: exit 1, ``summary.json``'s ``run_state``, the report's first lines (and
``flowlab.compare``'s ``Comparison.state``). Then a raw
client sends faster than its rate allows: the orders past it are refused ``rate`` and counted,
and another client is served.
"""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import msgspec
import zmq
import zmq.asyncio

import flowlab
from config.runconfig import load_run_config
from config.scenario import LinkLatency, load_scenario
from orchestration.launcher import LabSupervisor
from orchestration.tape import build_tables, read_tape
from protocol.common import OrderType
from protocol.orders import (
    BUSY,
    RATE,
    CancelOrder,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderRouted,
)
from tests.helpers import Client, eventually, market_order, wait_until
from tests.integration.test_faults import TINY, _pid_of

OVERLOAD = Path(__file__).with_name("scenarios") / "overload.toml"
ORDERS, ORDERS_PER_S = 1_500, 3_000
WATCHED = ("broker", "auction", "sor")
# What a service's resident memory may grow by during the burst: the broker works at most 12
# orders at once, so a few thousand refused ones must not show (a queue of them would).
RSS_GROWTH_BOUND_KIB = 64 * 1024


def _rss_kib(pid: int | None) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (OSError, TypeError):
        return None
    rss = [int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")]
    return rss[0] if rss else None  # a process that has exited (a zombie) has none


def _step(child: OrderRouted | str) -> int:
    """The broker's child number of a route or a child id (``<order>~<n>``)."""
    child_id = child.child_id if isinstance(child, OrderRouted) else child
    return int(child_id.rpartition("~")[2])


def test_a_burst_above_capacity_is_refused_busy_counted_in_bounded_memory_and_marked_overloaded(
    tmp_path: Path,
) -> None:
    runs, stderr = tmp_path / "runs", tmp_path / "compare.err"
    with stderr.open("w") as err_file:  # a file, not a pipe: nobody reads it while we sample
        compare = subprocess.Popen(
            [
                *[sys.executable, "-m", "orchestration.cli", "compare"],
                *["--scenario", str(OVERLOAD), "--orders", str(ORDERS)],
                *["--rate", str(ORDERS_PER_S), "--settle", "0", "--runs", str(runs), "--no-live"],
            ],
            stdout=subprocess.DEVNULL,
            stderr=err_file,
        )
    peak: dict[str, int] = {}

    def sample() -> bool:  # the peak resident memory of each watched service, until compare ends
        for name, pid in pids.items():
            rss = _rss_kib(pid)
            if rss is not None:
                peak[name] = max(peak.get(name, 0), rss)
        return compare.poll() is not None

    try:
        assert wait_until(lambda: any(runs.glob("*/logs/injector.log")), timeout=90)
        (run_dir,) = runs.glob("*-overload")
        pids = {name: _pid_of(run_dir, name) for name in WATCHED}
        baseline = {name: _rss_kib(pid) for name, pid in pids.items()}  # ready, before the burst
        assert wait_until(sample, timeout=120, interval=0.05)
    finally:
        if compare.poll() is None:
            compare.kill()
        compare.wait(timeout=30)
    err = stderr.read_text()

    # the run says it was overloaded, naming the services: exit 1, summary, report
    assert compare.returncode == 1, err[-3000:]
    assert "flowlab compare: run overloaded: " in err and "--allow-overload" in err
    state = json.loads((run_dir / "summary.json").read_text())["run_state"]
    assert state["state"] == "overloaded" and state["faults"] == []
    overloads = {o["name"]: o for o in state["overloads"]}
    report = (run_dir / "report.md").read_text()
    assert "**Run overloaded**" in report
    for name, bound in (("broker", 12), ("auction", 2)):
        assert overloads[name]["busy"] > 0
        assert overloads[name]["pending_bound"] == bound
        assert 0 < overloads[name]["pending_peak"] <= bound  # never worked more than its bound
        assert f"Overload: {name} ({name}) refused {overloads[name]['busy']} orders busy" in report

    # every refusal is a typed busy reject on the tape, as many as the heartbeats counted
    tape = [(service, msg) for service, _, msg in read_tape(run_dir)]
    busy = [(s, m) for s, m in tape if isinstance(m, OrderRejected) and m.field == BUSY]
    assert Counter(s for s, _ in busy) == {n: o["busy"] for n, o in overloads.items() if o["busy"]}
    assert all(m.reason.startswith(f"busy: {s} ") for s, m in busy)

    # every order sent was either refused busy by the broker or accepted, and every accepted
    # order ended; an order the auction refused went on to its plan's next step
    orders = build_tables(run_dir, load_run_config(run_dir / "config.toml"))["orders"]
    assert len(orders) + overloads["broker"]["busy"] == ORDERS
    assert not (orders["status"] == "open").any()
    routes = [m for s, m in tape if s == "broker" and isinstance(m, OrderRouted)]
    parent_of = {r.child_id: r.order_id for r in routes}
    refused_children = [m.order_id for s, m in busy if s == "auction"]
    for child in refused_children:
        later = [r for r in routes if r.order_id == parent_of[child] and _step(r) > _step(child)]
        assert later, f"{child}: refused busy by the auction, never routed on"

    # memory stayed flat: the refused orders were never queued
    for name in WATCHED:
        growth = peak[name] - (baseline[name] or 0)
        assert growth < RSS_GROWTH_BOUND_KIB, f"{name} grew {growth} KiB during the burst"


def test_flowlab_compare_of_a_burst_above_capacity_says_overloaded(tmp_path: Path) -> None:
    result = flowlab.compare(
        OVERLOAD, orders=400, rate=ORDERS_PER_S, settle_s=0, runs_root=tmp_path
    )

    assert result.clean, result.exit_codes  # an overload is not a crash: every process exited 0
    assert result.state == "overloaded"
    broker = next(o for o in result.run_state["overloads"] if o["name"] == "broker")
    assert broker["busy"] > 0 and broker["pending_peak"] <= broker["pending_bound"] == 12


RATE_PER_S, BURST, SENT = 5, 10, 30


async def test_a_client_past_its_rate_is_refused_rate_counted_and_another_is_served(
    tmp_path: Path,
) -> None:
    scenario = load_scenario(TINY)
    limits = msgspec.structs.replace(
        scenario.limits, client_rate_per_s=RATE_PER_S, client_burst=BURST
    )
    security = msgspec.structs.replace(scenario.security, clients=["client", "calm"])
    scenario = msgspec.structs.replace(scenario, limits=limits, security=security)
    lab = LabSupervisor(scenario, runs_root=tmp_path)
    ctx = zmq.asyncio.Context()
    try:
        await lab.start()
        # one key ("client") on two routing ids: the bucket is the key's, not the routing id's
        floods = [Client(ctx, lab.config, "broker", name) for name in ("flood", "flood-2")]
        calm = Client(ctx, lab.config, "broker", "calm", key="calm")
        first_sent = time.monotonic()
        for n in range(SENT):
            await floods[n % 2].send(market_order(order_id=f"f{n}"))
        answers = [
            await floods[n % 2].until(f"f{n}", (OrderAccepted, OrderRejected)) for n in range(SENT)
        ]
        window_s = time.monotonic() - first_sent  # bounds the broker's receiving window
        await calm.send(market_order(order_id="c1"))
        calm_answer = await calm.until("c1", (OrderAccepted, OrderRejected))
        accepted = [int(a.order_id[1:]) for a in answers if isinstance(a, OrderAccepted)]
        for n in accepted:  # every accepted order ends
            await floods[n % 2].until(f"f{n}", (OrderFilled, OrderCanceled))
        refused = [a for a in answers if isinstance(a, OrderRejected)]
        broker = lab.procs["broker"]
        await eventually(lambda: broker.counters.get("rejected.rate") == len(refused), 5.0)
    finally:
        ctx.destroy(linger=0)
        await lab.stop()

    # the burst, plus what the rate refilled while the broker received (at most the window),
    # shared by both routing ids (a bucket each would have let up to twice the burst through)
    assert BURST <= len(accepted) <= BURST + math.ceil(RATE_PER_S * window_s)
    assert refused and all(r.field == RATE for r in refused)
    flood = "flood" if int(refused[0].order_id[1:]) % 2 == 0 else "flood-2"
    assert refused[0].reason == (
        f"rate: client {flood!r} (key 'client') over {RATE_PER_S} messages/s (burst {BURST})"
    )
    assert isinstance(calm_answer, OrderAccepted)  # another key has its own rate


SLOW_US, QUEUED_BOUND, LIMITS_SENT = 300_000, 5, 20


async def test_a_venue_whose_send_queues_are_full_refuses_new_orders_busy_and_ends_the_rest(
    tmp_path: Path,
) -> None:
    """Admission at a lit venue (issue 13 item 4: venues took every order): its replies to client
    ``slow`` take 300 ms, so a burst of resting limit orders fills lit-a's send queues past
    ``[limits] queued``; the orders past it are refused busy (typed, counted), every accepted
    one is canceled and ends, and every process — the market makers whose quotes lit-a may
    also refuse meanwhile — exits cleanly."""
    scenario = load_scenario(TINY)
    slow = LinkLatency(src="lit-a", dst="slow", base_us=SLOW_US, model="constant")
    latency = msgspec.structs.replace(scenario.latency, links=[*scenario.latency.links, slow])
    limits = msgspec.structs.replace(scenario.limits, queued=QUEUED_BOUND)
    security = msgspec.structs.replace(scenario.security, clients=["client"])
    scenario = msgspec.structs.replace(scenario, latency=latency, limits=limits, security=security)
    lab = LabSupervisor(scenario, runs_root=tmp_path)
    ctx = zmq.asyncio.Context()
    try:
        await lab.start()
        client = Client(ctx, lab.config, "lit-a", "slow")
        for n in range(LIMITS_SENT):  # bids far below the market: they rest
            await asyncio.sleep(0.005)  # each read on its own (admission sums queues per read)
            await client.send(
                market_order(order_id=f"l{n}", order_type=OrderType.LIMIT, limit_price=1_000_000)
            )
        answers = [
            await client.until(f"l{n}", (OrderAccepted, OrderRejected)) for n in range(LIMITS_SENT)
        ]
        accepted = [a.order_id for a in answers if isinstance(a, OrderAccepted)]
        for order_id in accepted:
            await client.send(CancelOrder(order_id=order_id, symbol="ACME"))
        for order_id in accepted:
            await client.until(order_id, (OrderCanceled,))
        refused = [a for a in answers if isinstance(a, OrderRejected)]
        venue = lab.procs["lit-a"]
        await eventually(lambda: venue.counters.get("orders.rejected.busy", 0) >= len(refused), 5)
    finally:
        ctx.destroy(linger=0)
        codes = await lab.stop()

    assert accepted and refused  # the first were taken, the rest refused once the queues filled
    assert all(r.field == BUSY for r in refused)
    assert refused[0].reason.startswith("busy: lit-a send queues full (")
    assert all(code == 0 for code in codes.values()), codes
