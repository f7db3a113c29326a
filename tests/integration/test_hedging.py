"""A wholesaler past its hedge threshold hedges on the lit market, and the hedge moves it.

A quiet, seeded market (agents off) makes every number exact: lit-a offers 500 @ $50.10 then
5,000 @ $50.11. Two retail buys of 600 (PFOF arm) leave wh-a short 1,200, past its 1,000-share
threshold: it buys back down to half the threshold (700 shares) with an IOC at the NBBO ask,
takes the 500 offered at $50.10, and the ask moves to $50.11 for everyone.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import zmq
import zmq.asyncio

from config.scenario import Scenario, scenario_from_dict
from orchestration.launcher import LabSupervisor
from orchestration.tape import build_tables, read_tape
from orchestration.welfare import OUTSIDE, welfare_tables
from protocol.common import OrderType, Side
from protocol.control import PnlReport
from protocol.marketdata import NBBO
from protocol.orders import OrderCanceled, OrderFilled, OrderRejected, SubmitOrder
from tests.helpers import Client, MarketData, eventually

ASK, NEXT_ASK = 50_100_000, 50_110_000


def hedging_scenario() -> Scenario:
    return scenario_from_dict(
        {
            "name": "hedging",
            "seed": 9,
            "symbols": [{"symbol": "ACME", "price": "50.00"}],
            "venues": [
                {
                    "name": "lit-a",
                    "book": [
                        {"side": "sell", "price": "50.10", "qty": 500},
                        {"side": "sell", "price": "50.11", "qty": 5000},
                        {"side": "buy", "price": "49.90", "qty": 5000},
                    ],
                }
            ],
            "wholesalers": [{"name": "wh-a", "pfof_per_share": "0.0030", "hedge_threshold": 1_000}],
            "broker": {"regimes": ["pfof"]},
            "agents": {"enabled": False},
        }
    )


def buy(order_id: str, qty: int) -> SubmitOrder:
    return SubmitOrder(
        order_id=order_id,
        symbol="ACME",
        side=Side.BUY,
        qty=qty,
        order_type=OrderType.MARKET,
        account="client",
        regime="pfof",
    )


def test_wholesaler_hedges_past_its_threshold_and_the_hedge_moves_the_ask(
    tmp_path: Path,
) -> None:
    async def scenario() -> tuple[LabSupervisor, dict]:
        lab = LabSupervisor(hedging_scenario(), runs_root=tmp_path)
        seen: dict = {}
        ctx = zmq.asyncio.Context()
        sip: MarketData | None = None
        try:
            await lab.start()
            sip = MarketData(ctx, lab.config, lab.scenario.sip)
            await lab.guard(sip.subscribed())
            client = Client(ctx, lab.config, lab.scenario.broker.name, "c")
            try:
                for order_id in ("B1", "B2"):
                    await client.send(buy(order_id, 600))
                    done = await lab.guard(
                        client.until(order_id, (OrderFilled, OrderCanceled, OrderRejected))
                    )
                    seen[order_id] = client.replies[order_id]
                    assert isinstance(done, OrderFilled), done
                await lab.guard(sip.until(lambda m: isinstance(m, NBBO) and m.ask_px == NEXT_ASK))
                wholesaler = lab.procs["wh-a"]
                await lab.guard(eventually(lambda: wholesaler.counters.get("hedges.sent", 0) >= 1))
                seen["hedges"] = wholesaler.counters["hedges.sent"]
            finally:
                client.sock.close(0)
        finally:
            if sip is not None:
                sip.close()
            ctx.term()
            seen["codes"] = await lab.stop()
        return lab, seen

    lab, seen = asyncio.run(asyncio.wait_for(scenario(), 120))

    assert all(code == 0 for code in seen["codes"].values()), seen["codes"]
    for order_id in ("B1", "B2"):
        fills = [m for m in seen[order_id] if isinstance(m, OrderFilled)]
        assert sum(f.fill_qty for f in fills) == 600
        assert all(f.venue == "wh-a" and f.fill_price <= ASK for f in fills)  # internalised
    assert seen["hedges"] == 1  # one hedge: the IOC for 700 took the 500 shown at $50.10

    venue_fills = [
        msg
        for service, _ns, msg in read_tape(lab.run_dir)
        if service == "lit-a" and isinstance(msg, OrderFilled) and msg.order_id.startswith("wh-a")
    ]
    assert [(f.side, f.fill_qty, f.fill_price) for f in venue_fills] == [(Side.BUY, 500, ASK)]
    (report,) = [
        msg
        for service, _ns, msg in read_tape(lab.run_dir)
        if service == "wh-a" and isinstance(msg, PnlReport)
    ]
    assert report.inventory["ACME"] == -1_200 + 500
    assert report.components["fees"] == 500 * 3_000  # the taker fee of the hedge, $0.0030/share
    parts = report.components
    assert parts["total"] == (
        parts["spread_capture"]
        - parts["pfof_paid"]
        - parts["fees"]
        - parts["hedge_cost"]
        + parts["inventory_and_adverse_selection"]
    )

    # Welfare: the hedge is outside the regimes, wh-a's welfare + revaluation is its P&L.
    welfare, recon = welfare_tables(build_tables(lab.run_dir, lab.config))
    hedge = welfare[welfare["regime"] == OUTSIDE].set_index("party")
    wh_a = recon.set_index("party").loc["wh-a"]

    assert (welfare.groupby("regime")["gain_micros"].sum() == 0).all()
    assert set(hedge.index) == {"wh-a", "lit-a", "seed@lit-a"}  # the seeded book sold
    assert hedge.loc["lit-a", "gain_micros"] == 500 * 3_000  # the hedge's taker fee
    assert hedge.loc["wh-a", ["trades", "shares"]].tolist() == [1, 500]
    assert wh_a["trades"] == 3 and wh_a["end_position_shares"] == 700
    assert abs(wh_a["residual_usd"]) <= wh_a["tolerance_usd"]
