"""The live view's running metrics agree with the report's on the same events."""

from __future__ import annotations

import pytest
from rich.console import Console

from orchestration.live import HEADINGS, Dashboard, RunningMetrics
from protocol.common import Liquidity, OrderType, Side
from protocol.orders import OrderCanceled, OrderFilled, OrderReceived

BID, ASK = 10_000_000, 10_020_000


def received(order_id: str, side: Side, qty: int, regime: str = "pfof") -> OrderReceived:
    return OrderReceived(
        order_id=order_id,
        regime=regime,
        symbol="XYZ",
        side=side,
        qty=qty,
        order_type=OrderType.MARKET,
        limit_price=None,
        recv_ns=1_000_000,
        nbbo_bid=BID,
        nbbo_ask=ASK,
    )


def filled(
    order_id: str, side: Side, qty: int, price: int, leaves: int, exec_ms: int
) -> OrderFilled:
    return OrderFilled(
        order_id=order_id,
        symbol="XYZ",
        side=side,
        fill_qty=qty,
        fill_price=price,
        cum_qty=qty,
        leaves_qty=leaves,
        venue="wh",
        liquidity=Liquidity.INTERNALIZED,
        exec_id="e",
        exec_ns=exec_ms * 1_000_000,
        pfof=qty * 2_000,
    )


def test_running_metrics_match_hand_values_for_buys_sells_partials_and_unfilled():
    metrics = RunningMetrics()
    for msg in (
        received("b1", Side.BUY, 100),
        filled("b1", Side.BUY, 100, 10_015_000, 0, 3),
        received("s1", Side.SELL, 300),
        filled("s1", Side.SELL, 100, 10_010_000, 200, 5),
        OrderCanceled(order_id="s1", symbol="XYZ", canceled_qty=200, cum_qty=100, reason="ioc"),
        received("u1", Side.BUY, 100),
        OrderCanceled(order_id="u1", symbol="XYZ", canceled_qty=100, cum_qty=0, reason="ioc"),
    ):
        metrics.apply(msg)

    tally = metrics.regimes["pfof"]
    assert (tally.orders, tally.terminal, tally.filled_shares) == (3, 3, 200)
    assert tally.improvement_x_shares / tally.nbbo_shares / 1e6 == pytest.approx(0.0075)
    assert tally.effective_2x_shares / 2 / 1e6 == pytest.approx(0.5)  # D*(px-mid)*qty: 0.5 + 0
    assert sorted(tally.tte_ms) == [2.0, 4.0]  # the unfilled order has no time to execution
    row = metrics.rows()[0]
    assert row[:4] == ["pfof", "3", "3", "40.0%"]


def test_dashboard_renders_every_heading_on_a_forced_terminal():
    console = Console(force_terminal=True, width=140, record=True)
    dashboard = Dashboard(10, "flowlab compare", console=console)
    dashboard.metrics.apply(received("b1", Side.BUY, 100))

    console.print(dashboard.render())

    text = console.export_text()
    for heading in HEADINGS:
        assert heading in text
    assert "0/10" in text
