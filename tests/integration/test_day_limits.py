"""Retail day limit orders on a seeded, quiet market: they rest on the limit venue, fill when the
market comes to them, can be canceled by the client, and end at the close.

The book is seeded (49.90 x 50.10 on lit-a, no agents), so nothing trades unless the test makes
it: every fill below is caused, and every price is known to the micro-dollar.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
import pandas as pd
import zmq
import zmq.asyncio

from config.scenario import Scenario, scenario_from_dict
from orchestration.launcher import LabSupervisor
from orchestration.metrics import order_type_table
from orchestration.streams import validate_rows, write_stream
from orchestration.tape import build_tables
from protocol.common import OrderType, Side, TimeInForce
from protocol.marketdata import NBBO
from protocol.orders import (
    CancelOrder,
    CancelRejected,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    SubmitOrder,
)
from tests.helpers import Client, MarketData


def quiet_scenario() -> Scenario:
    return scenario_from_dict(
        {
            "name": "day-limits",
            "seed": 8,
            "symbols": [{"symbol": "ACME", "price": "50.00"}],
            "venues": [
                {
                    "name": "lit-a",
                    "book": [
                        {"side": "sell", "price": "50.10", "qty": 5000},
                        {"side": "buy", "price": "49.90", "qty": 5000},
                    ],
                }
            ],
            "wholesalers": [{"name": "wh-a", "pfof_per_share": "0.0030"}],
            "broker": {"regimes": ["pfof", "best-ex"]},
            "agents": {"enabled": False},
        }
    )


def street_sell(qty: int, price: int) -> SubmitOrder:
    """Another participant's IOC sell, sent straight to lit-a."""
    return SubmitOrder(
        order_id="street-1",
        symbol="ACME",
        side=Side.SELL,
        qty=qty,
        order_type=OrderType.LIMIT,
        limit_price=price,
        tif=TimeInForce.IOC,
        account="street",
    )


def limit(order_id: str, qty: int, price: int, tif: TimeInForce, regime: str) -> SubmitOrder:
    return SubmitOrder(
        order_id=order_id,
        symbol="ACME",
        side=Side.BUY,
        qty=qty,
        order_type=OrderType.LIMIT,
        limit_price=price,
        tif=tif,
        account="client",
        regime=regime,
    )


