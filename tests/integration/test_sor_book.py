"""The SOR through the running lab on the SOR mini-project's seeded book (one shared run).

``scenarios/sor-book.toml`` loads the book on every symbol with agents off, so each parent below
trades against its own exact copy. The test scenario adds ``lit-slow``: a venue 200 ms away from
the SOR with 20,000 @ 99.98 on BOOK7 and BOOK8, for a child that is still in flight when another
participant takes its liquidity (BOOK7) or when its parent is canceled (BOOK8).

It also gives dark-a two more priced levels on ``DEEP_SYMBOLS`` (seven levels, 85,000 shares),
deeper than the five its indications advertise (65,000): a ``direct:dark-a`` parent for 80,000
fills 65,000 on its first wave and the rest only if its second wave is planned after the pool's
new indication shows the deeper levels (issue 13 item 7: once in three runs it was not).

Phases: (1) parents through a real injector process (``--to sor``); (2) a client of our own for
rejects, a partial fill that must be reallocated, a cancel with a child in flight, and the
deep-pool parents one after another; (3) lit-a
frozen (SIGSTOP) while a greedy parent needs it: the child expires, is rerouted once no report of
it can still arrive, the parent completes with exactly its quantity; lit-a is then resumed and
refuses the expired child (no late fill).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pandas as pd
import pytest
import zmq
import zmq.asyncio

from config.runconfig import RunConfig
from config.scenario import LinkLatency, SeedLevel, SymbolSpec, VenueSpec, load_scenario
from orchestration.bestex import bestex_table
from orchestration.launcher import LabSupervisor
from orchestration.streams import write_stream
from orchestration.tape import read_tape
from protocol.common import OrderType, Side, TimeInForce
from protocol.control import InjectionDone
from protocol.orders import (
    CancelOrder,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderRouted,
    ParentCompleted,
    SubmitOrder,
)
from tests.helpers import Client, eventually, pid_alive

SCENARIO = Path(__file__).parents[2] / "scenarios" / "sor-book.toml"
CHILD_TIMEOUT_MS = 700
INJECTED = {  # order_id: (symbol, strategy)
    "greedy-1": ("BOOK1", "greedy"),
    "optimal-1": ("BOOK2", "optimal"),
    "lit-a-alone": ("BOOK3", "direct:lit-a"),
    "min-impact-1": ("BOOK4", "min-impact"),
    "twap-1": ("BOOK5", "twap:600:3"),
}
DEEP_SYMBOLS = [f"DEEP{n}" for n in range(1, 7)]
DEEP_QTY = 80_000


def sor_test_scenario():  # type: ignore[no-untyped-def]
    scenario = load_scenario(SCENARIO)
    slow = VenueSpec(
        name="lit-slow",
        taker_fee="0",
        maker_rebate="0",
        book=[
            SeedLevel(symbol=s, side="sell", price="99.98", qty=20_000) for s in ("BOOK7", "BOOK8")
        ],
    )
    latency = msgspec.structs.replace(
        scenario.latency,
        links=[
            *scenario.latency.links,
            LinkLatency(src="sor", dst="lit-slow", base_us=200_000, model="constant"),
        ],
    )
    sor = msgspec.structs.replace(scenario.sor, child_timeout_ms=CHILD_TIMEOUT_MS)
    deep_levels = [
        SeedLevel(symbol=s, side="sell", price=price, qty=10_000)
        for s in DEEP_SYMBOLS
        for price in ("100.03", "100.04", "100.05", "100.06", "100.07")
    ]
    darkpools = [
        msgspec.structs.replace(d, book=[*d.book, *deep_levels]) if d.name == "dark-a" else d
        for d in scenario.darkpools
    ]
    symbols = [*scenario.symbols, *(SymbolSpec(symbol=s, price="100.00") for s in DEEP_SYMBOLS)]
    return msgspec.structs.replace(
        scenario,
        symbols=symbols,
        venues=[*scenario.venues, slow],
        darkpools=darkpools,
        latency=latency,
        sor=sor,
    )


@dataclass
class SorRun:
    config: RunConfig
    done: InjectionDone
    replies: dict[str, list[Any]]
    freeze_terminal_s: float
    exit_codes: dict[str, int | None]
    pids: list[int]
    sor_counters: dict[str, int]
    tape: list[tuple[str, int, Any]] = field(default_factory=list)
    bestex: pd.DataFrame | None = None


def parent(order_id: str, symbol: str, strategy: str, qty: int, **extra: Any) -> SubmitOrder:
    fields = {"order_type": OrderType.MARKET, **extra}
    return SubmitOrder(
        order_id=order_id,
        symbol=symbol,
        side=Side.BUY,
        qty=qty,
        account="test",
        strategy=strategy,
        **fields,
    )


TERMINAL = (OrderFilled, OrderCanceled, OrderRejected)


async def run_sor_lab(runs: Path) -> SorRun:
    scenario = sor_test_scenario()
    lab = LabSupervisor(scenario, runs_root=runs)
    ctx = zmq.asyncio.Context()
    frozen: int | None = None
    try:
        await lab.start()
        # (1) parents through a real injector process, all at once, each on its own book
        rows = [
            {
                "t_ns": 0,
                "order_id": oid,
                "symbol": sym,
                "side": "buy",
                "qty": 100_000,
                "order_type": "market",
                "strategy": st,
            }
            for oid, (sym, st) in INJECTED.items()
        ]
        done = await lab.inject(
            write_stream(rows, lab.run_dir / "parents.csv"), target=scenario.sor.name, timeout_s=20
        )
        # (2) our own client
        sor = Client(ctx, lab.config, scenario.sor.name, "client")
        rival = Client(ctx, lab.config, "lit-slow", "rival")
        await sor.send(parent("bad-strategy", "BOOK6", "bogus", 100))
        await sor.send(parent("bad-symbol", "NOPE", "greedy", 100))
        await sor.send(parent("bad-type", "BOOK6", "greedy", 100, order_type=OrderType.MIDPOINT))
        for oid in ("bad-strategy", "bad-symbol", "bad-type"):
            await lab.guard(sor.until(oid, (OrderRejected,)))
        # a child in flight to lit-slow loses 15,000 of its 20,000 to a rival: the rest is rerouted
        await sor.send(parent("partial", "BOOK7", "optimal", 30_000))
        await lab.guard(sor.until("partial", (OrderAccepted,)))
        await rival.send(
            SubmitOrder(
                order_id="rival-1",
                symbol="BOOK7",
                side=Side.BUY,
                qty=15_000,
                order_type=OrderType.LIMIT,
                limit_price=99_980_000,
                tif=TimeInForce.IOC,
                account="rival",
            )
        )
        await lab.guard(rival.until("rival-1", (OrderFilled, OrderCanceled)))
        await lab.guard(sor.until("partial", TERMINAL))
        # a cancel while its only child is in flight: the parent ends canceled with that fill
        await sor.send(
            parent(
                "cancel-me",
                "BOOK8",
                "optimal",
                50_000,
                order_type=OrderType.LIMIT,
                limit_price=99_980_000,
            )
        )
        await lab.guard(sor.until("cancel-me", (OrderAccepted,)))
        await sor.send(CancelOrder(order_id="cancel-me", symbol="BOOK8"))
        await lab.guard(sor.until("cancel-me", TERMINAL))
        # the same seeded deep pool, six times, one parent after the other
        for n, symbol in enumerate(DEEP_SYMBOLS, 1):
            await sor.send(parent(f"deep-{n}", symbol, "direct:dark-a", DEEP_QTY))
            await lab.guard(sor.until(f"deep-{n}", TERMINAL))
        # (3) lit-a stops answering while a greedy parent needs it
        frozen = lab.procs["lit-a"].pid
        os.kill(frozen, signal.SIGSTOP)
        started = time.monotonic()
        await sor.send(parent("frozen-venue", "BOOK9", "greedy", 100_000))
        await lab.guard(sor.until("frozen-venue", TERMINAL, timeout=10))
        freeze_terminal_s = time.monotonic() - started
        os.kill(frozen, signal.SIGCONT)
        frozen = None
        sor_proc = lab.procs[scenario.sor.name]  # lit-a, resumed, answers the stale child
        answered = ("children.expired", "children.late_fills")
        await lab.guard(eventually(lambda: any(sor_proc.counters.get(k) for k in answered)))
        sor_counters = dict(sor_proc.counters)
        replies = sor.replies
    finally:
        if frozen is not None:
            os.kill(frozen, signal.SIGCONT)
        ctx.destroy(linger=0)  # closes our clients' sockets too, on failure as well
        exit_codes = await lab.stop()
    tape = list(read_tape(lab.run_dir))
    return SorRun(
        lab.config,
        done,
        replies,
        freeze_terminal_s,
        exit_codes,
        [p.pid for p in lab.procs.values()],
        sor_counters,
        tape,
        bestex_table(tape, lab.config),
    )


@pytest.fixture(scope="module")
def sor_run(tmp_path_factory: pytest.TempPathFactory) -> SorRun:
    return asyncio.run(asyncio.wait_for(run_sor_lab(tmp_path_factory.mktemp("sor")), 120))


def _row(run: SorRun, order_id: str) -> Any:
    assert run.bestex is not None
    rows = run.bestex[run.bestex["order_id"] == order_id]
    assert len(rows) == 1, order_id
    return rows.iloc[0]


def _completed(run: SorRun, order_id: str) -> ParentCompleted:
    (done,) = [
        m for s, _, m in run.tape if isinstance(m, ParentCompleted) and m.order_id == order_id
    ]
    return done


def _routes(run: SorRun, order_id: str) -> list[OrderRouted]:
    return [
        m
        for s, _, m in run.tape
        if isinstance(m, OrderRouted) and s == "sor" and m.order_id == order_id
    ]


def test_sor_lab_every_process_exits_cleanly(sor_run: SorRun) -> None:
    assert sor_run.exit_codes and all(code == 0 for code in sor_run.exit_codes.values()), (
        sor_run.exit_codes
    )
    assert not [pid for pid in sor_run.pids if pid_alive(pid)]


def test_sor_injected_parents_each_reach_one_terminal_state(sor_run: SorRun) -> None:
    assert (sor_run.done.sent, sor_run.done.terminal, sor_run.done.timed_out) == (
        len(INJECTED),
        len(INJECTED),
        0,
    )
    completed = [m.order_id for _, _, m in sor_run.tape if isinstance(m, ParentCompleted)]
    assert len(completed) == len(set(completed))


def test_sor_greedy_mini_project_book_fills_at_vwap_100_0085(sor_run: SorRun) -> None:
    done = _completed(sor_run, "greedy-1")

    assert (done.state, done.cum_qty, done.notional, done.avg_price) == (
        "filled",
        100_000,
        10_000_850_000_000,
        100_008_500,
    )
    assert sorted((r.destination, r.qty) for r in _routes(sor_run, "greedy-1")) == [
        ("dark-a", 20_000),
        ("dark-b", 15_000),
        ("lit-a", 40_000),
        ("lit-b", 25_000),
    ]


def test_sor_optimal_mini_project_book_fills_at_vwap_100_0045(sor_run: SorRun) -> None:
    done = _completed(sor_run, "optimal-1")

    assert (done.state, done.cum_qty, done.notional, done.avg_price) == (
        "filled",
        100_000,
        10_000_450_000_000,
        100_004_500,
    )
    assert done.lit_shown_qty == 45_000


def test_sor_lit_a_alone_fills_90_000_at_about_100_0278(sor_run: SorRun) -> None:
    done = _completed(sor_run, "lit-a-alone")

    assert (done.state, done.cum_qty, done.avg_price) == ("canceled", 90_000, 100_027_778)
    assert done.notional == 9_002_500_000_000
    assert done.reason == "no liquidity within the limit"


def test_sor_min_impact_goes_dark_first_never_worse_than_optimal(sor_run: SorRun) -> None:
    done = _completed(sor_run, "min-impact-1")
    routes = _routes(sor_run, "min-impact-1")

    assert (done.state, done.avg_price) == ("filled", 100_004_500)
    assert {r.destination for r in routes if r.wave == 1} == {"dark-a", "dark-b"}
    assert {r.destination for r in routes if r.wave == 2} == {"lit-b"}


def test_sor_twap_slices_over_its_horizon(sor_run: SorRun) -> None:
    done = _completed(sor_run, "twap-1")
    waves = sorted({r.wave for r in _routes(sor_run, "twap-1")})

    assert (done.state, done.cum_qty, done.avg_price) == ("filled", 100_000, 100_004_500)
    assert len(waves) >= 3
    assert (done.done_ns - done.recv_ns) / 1e6 >= 400  # the last slice opens at 400 ms


def test_sor_bad_parents_rejected_naming_the_field(sor_run: SorRun) -> None:
    fields = {
        oid: sor_run.replies[oid][-1].field for oid in ("bad-strategy", "bad-symbol", "bad-type")
    }

    assert fields == {"bad-strategy": "strategy", "bad-symbol": "symbol", "bad-type": "order_type"}
    assert "unknown strategy 'bogus'" in sor_run.replies["bad-strategy"][-1].reason


def test_sor_partial_fill_remainder_reallocated_and_parent_completes(sor_run: SorRun) -> None:
    done = _completed(sor_run, "partial")
    routes = _routes(sor_run, "partial")
    slow = [r for r in routes if r.destination == "lit-slow"]
    slow_fills = sum(
        m.fill_qty
        for s, _, m in sor_run.tape
        if isinstance(m, OrderFilled) and s == "lit-slow" and m.order_id == slow[0].child_id
    )

    assert (done.state, done.cum_qty) == ("filled", 30_000)
    assert [(r.qty, r.wave) for r in slow] == [(20_000, 1)]
    assert slow_fills == 5_000
    assert sum(r.qty for r in routes if r.wave > 1) == 15_000


def test_sor_cancel_with_child_in_flight_ends_canceled_with_its_fill(sor_run: SorRun) -> None:
    terminal = sor_run.replies["cancel-me"][-1]
    reasons = [r.reason for r in _routes(sor_run, "cancel-me")]

    assert isinstance(terminal, OrderCanceled)
    assert (terminal.cum_qty, terminal.canceled_qty, terminal.reason) == (
        20_000,
        30_000,
        "canceled by client",
    )
    assert "cancel: parent canceled by client" in reasons
    assert _completed(sor_run, "cancel-me").state == "canceled"


def test_sor_frozen_venue_child_times_out_and_parent_completes(sor_run: SorRun) -> None:
    done = _completed(sor_run, "frozen-venue")
    reasons = [r.reason for r in _routes(sor_run, "frozen-venue")]

    assert (done.state, done.cum_qty) == ("filled", 100_000)
    assert any(r.startswith("timeout: no report in 700 ms (expired at the venue)") for r in reasons)
    assert sor_run.freeze_terminal_s < CHILD_TIMEOUT_MS / 1000 + 2.0


def test_sor_frozen_venue_rerouted_only_after_expiry_plus_grace(sor_run: SorRun) -> None:
    routes = _routes(sor_run, "frozen-venue")
    (timeout,) = [r for r in routes if r.reason.startswith("timeout:")]
    (sent,) = [r for r in routes if r.child_id == timeout.child_id and r is not timeout]
    later = [r for r in routes if r.wave > 1]
    # lit-a -> sor: the scenario's default link, lognormal 100 us + 20 us jitter: bound 0.5 ms
    grace_ns = 500_000 + sor_test_scenario().sor.child_grace_ms * 1_000_000

    assert (sent.destination, sent.wave) == ("lit-a", 1)
    # The child's expiry is its send time + 700 ms; its route is stamped a little after that.
    assert timeout.ts_ns - sent.ts_ns >= CHILD_TIMEOUT_MS * 1_000_000 + grace_ns - 1_000_000
    assert later and min(r.ts_ns for r in later) >= timeout.ts_ns
    assert sum(r.qty for r in later if r.wave == 2) == sent.qty  # the abandoned shares, at once


def test_sor_frozen_venue_refuses_the_expired_child_no_late_fill(sor_run: SorRun) -> None:
    routes = _routes(sor_run, "frozen-venue")
    (stale,) = [r.child_id for r in routes if r.reason.startswith("timeout:")]
    children = {r.child_id for r in routes}
    rejects = [m for s, _, m in sor_run.tape if s == "lit-a" and isinstance(m, OrderRejected)]
    executed = sum(
        m.fill_qty
        for s, _, m in sor_run.tape
        if isinstance(m, OrderFilled) and s != "sor" and m.order_id in children
    )

    assert [(m.order_id, m.field) for m in rejects] == [(stale, "expire_ns")]
    assert rejects[0].reason.startswith("expired: arrived ")
    assert rejects[0].reason.endswith(" ms after its expiry")
    assert executed == 100_000  # every share the venues executed for it, exactly its quantity
    assert _row(sor_run, "frozen-venue")["late_fill_qty"] == 0
    assert sor_run.sor_counters.get("children.late_fills", 0) == 0
    assert sor_run.sor_counters["children.expired"] == 1


def test_sor_bestex_report_compares_each_parent_with_the_single_venue_baseline(
    sor_run: SorRun,
) -> None:
    greedy, optimal = _row(sor_run, "greedy-1"), _row(sor_run, "optimal-1")

    assert optimal["best_baseline"] == greedy["best_baseline"] == "direct:lit-a"
    assert optimal["vs_baseline_bps"] < greedy["vs_baseline_bps"] < 0
    assert optimal["vwap"] == 100_004_500 and optimal["arrival_mid"] == 99_985_000
    assert greedy["lit_shown_qty"] == 65_000 and greedy["fill_rate"] == 1.0


def test_sor_direct_to_a_pool_deeper_than_it_advertises_fills_the_same_every_run(
    sor_run: SorRun,
) -> None:
    # dark-a on each DEEP symbol: 20,000 @ 100.01, 15,000 @ 100.02, then 10,000 at each cent
    # from 100.03 to 100.07; its indications show five levels (to 100.05, 65,000 shares).
    # 80,000 takes everything through 100.06 and 5,000 @ 100.07, by hand (micro-dollars):
    notional = (
        20_000 * 100_010_000
        + 15_000 * 100_020_000
        + 10_000 * (100_030_000 + 100_040_000 + 100_050_000 + 100_060_000)
        + 5_000 * 100_070_000
    )
    vwap = notional // DEEP_QTY  # 100.033125 exactly
    assert vwap * DEEP_QTY == notional

    outcomes = [
        (done.state, done.cum_qty, done.avg_price, done.waves)
        for done in (_completed(sor_run, f"deep-{n}") for n in range(1, len(DEEP_SYMBOLS) + 1))
    ]

    assert outcomes == [("filled", DEEP_QTY, vwap, 2)] * len(DEEP_SYMBOLS)
    assert sor_run.sor_counters.get("waves.view_overdue", 0) == 0
