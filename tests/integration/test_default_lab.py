"""The whole default lab, end to end, on real processes and sockets (one shared run)."""

from __future__ import annotations

import re
from collections import Counter

import pandas as pd
import pytest

from config.scenario import REGIMES
from orchestration.faults import unaccepted_executions
from orchestration.welfare import OUTSIDE, welfare_tables
from protocol.codec import MAX_MESSAGE_BYTES, encode
from protocol.control import PnlReport, Rejected
from protocol.orders import OrderCanceled, OrderFilled, OrderRejected
from tests.helpers import pid_alive

from .conftest import ORDERS, VALID_AFTER_ID, LabRun


def test_lab_runs_every_role_as_its_own_process(default_lab_run: LabRun) -> None:
    pids = [p["pid"] for p in default_lab_run.processes]
    roles = {p["role"] for p in default_lab_run.processes}

    assert len(set(pids)) == len(pids) >= 10
    assert roles >= {
        "recorder",
        "value",
        "venue",
        "sip",
        "darkpool",
        "wholesaler",
        "auction",
        "broker",
        "sor",
        "agents",
        "injector",
    }


def test_lab_stop_every_process_exits_cleanly(default_lab_run: LabRun) -> None:
    assert default_lab_run.exit_codes and all(
        code == 0 for code in default_lab_run.exit_codes.values()
    ), default_lab_run.exit_codes
    assert not [p for p in default_lab_run.processes if pid_alive(p["pid"])]


def test_injection_every_order_reaches_one_terminal_state(default_lab_run: LabRun) -> None:
    done = default_lab_run.done
    broker = default_lab_run.config.scenario.broker.name
    orders = default_lab_run.tables["orders"]
    # the stream's orders (the hostile probe's one valid order is checked on its own)
    orders = orders[orders["order_id"] != VALID_AFTER_ID]
    injected = set(orders["order_id"])
    terminal = Counter(
        msg.order_id
        for service, _, msg in default_lab_run.tape
        if service == broker
        and getattr(msg, "order_id", None) in injected
        and (
            (isinstance(msg, OrderFilled) and msg.leaves_qty == 0)
            or isinstance(msg, (OrderCanceled, OrderRejected))
        )
    )

    assert done.sent == done.terminal == ORDERS and done.timed_out == 0
    assert len(orders) == ORDERS and set(orders["regime"]) == set(REGIMES)
    assert len(terminal) == ORDERS and set(terminal.values()) == {1}
    assert (orders["status"] != "open").all()


def test_injection_filled_orders_have_exactly_their_qty(default_lab_run: LabRun) -> None:
    orders = default_lab_run.tables["orders"]
    fills = default_lab_run.tables["fills"]
    filled = fills.groupby("order_id")["qty"].sum()

    assert (orders["filled_qty"] <= orders["qty"]).all()
    done = orders[orders["status"] == "filled"].set_index("order_id")
    assert (filled.reindex(done.index) == done["qty"]).all()
    assert (orders["status"] == "filled").mean() > 0.9


def test_shares_filled_at_destinations_equal_shares_reported_by_broker(
    default_lab_run: LabRun,
) -> None:
    config = default_lab_run.config
    roles = {s.name: s.role for s in config.services}
    dest = default_lab_run.tables["destination_fills"]
    # Broker children are "<client id>~k" (at a wholesaler, the auction, or resting as a day
    # limit on the broker's limit venue); SOR children of those are "<client id>~k/n".
    direct = dest["order_id"].str.fullmatch(r"[A-Z]\d+~\d+") & (
        dest["service"].map(roles).isin(["wholesaler", "auction"])
        | (dest["service"] == config.scenario.limit_venue)
    )
    routed = dest["order_id"].str.fullmatch(r"[A-Z]\d+~\d+/\d+") & dest["service"].map(roles).isin(
        ["venue", "darkpool"]
    )
    at_destinations = dest[direct | routed]
    by_client = at_destinations.groupby(
        at_destinations["order_id"].str.extract(r"^([A-Z]\d+)~", expand=False)
    )["qty"].sum()
    reported = default_lab_run.tables["fills"].groupby("order_id")["qty"].sum()

    assert int(at_destinations["qty"].sum()) == int(reported.sum()) > 0
    assert by_client.sort_index().to_dict() == reported.sort_index().to_dict()
    # so the report's count of executions the broker never accepted is 0 here
    assert unaccepted_executions(default_lab_run.tables) == []


