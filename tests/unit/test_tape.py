"""``tape.build_tables`` on a small hand-written tape: each message type lands in its table."""

from __future__ import annotations

from pathlib import Path

import msgpack
import pandas as pd
import pytest

from config.scenario import load_scenario
from orchestration.endpoints import resolve_loopback
from orchestration.tape import COMPRESSED_TAPE_FILE, TABLES, TAPE_FILE, build_tables, compress_tape
from protocol.codec import encode
from protocol.common import Liquidity, OrderType, Side, TimeInForce
from protocol.control import PnlReport
from protocol.dealers import ChannelState, DealerState, MarkupSettled
from protocol.marketdata import NBBO
from protocol.orders import (
    OrderCanceled,
    OrderFilled,
    OrderReceived,
    RoutingScorecard,
    ScorecardEntry,
)

BROKER = load_scenario().broker.name


def received(
    order_id: str, ts: int, tif: TimeInForce = TimeInForce.DAY, best_ask: int | None = None
) -> OrderReceived:
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
        tif=tif,
        best_ask=best_ask,
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


def scorecard(ts: int, a_share_bp: int, a_demoted: bool) -> RoutingScorecard:
    # (wholesaler, orders, shares, improvement, demoted, fill rate bp, flow share bp)
    grades = [
        ("wh-a", 6, 700, 2_500, a_demoted, 8_333, a_share_bp),
        ("wh-b", 9, 1_200, 5_000, False, 10_000, 10_000 - a_share_bp),
    ]
    entries = [
        ScorecardEntry(
            wholesaler=name,
            orders=orders,
            shares=shares,
            improvement_per_share=improvement,
            best_improvement_per_share=5_000,
            demoted=demoted,
            fill_rate_bp=fill_rate,
            flow_share_bp=share,
        )
        for name, orders, shares, improvement, demoted, fill_rate, share in grades
    ]
    return RoutingScorecard(
        broker=BROKER, period_start_ns=ts - 1_000, period_end_ns=ts, entries=entries, ts_ns=ts + 5
    )


