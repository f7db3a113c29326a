"""A wholesaler facing toxic (informed) flow learns it from its markouts and widens its prices."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import numpy as np
import zmq
import zmq.asyncio

from config.scenario import Scenario, scenario_from_dict
from orchestration.launcher import LabSupervisor
from protocol.codec import VERSION, Decoder, encode
from protocol.common import OrderType, Side
from protocol.marketdata import NBBO, SequenceHeartbeat, Trade, ValueUpdate
from protocol.orders import OrderAccepted, OrderCanceled, OrderFilled, OrderRejected, SubmitOrder
from tests.helpers import eventually, lab_socket

ORDERS = 60


def toxic_scenario() -> Scenario:
    # A jumpy value and a slow SIP: whoever watches the value trades before the NBBO moves.
    return scenario_from_dict(
        {
            "name": "toxic",
            "seed": 21,
            "sip_latency_us": 30_000,
            "symbols": [{"symbol": "ACME", "price": "50.00"}],
            "venues": [{"name": "lit-a"}],
            "wholesalers": [
                {
                    "name": "wh-a",
                    "pfof_per_share": "0.0020",
                    "hedge_threshold": 50_000,
                }
            ],
            # The informed edge shows once the slow SIP catches up (30 ms); a short horizon
            # sees it before later jumps drown it in noise. The dealer prices off the NBBO only
            # (no weight on its private view of value), so its markouts are what it learns from.
            "dealers": {
                "inventory_cost_per_1k": "0",
                "markout_horizon_ms": 250,
                "signal_weight": 0.0,
            },
            "broker": {"regimes": ["pfof", "auction"]},
            "auction": {"response_updates": True},  # the responder re-prices in the window
            "value": {
                "tick_ms": 50,
                "jump_rate_per_s": 4.0,
                "jump_bps": 12.0,
                "vol_bps_per_sqrt_s": 2.0,
            },
            "agents": {"noise": {"traders": 1, "rate_per_s": 2.0}, "informed": {"traders": 0}},
        }
    )


async def client(lab: LabSupervisor, informed: bool, regime: str = "pfof") -> list[float]:
    """Send ORDERS market orders to the broker's ``regime`` arm; return each fill's improvement
    ($/sh)."""
    config = lab.config
    ctx = zmq.asyncio.Context()
    socks = []

    def sock(kind: int, service: str, endpoint: str) -> zmq.asyncio.Socket:
        s = lab_socket(ctx, config, kind, service, endpoint)
        socks.append(s)
        return s

    values = sock(zmq.SUB, config.scenario.value.name, "md")
    nbbos = sock(zmq.SUB, config.scenario.sip, "md")
    orders = sock(zmq.DEALER, config.scenario.broker.name, "orders")
    state: dict[str, int | NBBO] = {}
    md = Decoder([ValueUpdate, NBBO, SequenceHeartbeat, Trade])
    reports = Decoder([OrderAccepted, OrderFilled, OrderCanceled, OrderRejected])
    rng = np.random.default_rng(5)
    improvements: list[float] = []
    sent_nbbo: dict[str, NBBO] = {}
    terminal = 0

    async def pump(s: zmq.asyncio.Socket) -> None:
        while True:
            for msg in md.decode(await s.recv_multipart()):
                if isinstance(msg, ValueUpdate):
                    state["value"] = msg.value
                elif isinstance(msg, NBBO):
                    state["nbbo"] = msg

    async def collect() -> None:
        nonlocal terminal
        while terminal < ORDERS:
            for msg in reports.decode(await orders.recv_multipart()):
                if isinstance(msg, OrderFilled):
                    n = sent_nbbo[msg.order_id]
                    edge = (
                        n.ask_px - msg.fill_price
                        if msg.side is Side.BUY
                        else msg.fill_price - n.bid_px
                    )
                    improvements.append(edge / 1e6)
                    terminal += msg.leaves_qty == 0
                elif isinstance(msg, (OrderCanceled, OrderRejected)):
                    terminal += 1

    tasks = [asyncio.create_task(pump(values)), asyncio.create_task(pump(nbbos))]
    collector = asyncio.create_task(collect())
    try:
        sent = 0
        last_value = None
        while sent < ORDERS:
            await asyncio.sleep(0.01)  # pacing the client's own decisions, not waiting for state
            nbbo, value = state.get("nbbo"), state.get("value")
            if not isinstance(nbbo, NBBO) or not nbbo.two_sided or value is None:
                continue
            mid = (nbbo.bid_px + nbbo.ask_px) / 2
            if informed:
                if value == last_value or abs(value - mid) / mid < 4e-4:
                    continue
                side = Side.BUY if value > mid else Side.SELL
            else:
                if rng.random() > 0.2:
                    continue
                side = Side.BUY if rng.random() < 0.5 else Side.SELL
            last_value = value
            sent += 1
            order_id = f"T{int(informed)}-{sent}"
            sent_nbbo[order_id] = nbbo
            msg = SubmitOrder(
                order_id=order_id,
                symbol="ACME",
                side=side,
                qty=200,
                order_type=OrderType.MARKET,
                account="client",
                regime=regime,
            )
            await orders.send_multipart([VERSION, encode(msg)])
        await asyncio.wait_for(collector, 30)
    finally:
        for t in [*tasks, collector]:
            t.cancel()
        await asyncio.gather(*tasks, collector, return_exceptions=True)
        for s in socks:
            s.close(linger=0)
        ctx.term()
    return improvements


async def improvement_under(informed: bool, runs: Path) -> tuple[list[float], int]:
    """Improvements the client got, and the wholesaler's learned adverse selection ($1e-6/sh)."""
    lab = LabSupervisor(toxic_scenario(), runs_root=runs)
    try:
        await lab.start()
        improvements = await lab.guard(client(lab, informed))
        wholesaler = lab.procs["wh-a"]
        # Markouts mature one second after each fill; wait for the last of them (a heartbeat).

        def marked() -> bool:  # every internalised fill's markout is in (or could not be)
            counters = wholesaler.counters
            done = counters.get("internalize.markouts", 0) + counters.get("internalize.unmarked", 0)
            return done >= counters.get("orders.internalized", 0) > 0

        try:
            await lab.guard(eventually(marked, 30))
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {dict(wholesaler.counters)}") from None
        return improvements, wholesaler.counters.get("internalize.adverse_micros.ACME", 0)
    finally:
        codes = await lab.stop()
        assert all(c == 0 for c in codes.values()), codes