def test_every_regime_routes_to_its_destinations(default_lab_run: LabRun) -> None:
    fills = default_lab_run.tables["fills"]
    liquidity = fills.groupby("regime")["liquidity"].agg(set).to_dict()

    for regime in ("pfof", "pfof-capped", "weighted"):
        assert "internalized" in liquidity[regime], regime
    for regime in ("auction", "hybrid"):
        assert "auction" in liquidity[regime], regime
    for regime in ("best-ex", "commission"):
        assert liquidity[regime] <= {"taker", "midpoint", "maker"}, regime


def test_commission_regime_charges_one_commission_per_filled_order_and_takes_no_pfof(
    default_lab_run: LabRun,
) -> None:
    fills = default_lab_run.tables["fills"]
    commission = fills[fills["regime"] == "commission"]
    per_order = commission.groupby("order_id")["commission"].agg(
        ["sum", lambda c: int((c > 0).sum())]
    )
    expected = 650_000  # $0.65, the default scenario's commission per order

    assert len(per_order) > 0
    assert (per_order["sum"] == expected).all() and (per_order.iloc[:, 1] == 1).all()
    assert int(commission["pfof"].sum()) == 0
    assert int(fills.loc[fills["regime"] != "commission", "commission"].sum()) == 0


def test_pfof_capped_regime_never_pays_more_than_the_cap(default_lab_run: LabRun) -> None:
    fills = default_lab_run.tables["fills"]
    capped = fills[(fills["regime"] == "pfof-capped") & (fills["liquidity"] == "internalized")]
    cap = 1_000  # $0.0010 per share

    assert len(capped) > 0
    assert (capped["pfof"] <= cap * capped["qty"]).all()
    assert (capped["pfof"] == cap * capped["qty"]).any()


def test_broker_pfof_revenue_equals_wholesalers_pfof_paid(default_lab_run: LabRun) -> None:
    reports = [m for _, _, m in default_lab_run.tape if isinstance(m, PnlReport)]
    broker = next(r for r in reports if r.role == "broker")
    paid = sum(r.components["pfof_paid"] for r in reports if r.role == "wholesaler")
    fills = default_lab_run.tables["fills"]

    assert broker.components["pfof_revenue"] == paid == int(fills["pfof"].sum()) > 0


def test_garbage_on_every_router_endpoint_gets_a_reject_naming_the_problem(
    default_lab_run: LabRun,
) -> None:
    unanswered = [
        (p.service, p.endpoint, p.case) for p in default_lab_run.probes if p.reply is None
    ]
    assert not unanswered
    for probe in default_lab_run.probes:
        reply = probe.reply
        assert isinstance(reply, (Rejected, OrderRejected)), (probe, reply)
        assert reply.reason
        if probe.case in ("no version frame", "wrong version"):
            assert isinstance(reply, Rejected) and reply.field == "version"
        if probe.case == "not msgpack":
            assert isinstance(reply, Rejected) and reply.field == "payload"
        if probe.case == "unknown type":
            assert isinstance(reply, Rejected) and reply.field == "type"
        if probe.case == "invalid field" and isinstance(reply, Rejected) and reply.field != "type":
            assert reply.field == "qty"
        if probe.case == "unknown symbol" and isinstance(reply, OrderRejected):
            assert reply.field == "symbol"


def test_garbage_every_order_endpoint_rejects_invalid_orders_in_its_own_words(
    default_lab_run: LabRun,
) -> None:
    order_endpoints = {
        (p.service, p.endpoint) for p in default_lab_run.probes if p.endpoint == "orders"
    }
    by_case = {(p.service, p.endpoint, p.case): p.reply for p in default_lab_run.probes}

    for service, endpoint in order_endpoints:
        assert isinstance(by_case[(service, endpoint, "unknown symbol")], OrderRejected), service
        invalid = by_case[(service, endpoint, "invalid field")]
        assert isinstance(invalid, Rejected) and invalid.field == "qty", (service, invalid)