def learning_entries() -> list[tuple[str, object]]:
    """Two settled periods of wh-a's auction channel, two reviews, wh-a's state at stop."""
    settled = [
        MarkupSettled(
            dealer="wh-a",
            channel="auction",
            period=k,
            markup_bp=markup,
            shares=40,
            reward=reward,
            held_bp=held,
            ts_ns=2_000 + k,
        )
        for k, (markup, reward, held) in enumerate([(5_000, 160_367, 5_000), (6_000, -410, 5_000)])
    ]
    state = DealerState(
        dealer="wh-a",
        role="wholesaler",
        arms=[0, 2_500, 5_000, 7_500, 10_000],
        channels=[
            ChannelState(
                channel="internalize", periods=0, position=2, values=[0] * 5, plays=[0] * 5
            ),
            ChannelState(
                channel="auction",
                periods=2,
                position=2,
                values=[0, 0, 9, -1, 0],
                plays=[0, 0, 1, 1, 0],
            ),
        ],
        ts_ns=9_000,
    )
    return [
        ("wh-a", settled[0]),
        (BROKER, scorecard(3_000, 500, True)),
        ("wh-b", scorecard(3_001, 500, True)),  # a wholesaler's copy is not the broker's review
        ("wh-a", settled[1]),
        (BROKER, scorecard(4_000, 6_000, False)),
        ("wh-a", state),
    ]


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
        best_bid_px=50_000_000,  # an odd-lot bid: no round-lot NBB, a best displayed bid
        best_ask_px=50_005_000,
    )
    pnl = PnlReport(name="wh-a", role="wholesaler", components={"total": 2_500_000})
    entries = [
        (BROKER, received("C1", 1_000, best_ask=50_005_000)),
        (BROKER, received("C2", 1_100, TimeInForce.IOC)),
        ("wh-a", received("elsewhere", 1_200)),  # only the broker's receipts are client orders
        ("wh-a", filled("C1", 1_250)),
        (BROKER, filled("C1", 1_300)),
        (BROKER, canceled),
        ("sip", nbbo),
        ("wh-a", pnl),
        *learning_entries(),
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
    assert orders["tif"].tolist() == ["day", "ioc"]  # Rule 605's marketable IOC needs it


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


def test_best_displayed_prices_reach_the_nbbo_and_orders_tables(tables: dict) -> None:
    nbbo, orders = tables["nbbo"], tables["orders"].set_index("order_id")

    assert nbbo[["bid_px", "best_bid_px", "best_ask_px"]].values.tolist() == [
        [pd.NA, 50_000_000, 50_005_000]
    ]
    assert orders.loc["C1", "best_ask"] == 50_005_000
    # C2 was taped without them (as on an older tape): null, not zero
    assert orders[["best_bid"]].isna().all().all() and pd.isna(orders.loc["C2", "best_ask"])


def test_markups_one_row_per_settled_period_as_shares_of_the_half_spread(tables: dict) -> None:
    markups = tables["markups"]

    assert markups.values.tolist() == [
        ["wh-a", "auction", 0, 2_000, 0.5, 0.5, 40, 160_367],
        ["wh-a", "auction", 1, 2_001, 0.6, 0.5, 40, -410],
    ]


def test_scorecards_one_row_per_wholesaler_and_broker_review(tables: dict) -> None:
    cards = tables["scorecards"]

    assert cards[["review", "ts_ns", "wholesaler", "flow_share", "demoted"]].values.tolist() == [
        [0, 3_005, "wh-a", 0.05, True],
        [0, 3_005, "wh-b", 0.95, False],
        [1, 4_005, "wh-a", 0.6, False],
        [1, 4_005, "wh-b", 0.4, False],
    ]
    first = cards.iloc[0]
    assert first[
        ["orders", "shares", "improvement_per_share", "best_improvement_per_share"]
    ].tolist() == [
        6,
        700,
        2_500,
        5_000,
    ]
    assert first["fill_rate"] == pytest.approx(0.8333)
    assert (first["period_start_ns"], first["period_end_ns"]) == (2_000, 3_000)


def test_dealer_states_one_row_per_dealer_and_channel(tables: dict) -> None:
    assert tables["dealer_states"].values.tolist() == [
        ["wh-a", "wholesaler", "internalize", 9_000, 0, 0.5, 0.25, 0],
        ["wh-a", "wholesaler", "auction", 9_000, 2, 0.5, 0.25, 2],
    ]


def test_malformed_entries_are_skipped_and_counted_not_fatal(tmp_path: Path) -> None:
    good = [received("G1", 1_000), filled("G1", 1_100)]
    with (tmp_path / TAPE_FILE).open("wb") as f:
        f.write(msgpack.packb([BROKER, 0, encode(good[0])]))
        f.write(b"\xc1\xc1")  # two bytes that start no MessagePack value
        f.write(msgpack.packb(["intruder", 0, b"\x81\xa4type\xa4Nope"]))  # unknown type
        f.write(msgpack.packb({"not": "an entry"}))
        f.write(msgpack.packb([BROKER, 0, encode(good[1])]))
        f.write(msgpack.packb([BROKER, 0, encode(good[1])])[:-3])  # cut short at the end
    tables = build_tables(tmp_path, resolve_loopback(load_scenario(), tmp_path))

    anomalies = tables["tape_anomalies"]
    assert len(anomalies) == 5
    reasons = list(anomalies["reason"])
    assert [r.split(":")[0] for r in reasons[:2]] == ["not MessagePack"] * 2
    assert "payload from 'intruder'" in reasons[2] and "type" in reasons[2]
    assert reasons[3].startswith("not a [service, recv_ns, payload] entry")
    assert reasons[4] == "truncated entry at the end of the tape"
    assert anomalies["offset"].is_monotonic_increasing
    # the good entries around them still make their rows
    orders = tables["orders"].set_index("order_id")
    assert orders.loc["G1", ["status", "filled_qty"]].tolist() == ["filled", 100]


def test_a_clean_tape_has_no_anomalies(tables: dict) -> None:
    assert tables["tape_anomalies"].empty


def test_a_compressed_tape_reads_as_the_raw_one(tmp_path: Path) -> None:
    raw_dir, packed_dir = tmp_path / "raw", tmp_path / "packed"
    for d in (raw_dir, packed_dir):
        d.mkdir()
        with (d / TAPE_FILE).open("wb") as f:
            for k in range(200):
                f.write(msgpack.packb([BROKER, k, encode(received(f"C{k}", 1_000 + k))]))
                f.write(msgpack.packb([BROKER, k, encode(filled(f"C{k}", 2_000 + k))]))
            f.write(b"\xc1")  # a bad byte: the compressed reader must skip it the same way
    before, after = compress_tape(packed_dir)
    assert before == (raw_dir / TAPE_FILE).stat().st_size and 0 < after < before / 3
    assert not (packed_dir / TAPE_FILE).exists()
    assert (packed_dir / COMPRESSED_TAPE_FILE).is_file()
    config = resolve_loopback(load_scenario(), tmp_path)
    raw, packed = build_tables(raw_dir, config), build_tables(packed_dir, config)
    for name in ("orders", "fills", "tape_anomalies"):
        pd.testing.assert_frame_equal(raw[name], packed[name])
    assert len(packed["orders"]) == 200 and len(packed["tape_anomalies"]) == 1