def test_day_limits_rest_fill_cancel_and_close(tmp_path: Path) -> None:
    async def scenario() -> tuple[LabSupervisor, dict]:
        lab = LabSupervisor(quiet_scenario(), runs_root=tmp_path)
        seen: dict = {}
        ctx = zmq.asyncio.Context()
        try:
            await lab.start()
            client = Client(ctx, lab.config, lab.scenario.broker.name, "c")
            street = Client(ctx, lab.config, "lit-a", "street")
            sip = MarketData(ctx, lab.config, lab.scenario.sip)
            try:
                await lab.guard(sip.subscribed())  # before anything moves
                # (1) A non-marketable day buy at 50.00 inside the 49.90 x 50.10 market: the
                # wholesaler declines it, the SOR cannot fill it, so it rests on lit-a.
                await client.send(limit("D1", 300, 50_000_000, TimeInForce.DAY, "pfof"))
                await lab.guard(client.until("D1", (OrderAccepted,)))
                # The SIP shows it as the best bid once it rests.
                await lab.guard(sip.until(lambda m: isinstance(m, NBBO) and m.bid_px == 50_000_000))
                # The broker's resting order is now lit-a's best bid: a street sell at 50.00
                # trades against it, 200 shares, at the resting (retail) price.
                await street.send(street_sell(200, 50_000_000))
                await lab.guard(street.until("street-1", (OrderFilled, OrderCanceled)))
                seen["street"] = street.replies["street-1"]
                # (2) The client cancels the rest (the venue reported the fill first).
                await client.send(CancelOrder(order_id="D1", symbol="ACME"))
                seen["d1_end"] = await lab.guard(client.until("D1", (OrderCanceled,)))
                seen["fills"] = [m for m in client.replies["D1"] if isinstance(m, OrderFilled)]
                # A cancel of an order that is done is refused, naming why.
                await client.send(CancelOrder(order_id="D1", symbol="ACME"))
                seen["late_cancel"] = await lab.guard(client.until("D1", (CancelRejected,)))
                # (3) The same order as IOC ends at once: canceled, nothing rests.
                await client.send(limit("I1", 100, 50_000_000, TimeInForce.IOC, "best-ex"))
                seen["i1_end"] = await lab.guard(client.until("I1", (OrderCanceled,)))
                # (4) An order with an expiry time is refused, naming the field.
                expiring = msgspec.structs.replace(
                    limit("X1", 100, 50_000_000, TimeInForce.DAY, "pfof"), expire_ns=1
                )
                await client.send(expiring)
                seen["x1"] = await lab.guard(client.until("X1", (OrderRejected,)))
            finally:
                for sock in (client.sock, street.sock, sip.sock):
                    sock.close(0)
            # (5) The injector's close: two day limits rest until it cancels them; a market
            # order fills at once against the seeded ask.
            rows = [
                _row(0, "S1", "limit", 49_950_000, "day"),
                _row(1_000_000, "S2", "limit", 49_960_000, "day"),
                _row(2_000_000, "S3", "market", None, ""),
            ]
            validate_rows(rows, lab.scenario)
            seen["done"] = await lab.inject(
                write_stream(rows, lab.run_dir / "stream.csv"), timeout_s=20, close_after_s=0.5
            )
        finally:
            ctx.term()
            seen["codes"] = await lab.stop()
        return lab, seen

    lab, seen = asyncio.run(asyncio.wait_for(scenario(), 120))

    assert all(code == 0 for code in seen["codes"].values()), seen["codes"]
    (fill,) = seen["fills"]
    assert (fill.fill_qty, fill.fill_price, fill.leaves_qty, fill.venue) == (
        200,
        50_000_000,
        100,
        "lit-a",
    )
    street_fills = [m for m in seen["street"] if isinstance(m, OrderFilled)]
    assert [(m.fill_qty, m.fill_price) for m in street_fills] == [(200, 50_000_000)]
    end = seen["d1_end"]
    assert (end.cum_qty, end.canceled_qty, end.reason) == (200, 100, "canceled by client")
    assert "unknown order or already done" in seen["late_cancel"].reason
    assert seen["i1_end"].cum_qty == 0
    assert (seen["x1"].order_id, seen["x1"].field) == ("X1", "expire_ns")
    done = seen["done"]
    assert (done.sent, done.terminal, done.filled, done.canceled) == (3, 3, 1, 2)

    tables = build_tables(lab.run_dir, lab.config)
    routes, orders = tables["routes"], tables["orders"].set_index("order_id")
    rested = routes[routes["reason"].str.startswith("rest day limit")]
    assert set(rested["order_id"]) == {"D1", "S1", "S2"}
    assert set(rested["destination"]) == {"lit-a"}
    assert "I1" not in set(rested["order_id"])
    assert orders.loc["D1", "filled_qty"] == 200 and orders.loc["D1", "status"] == "canceled"
    for order_id in ("S1", "S2"):
        assert orders.loc[order_id, "status"] == "canceled"
        waited_s = (orders.loc[order_id, "terminal_ns"] - orders.loc[order_id, "recv_ns"]) / 1e9
        assert waited_s > 0.4  # resting until the close (0.5 s), not canceled on arrival
    assert orders.loc["S3", "status"] == "filled"
    # Rule 605 style: the resting orders are non-marketable limits with their own row; the
    # 50.00 fill counts for fill rate and time to execution, not in price improvement.
    by_type = order_type_table(tables["orders"], tables["fills"]).set_index(
        ["regime", "order_class"]
    )
    row = by_type.loc[("pfof", "non-marketable limit")]
    assert row["orders"] == 1 and row["filled_shares"] == 200 and row["fill_rate"] == 200 / 300
    assert row["nbbo_filled_shares"] == 0 and pd.isna(row["price_improvement_usd_per_share"])


def _row(t_ns: int, order_id: str, order_type: str, price: int | None, tif: str) -> dict:
    return {
        "t_ns": t_ns,
        "order_id": order_id,
        "symbol": "ACME",
        "side": "buy",
        "qty": 100,
        "order_type": order_type,
        "limit_price": "" if price is None else price,
        "limit_offset_bps": "",
        "regime": "best-ex",
        "strategy": "",
        "tif": tif,
    }