def test_garbage_rejects_carry_the_order_id_and_only_an_excerpt_of_bad_input(
    default_lab_run: LabRun,
) -> None:
    huge = [p for p in default_lab_run.probes if p.case == "huge unknown field"]
    assert huge
    for probe in huge:
        reply = probe.reply
        # a 500,000-character field name, answered in a few hundred bytes, naming the order
        assert isinstance(reply, Rejected), probe
        assert 0 < probe.size < 2_048, (probe.service, probe.endpoint, probe.size)
        assert reply.order_id == "bad-3", probe
        if reply.field != "type":  # a socket that takes SubmitOrder reads the field name
            assert "unknown field" in reply.reason and reply.field.endswith("…(500000 bytes)")
    for probe in default_lab_run.probes:
        if probe.case == "invalid field" and isinstance(probe.reply, Rejected):
            assert probe.reply.order_id == "bad-2", probe


def test_hostile_orders_to_the_broker_are_refused_before_routing_naming_the_problem(
    default_lab_run: LabRun,
) -> None:
    replies = {p.case: p for p in default_lab_run.hostile}
    expected = {
        "off tick": (OrderRejected, "limit_price", "$100.005"),
        "oversize": (OrderRejected, "qty", "100,000,000"),
        "unknown symbol": (OrderRejected, "symbol", "NOPE"),
        "huge unknown field": (Rejected, "Y" * 64 + "…(500000 bytes)", "unknown field"),
    }
    for n, (case, (kind, field_name, named)) in enumerate(expected.items()):
        probe = replies[case]
        reply = probe.reply
        assert isinstance(reply, kind), (case, reply)
        assert reply.field == field_name and named in reply.reason, (case, reply)
        assert reply.order_id == f"hostile-{n}", (case, reply)
        assert 0 < probe.size < 2_048, (case, probe.size)
    # A frame above the size bound is never read: its sender is disconnected, unanswered.
    assert replies["frame above the bound"].reply is None
    # And the broker still routes: a valid order right after fills completely.
    after = replies["valid after"].reply
    assert isinstance(after, OrderFilled) and after.leaves_qty == 0, after
    # None of the refused orders reached the tape's orders table (refused before routing).
    ids = set(default_lab_run.tables["orders"]["order_id"])
    assert VALID_AFTER_ID in ids and not {i for i in ids if i.startswith("hostile-")}


def test_tape_entries_stay_far_below_the_message_size_bound(default_lab_run: LabRun) -> None:
    # The size bound (MAX_MESSAGE_BYTES) has two orders of magnitude of margin over the
    # largest payload a whole default run records.
    largest = max(len(encode(msg)) for _, _, msg in default_lab_run.tape)
    assert largest * 100 < MAX_MESSAGE_BYTES, largest


def test_garbage_services_keep_running_and_count_rejects(default_lab_run: LabRun) -> None:
    counted = {n for n, c in default_lab_run.rejected_counters.items() if c > 0}
    probed = {p.service for p in default_lab_run.probes}

    assert probed <= counted
    assert default_lab_run.recorder_bad_frames >= 1
    # They kept serving: the stream after the probes completed (see the terminal-state test).
    assert default_lab_run.done.terminal == ORDERS


def test_tape_order_ids_follow_conventions(default_lab_run: LabRun) -> None:
    routes = default_lab_run.tables["routes"]
    broker_routes = routes[routes["router"] == default_lab_run.config.scenario.broker.name]

    assert broker_routes["child_id"].map(lambda c: bool(re.fullmatch(r"[A-Z]\d+~\d+", c))).all()


