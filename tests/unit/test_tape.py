"""``tape.build_tables`` on a small hand-written tape: each message type lands in its table."""

from __future__ import annotations

from pathlib import Path

import msgpack
import pytest

from config.scenario import load_scenario
from orchestration.endpoints import resolve_loopback
from orchestration.tape import TABLES, TAPE_FILE, build_tables
from protocol.codec import encode
from protocol.common import Liquidity, OrderType, Side
from protocol.control import PnlReport
from protocol.marketdata import NBBO
from protocol.orders import OrderCanceled, OrderFilled, OrderReceived

BROKER = load_scenario().broker.name


def received(order_id: str, ts: int) -> OrderReceived:
    return OrderReceived(
        order_id=order_id,
        regime="pfof",
        symbol="ACME",
        side=Side.BUY,
        qty=100,
        order_type=OrderType.MARKET,
        limit_price=None,
        recv_ns=ts,
        nbbo_bid=None,
        nbbo_ask=50_010_000,
        created_ns=ts - 40,
    )


def filled(order_id: str, ts: int) -> OrderFilled:
    return OrderFilled(
        order_id=order_id,
        symbol="ACME",
        side=Side.BUY,
        fill_qty=100,
        fill_price=50_000_000,
        cum_qty=100,
        leaves_qty=0,
        venue="wh-a",
        liquidity=Liquidity.INTERNALIZED,
        exec_id="x1",
        exec_ns=ts - 7,
        ts_ns=ts,
        pfof=20,
    )


@pytest.fixture
def tables(tmp_path: Path) -> dict:
    canceled = OrderCanceled(
        order_id="C2", symbol="ACME", canceled_qty=100, cum_qty=0, reason="close", ts_ns=1_500
    )
    nbbo = NBBO(
        symbol="ACME",
        seq=1,
        bid_px=None,
        bid_qty=0,
        bid_venue="",
        ask_px=50_010_000,
        ask_qty=300,
        ask_venue="lit-a",
        ts_ns=900,
    )
    pnl = PnlReport(name="wh-a", role="wholesaler", components={"total": 2_500_000})
    entries = [
        (BROKER, received("C1", 1_000)),
        (BROKER, received("C2", 1_100)),
        ("wh-a", received("elsewhere", 1_200)),  # only the broker's receipts are client orders
        ("wh-a", filled("C1", 1_250)),
        (BROKER, filled("C1", 1_300)),
        (BROKER, canceled),
        ("sip", nbbo),
        ("wh-a", pnl),
    ]
    with (tmp_path / TAPE_FILE).open("wb") as f:
        for service, msg in entries:
            f.write(msgpack.packb([service, 0, encode(msg)]))
    return build_tables(tmp_path, resolve_loopback(load_scenario(), tmp_path))


def test_every_table_has_its_columns_in_order(tables: dict) -> None:
    assert list(tables) == list(TABLES)
    for name, (columns, ints) in TABLES.items():
        assert tuple(tables[name].columns) == columns
        assert all(str(tables[name][c].dtype) == "Int64" for c in ints)


def test_client_orders_join_their_fills_and_terminal_states(tables: dict) -> None:
    orders = tables["orders"].set_index("order_id")

    assert list(orders.index) == ["C1", "C2"]
    assert orders.loc["C1", ["status", "filled_qty", "terminal_ns"]].tolist() == [
        "filled",
        100,
        1300,
    ]
    assert orders.loc["C2", ["status", "filled_qty", "reason"]].tolist() == ["canceled", 0, "close"]
    assert orders["nbbo_bid"].isna().all() and orders.loc["C1", "side"] == "buy"


def test_fills_split_into_the_clients_and_the_destinations(tables: dict) -> None:
    fills, destination = tables["fills"], tables["destination_fills"]

    assert fills[["order_id", "regime", "destination", "pfof"]].values.tolist() == [
        ["C1", "pfof", "wh-a", 20]
    ]
    assert destination[["service", "order_id", "liquidity"]].values.tolist() == [
        ["wh-a", "C1", "internalized"]
    ]
    assert tables["latency"].values.tolist() == [
        ["C1", "client->broker", 40],
        ["C2", "client->broker", 40],
        ["C1", "destination->broker", 7],
    ]


def test_market_data_and_pnl_rows(tables: dict) -> None:
    assert tables["nbbo"][["symbol", "ask_px", "ask_qty"]].values.tolist() == [
        ["ACME", 50_010_000, 300]
    ]
    assert tables["pnl"].values.tolist() == [["wh-a", "wholesaler", "total", 2.5]]
    assert tables["quotes"].empty and tables["auctions"].empty