def test_wholesaler_facing_informed_flow_learns_adverse_selection_and_widens(
    tmp_path: Path,
) -> None:
    async def both() -> tuple[tuple[list[float], int], tuple[list[float], int]]:
        return await improvement_under(False, tmp_path), await improvement_under(True, tmp_path)

    (calm, adverse_uninformed), (toxic, adverse_informed) = asyncio.run(
        asyncio.wait_for(both(), 200)
    )

    assert adverse_informed > max(adverse_uninformed, 0) + 1_000, (
        adverse_informed,
        adverse_uninformed,
    )
    # What the estimate did to the prices the live wholesaler gave (the client's fills): once it
    # has learned, the informed client gets less improvement than the uninformed one.
    late = ORDERS // 3
    assert np.mean(toxic[-late:]) < np.mean(calm[-late:]), (toxic[-late:], calm[-late:])


def test_auction_informed_flow_moves_the_nbbo_so_the_responder_withdraws_most_responses(
    tmp_path: Path,
) -> None:
    """Informed orders sent to the auction: the market moves their way within the window, so
    the lone responder, which re-prices its live responses on every NBBO move it sees, finds
    most of them priced beyond what its desk will pay at the new quotes and withdraws them
    before the window ends (before responders could update, the auction dropped them at
    execution as outside the NBBO then, Rule 611). The drift that used to reach it as a
    winner's curse now mostly cancels its responses (so it has little adverse selection to
    learn and keeps bidding). What it does win is marked in its auction channel, never in its
    internalisation channel, which saw no flow."""

    async def run() -> tuple[dict[str, int], dict[str, int]]:
        lab = LabSupervisor(toxic_scenario(), runs_root=tmp_path)
        try:
            await lab.start()
            await lab.guard(client(lab, informed=True, regime="auction"))
            wholesaler = lab.procs["wh-a"]

            def marked() -> bool:  # heartbeats replace the counters dict: read it afresh
                counters = wholesaler.counters
                won = counters.get("auctions.won_shares", 0) // 200
                done = counters.get("auction.markouts", 0) + counters.get("auction.unmarked", 0)
                return done >= won

            await lab.guard(eventually(marked, 30))

            def agreed() -> bool:  # two processes' heartbeats: wait until both have the last
                counters, auction = wholesaler.counters, lab.procs["auction"].counters
                withdrawn = counters.get("auctions.withdrawn", 0)
                too_late = counters.get("auctions.withdraw_refused", 0)
                return auction.get("responses.canceled", 0) + too_late == withdrawn

            with contextlib.suppress(AssertionError, TimeoutError):  # asserted below
                await lab.guard(eventually(agreed, 5))
            return dict(wholesaler.counters), dict(lab.procs["auction"].counters)
        finally:
            codes = await lab.stop()
            assert all(c == 0 for c in codes.values()), codes

    counters, auction = asyncio.run(asyncio.wait_for(run(), 120))

    responded = counters.get("auctions.responded", 0)
    withdrawn = counters.get("auctions.withdrawn", 0)
    won = counters.get("auctions.won_shares", 0) // 200
    assert withdrawn > responded // 2 and withdrawn > won, (responded, withdrawn, won)
    # every withdrawal reached the auction in its window, or was refused as too late
    too_late = counters.get("auctions.withdraw_refused", 0)
    assert auction.get("responses.canceled", 0) + too_late == withdrawn, auction
    assert counters.get("internalize.adverse_micros.ACME", 0) == 0
    assert counters.get("internalize.markouts", 0) == 0
    assert counters.get("auction.markouts", 0) + counters.get("auction.unmarked", 0) >= won