def test_welfare_sums_to_zero_per_regime_and_reconciles_with_each_dealer(
    default_lab_run: LabRun,
) -> None:
    tables = default_lab_run.tables
    welfare, recon = welfare_tables(tables)
    sums = welfare.groupby("regime")["gain_micros"].sum()
    types = dict(zip(welfare["party"], welfare["party_type"], strict=False))
    roles = dict(zip(tables["pnl"]["name"], tables["pnl"]["role"], strict=False))
    reporting = {n for n, r in roles.items() if r in ("wholesaler", "auction-responder", "broker")}

    assert set(sums.index) == set(tables["fills"]["regime"]) | {OUTSIDE}
    assert (sums.abs() < 10_000).all(), sums  # within a cent (exact, in integer micro-dollars)
    assert "unknown" not in set(types.values()), welfare[welfare["party_type"] == "unknown"]
    # Auction-responding market makers (they may win nothing in a short run) are typed as such.
    assert all(t == "auction_market_maker" for p, t in types.items() if p.startswith("amm-"))
    assert {t for p, t in types.items() if p.startswith("wh-")} == {"wholesaler"}
    assert {"retail", "broker", "lit_market_maker", "venue", "noise"} <= set(types.values())
    # Each dealer: welfare + revaluation to the final mid = its own P&L, up to the end position
    # times how far the mid moved while the lab stopped (see orchestration.welfare.reconcile).
    assert set(recon["party"]) == reporting
    for row in recon.itertuples():
        assert abs(row.residual_usd) <= row.tolerance_usd, row
    broker = recon[recon["party_type"] == "broker"]
    assert abs(broker["residual_usd"]).max() < 1e-6  # no position: exact


def test_no_auction_closes_before_its_window(default_lab_run: LabRun) -> None:
    """Every auction lasts at least ``window_ms`` on its own stamps (start to execution): the
    window is timed on the event loop's clock but announced on the wall clock, and closing on
    the first alone cut windows short by up to a millisecond."""
    auctions = default_lab_run.tables["auctions"]
    assert len(auctions) > 20
    window_ns = default_lab_run.config.scenario.auction.window_ms * 1_000_000
    lasted = auctions["end_ns"] - auctions["start_ns"]
    assert (lasted >= window_ns).all(), lasted.min()


def test_realism_command_recomputes_the_facts_from_the_tape(
    default_lab_run: LabRun, tmp_path, capsys
) -> None:
    import numpy as np
    import pandas as pd

    from orchestration.cli import main

    assert main(["realism", str(default_lab_run.run_dir), "--out", str(tmp_path)]) == 0
    assert "realism.parquet" in capsys.readouterr().out
    table = pd.read_parquet(tmp_path / "realism.parquet")
    symbols = {s.symbol for s in default_lab_run.config.scenario.symbols}
    # every symbol, and the metaorder rows that pool them all
    assert set(table["symbol"]) == {*symbols, "all symbols"}
    trades = default_lab_run.tables["trades"]
    for symbol in symbols:
        # the lag-1 autocorrelation of lit trade signs, by hand: around the mean, over the
        # variance, pairs of consecutive prints of the symbol
        signs = np.where(
            trades[trades["symbol"] == symbol].sort_values("ts_ns", kind="stable")["aggressor"]
            == "buy",
            1.0,
            -1.0,
        )
        d = signs - signs.mean()
        expected = float((d[:-1] * d[1:]).sum() / (len(d) - 1) / d.var())
        got = table[
            (table["symbol"] == symbol)
            & (table["metric"] == "autocorrelation of trade signs")
            & (table["horizon"] == "lag 1")
        ]["value"].iloc[0]
        assert got == pytest.approx(expected), symbol
    # the retail orders' own prints, counted on the raw tape: a lit venue's taker fill of an
    # order a router named as a child, or a dark pool's fill of one on the side that arrived
    # (the print's aggressor), matched to the venue's print by its exec id
    from protocol.marketdata import Trade
    from protocol.orders import OrderFilled, OrderRouted

    entries = default_lab_run.tape
    scenario = default_lab_run.config.scenario
    children = {m.child_id for _s, _r, m in entries if isinstance(m, OrderRouted)}
    venues = {v.name for v in scenario.venues}
    pools = {d.name for d in scenario.darkpools}
    taken = {
        (m.exec_id, str(m.side))
        for s, _r, m in entries
        if isinstance(m, OrderFilled)
        and m.order_id in children
        and ((s in venues and str(m.liquidity) == "taker") or s in pools)
    }
    prints = [m for _s, _r, m in entries if isinstance(m, Trade)]
    checked = 0
    for symbol in symbols:
        theirs = [(m.trade_id, str(m.aggressor)) for m in prints if m.symbol == symbol]
        out = sum(1 for key in theirs if key in taken)
        rows = table[
            (table["symbol"] == symbol)
            & (table["metric"] == "sign autocorrelation, retail prints out")
        ]
        if out == 0:
            assert rows.empty, symbol
            continue
        assert len(rows) == 3, symbol  # lags 1, 10, 100
        valued = rows[rows["value"].notna()]
        assert (valued["note"] == f"{out:,} of {len(theirs):,} prints left out").all(), symbol
        checked += len(valued)
    # a symbol whose market prints are under the 30 a statistic needs has no values (and so no
    # note); the note was checked on some
    assert checked > 0
    # the stream's market orders reach the lit venues through the SOR
    assert any((m.trade_id, str(m.aggressor)) in taken for m in prints)


def test_no_execution_trades_through_the_quotes_checked_at_execution(
    default_lab_run: LabRun,
) -> None:
    """Reg NMS Rule 611(a) at every execution: venues, the dark pool, wholesalers, the auction.
    Each centre stamps the protected quotes it checked; none executes through them."""
    from orchestration.reg_nms import reg_nms_summary

    summary = reg_nms_summary(default_lab_run.tables)
    fills = default_lab_run.tables["destination_fills"]
    checked = fills[fills["exec_nbbo_bid"].notna() | fills["exec_nbbo_ask"].notna()]

    assert summary["trade_throughs"] == 0, summary
    assert summary["executions"] > 0
    # every kind of centre checked (the SOR's intermarket sweeps are the exempt ones)
    roles = {p["name"]: p["role"] for p in default_lab_run.processes}
    assert {"auction", "venue", "wholesaler"} <= {roles.get(s) for s in checked["service"]}


def test_retail_fills_inside_the_nbbo_at_execution_and_their_limit(
    default_lab_run: LabRun,
) -> None:
    """Every retail fill (the broker's, as the client saw it): not through the quotes the
    executing centre checked at execution, not through the order's limit, and improvement
    over that NBBO signed right per side (a buy at or below the ask, a sell at or above the
    bid; worked out here by hand, not with the code under test)."""
    fills = default_lab_run.tables["fills"]
    orders = default_lab_run.tables["orders"].set_index("order_id")
    assert len(fills) > 0
    through_quote, through_limit = [], []
    for fill in fills.itertuples(index=False):
        buy = fill.side == "buy"
        bid = None if pd.isna(fill.exec_nbbo_bid) else int(fill.exec_nbbo_bid)
        ask = None if pd.isna(fill.exec_nbbo_ask) else int(fill.exec_nbbo_ask)
        improvement = (ask - fill.price) if buy and ask is not None else None
        if not buy and bid is not None:
            improvement = fill.price - bid
        # a resting limit filled as maker beyond the away quote: its own protected quote
        # crossed that quote (another venue posted through it unseen), a crossed market, which
        # Rule 611(b)(4) exempts; its limit is still checked below
        crossed = fill.liquidity == "maker"
        if improvement is not None and improvement < 0 and not crossed:
            through_quote.append((fill.order_id, fill.side, fill.price, bid, ask))
        limit = orders.loc[fill.order_id, "limit_price"]
        if not pd.isna(limit) and (
            (buy and fill.price > limit) or (not buy and fill.price < limit)
        ):
            through_limit.append((fill.order_id, fill.side, fill.price, limit))

    assert through_quote == []
    assert through_limit == []


def test_best_displayed_price_is_the_nbbo_when_every_size_is_a_round_lot(
    default_lab_run: LabRun,
) -> None:
    """Under the default "2005" rules every displayed size is a round lot, so the SIP's best
    displayed price (odd lots included, amended Rule 605) is the NBBO itself, and so is the one
    the broker taped at receipt."""
    nbbo, orders = default_lab_run.tables["nbbo"], default_lab_run.tables["orders"]
    with_nbbo = orders[orders["nbbo_bid"].notna() & orders["nbbo_ask"].notna()]

    assert len(nbbo) > 0 and len(with_nbbo) > 0
    for best, national in (("best_bid_px", "bid_px"), ("best_ask_px", "ask_px")):
        assert nbbo[best].equals(nbbo[national]), best
    assert with_nbbo["best_bid"].equals(with_nbbo["nbbo_bid"])
    assert with_nbbo["best_ask"].equals(with_nbbo["nbbo_ask"])
