"""``flowlab bench`` pieces on tiny counts: result shapes and baselines, never timing thresholds.

The lab is never started here; the bare transport runs once, on a few dozen orders.
"""

from __future__ import annotations

import msgpack
import msgspec
import pytest

from config.scenario import SecurityMode
from orchestration.bench.book import PlainBook, bench_book
from orchestration.bench.client import LatencyStats, Throughput, latency_stats, make_order
from orchestration.bench.codec import PlainCodec, bench_codec, codec_sample
from orchestration.bench.lab import LabReplies, LabResult, Legs, bench_scenario
from orchestration.bench.receive import bench_receive
from orchestration.bench.report import BenchFigures, format_table
from orchestration.bench.run import median_of
from orchestration.bench.send import bench_send
from orchestration.bench.sor import SorResult, bench_sor
from orchestration.bench.transport import BareFigures, BareResult, run_bare
from protocol.codec import VERSION, encode
from protocol.common import Liquidity, OrderType, Side, TimeInForce
from protocol.orders import OrderAccepted, OrderCanceled, OrderFilled, SubmitOrder


def _positive(result: msgspec.Struct, keys: list[str]) -> None:
    for key in keys:
        value = getattr(result, key)
        assert isinstance(value, int | float) and value > 0, (key, value)


# ---------------------------------------------------------------------- codec
def test_bench_codec_tiny_counts_positive_rates_and_ratios() -> None:
    result = bench_codec(n=200, reps=1)

    _positive(
        result,
        [
            "decode_ops_per_s",
            "baseline_decode_ops_per_s",
            "decode_ratio",
            "encode_ops_per_s",
            "baseline_encode_ops_per_s",
            "encode_ratio",
            "payload_bytes",
        ],
    )


# ---------------------------------------------------------------------- receive path
def test_bench_receive_times_both_paths_from_another_process_and_reports_their_ratio() -> None:
    # every message of each block must arrive (bench_receive raises otherwise), so both
    # paths received 2 x 300 real messages from a real sending process
    result = bench_receive(n=300, reps=2, burst=3, interval_s=0.0005)

    _positive(result, ["reader_cpu_us", "asyncio_cpu_us", "ratio"])
    assert (result.n, result.reps, result.burst, result.interval_us) == (300, 2, 3, 500)
    assert result.ratio == pytest.approx(result.asyncio_cpu_us / result.reader_cpu_us)
    table = format_table(BenchFigures(receive=result))
    assert "receive: CPU per message, bursts of 3 (served socket's reader)" in table
    assert f"{result.ratio:.2f}x" in table


# ---------------------------------------------------------------------- send path
def test_bench_send_times_both_paths_over_a_real_socket_and_reports_their_ratio() -> None:
    result = bench_send(n=300, reps=2)

    _positive(result, ["link_sends_per_s", "asyncio_sends_per_s", "ratio"])
    assert (result.n, result.reps, result.frames) == (300, 2, 2)
    assert result.ratio == pytest.approx(result.link_sends_per_s / result.asyncio_sends_per_s)
    table = format_table(BenchFigures(send=result))
    assert "send: a link's message (queue + direct send)" in table
    assert f"{result.ratio:.2f}x" in table


def test_plain_codec_decodes_what_the_typed_decoder_decodes() -> None:
    codec = PlainCodec()
    order = codec_sample()

    plain = codec.decode(encode(order))

    assert {name: getattr(plain, name) for name in codec.fields} == msgspec.structs.asdict(order)
    assert msgspec.msgpack.decode(codec.encode(plain), type=SubmitOrder) == order


@pytest.mark.parametrize(
    ("change", "drop"),
    [
        ({"qty": 0}, None),
        ({"symbol": "acme"}, None),
        ({"side": "up"}, None),
        ({"limit_price": None}, None),  # a limit order without a price
        ({"surprise": 1}, None),
        ({"type": "CancelOrder"}, None),
        ({}, "account"),
    ],
)
def test_plain_codec_rejects_what_the_typed_decoder_rejects(change: dict, drop: str | None) -> None:
    fields = msgspec.msgpack.decode(encode(codec_sample()))
    fields.update(change)
    if drop:
        del fields[drop]
    payload = msgpack.packb(fields)

    with pytest.raises(ValueError):
        PlainCodec().decode(payload)
    with pytest.raises(msgspec.ValidationError):
        msgspec.msgpack.decode(payload, type=SubmitOrder)


# ---------------------------------------------------------------------- book
def test_bench_book_tiny_counts_positive_rates() -> None:
    result = bench_book(ops=400, steady_orders=200, reps=1)

    _positive(result, ["ops_per_s", "baseline_ops_per_s", "ratio", "fills", "baseline_fills"])
    assert result.ops == 400 and result.aim_ops_per_s == 500_000


def _limit(
    book: PlainBook,
    oid: str,
    side: Side,
    qty: int,
    price: int | None,
    tif: TimeInForce = TimeInForce.DAY,
) -> None:
    kind = OrderType.LIMIT if price is not None else OrderType.MARKET
    book.submit(oid, "acct", side, qty, kind, price, tif, 0)


def test_plain_book_matches_price_time_and_rests_day_remainders() -> None:
    book = PlainBook()
    _limit(book, "a1", Side.SELL, 100, 101)
    _limit(book, "a2", Side.SELL, 100, 101)
    _limit(book, "a3", Side.SELL, 100, 102)
    _limit(book, "b1", Side.BUY, 100, 99)

    _limit(book, "t1", Side.BUY, 150, 101)  # a1 in full, 50 of a2; nothing rests
    assert (
        book.fills == 2 and book.ask_prices == [101, 102] and list(book.asks[101]) == [["a2", 50]]
    )

    _limit(book, "t2", Side.BUY, 100, 101)  # 50 of a2, then 50 rests at 101
    assert (
        book.ask_prices == [102]
        and book.bid_prices == [99, 101]
        and book.orders["t2"][0] == ["t2", 50]
    )

    _limit(book, "t3", Side.SELL, 500, None, TimeInForce.IOC)  # market sweeps every bid, no rest
    assert book.bids == {} and book.bid_prices == [] and book.ask_prices == [102]

    book.cancel("a3")
    book.cancel("a3")  # unknown ids are ignored
    assert book.asks == {} and book.ask_prices == [] and book.orders == {}


def test_plain_book_ioc_limit_never_rests() -> None:
    book = PlainBook()
    _limit(book, "a1", Side.SELL, 100, 101)

    _limit(book, "t1", Side.BUY, 300, 101, TimeInForce.IOC)

    assert book.fills == 1 and book.orders == {} and book.bid_prices == [] and book.ask_prices == []


# ---------------------------------------------------------------------- SOR
def test_bench_sor_tiny_counts_positive_micros() -> None:
    result = bench_sor(repeats=3)

    _positive(result, ["greedy_us", "optimal_us", "greedy_ratio", "optimal_ratio", "aim_us"])
    assert (result.venues, result.levels) == (10, 10)


# ---------------------------------------------------------------------- transport pieces
def test_latency_stats_interpolates_percentiles_in_micros() -> None:
    stats = latency_stats([i * 1_000 for i in range(1, 102)])  # 1..101 µs

    assert stats.n == 101 and stats.p50_us == 51.0 and stats.p99_us == 100.0
    assert stats.max_us == 101.0 and latency_stats([]) == LatencyStats(n=0)
    assert msgspec.to_builtins(latency_stats([])) == {"n": 0}  # as bench.json writes it


def test_make_order_is_a_valid_market_order_with_alternating_sides() -> None:
    first, second = make_order(0), make_order(1)

    assert msgspec.msgpack.decode(encode(first), type=SubmitOrder) == first
    assert (first.side, second.side) == (Side.BUY, Side.SELL)
    assert first.order_type is OrderType.MARKET and first.regime == "pfof"


def test_bench_scenario_zeroes_every_latency_model_and_quiets_the_noise() -> None:
    scenario = bench_scenario(noise_rate_per_s=0.5)

    assert scenario.latency.default.base_us == 0 and scenario.latency.default.jitter_us == 0
    assert scenario.latency.links == [] and scenario.sip_latency_us == 0
    assert all(w.decision_us == 0 for w in scenario.wholesalers)
    assert scenario.agents.noise.rate_per_s == 0.5 and "pfof" in scenario.broker.regimes
    # a quiet background: the default's institutions (six) are off
    assert scenario.agents.institutional.traders == 0
    # still a valid scenario
    assert msgspec.convert(msgspec.to_builtins(scenario), type(scenario)) == scenario


def test_bench_scenario_runs_curve_unless_told_none() -> None:
    assert bench_scenario().security.mode is SecurityMode.CURVE
    assert bench_scenario(security=SecurityMode.NONE).security.mode is SecurityMode.NONE


def test_lab_replies_completes_orders_at_their_terminal_report() -> None:
    replies = LabReplies()
    accepted = OrderAccepted(order_id="B1", symbol="ACME", venue="broker", leaves_qty=100)
    filled = OrderFilled(
        order_id="B1",
        symbol="ACME",
        side=Side.BUY,
        fill_qty=100,
        fill_price=1,
        cum_qty=100,
        leaves_qty=0,
        venue="wh-a",
        liquidity=Liquidity.INTERNALIZED,
        exec_id="x",
        exec_ns=1,
    )
    canceled = OrderCanceled(
        order_id="B2",
        symbol="ACME",
        canceled_qty=100,
        cum_qty=0,
        reason="no valid NBBO (one-sided, locked or crossed)",
    )

    assert replies([VERSION, encode(accepted)]) == []
    assert replies([VERSION, encode(filled), encode(canceled)]) == ["B1", "B2"]
    assert replies.filled_by == {"wh-a": 1} and sum(replies.unfilled.values()) == 1
    assert replies.last_venue == ""


def test_run_bare_three_processes_tiny_counts() -> None:
    result = run_bare(processes=3, n_lat=20, n_thr=60, window=10, warm=5, timeout=60)

    assert result.latency.n == 20 and result.latency.p50_us and result.latency.p50_us > 0
    assert result.throughput.orders == 60 and result.throughput.orders_per_s > 0
    assert result.payload_bytes > 0 and result.processes == 3 and not result.batch


def _path(p50: float, p99: float, orders_per_s: float) -> dict:
    lat = LatencyStats(n=1, p50_us=p50, p99_us=p99, mean_us=p50, max_us=p99)
    thr = Throughput(orders=1, window=100, seconds=1.0, orders_per_s=orders_per_s, latency=lat)
    return {"latency": lat, "throughput": thr, "next_id": 1}


def _bare(p50: float = 100.0, p99: float = 200.0, orders_per_s: float = 5_000.0) -> BareFigures:
    return BareFigures(**_path(p50, p99, orders_per_s), processes=3, batch=False, payload_bytes=263)


def _lab(p50: float = 300.0, p99: float = 400.0, orders_per_s: float = 2_500.0) -> LabResult:
    leg = LatencyStats(n=1, p50_us=150.0, p99_us=150.0, mean_us=150.0, max_us=150.0)
    return LabResult(
        **_path(p50, p99, orders_per_s),
        legs=Legs(
            client_to_wholesaler=leg, in_wholesaler=LatencyStats(n=0), wholesaler_to_client=leg
        ),
        wholesaler="wh-a",
        handshake_orders=1,
        handshake_s=0.1,
        filled_by={"wh-a": 1},
        unfilled={},
        processes=14,
        start_s=2.0,
        stop_s=1.0,
        exit_codes_nonzero={},
    )


def test_format_table_shows_ratios_of_every_part_that_ran() -> None:
    figures = BenchFigures(
        machine_floor_us=10.0,
        codec=bench_codec(n=50, reps=1),
        sor=SorResult(
            venues=10,
            levels=10,
            repeats=1,
            greedy_us=50.0,
            optimal_us=80.0,
            aim_us=1000.0,
            greedy_ratio=0.05,
            optimal_ratio=0.08,
        ),
        bare=BareResult(two=_bare(), three=_bare(), three_batched=_bare()),
        lab=_lab(),
    )

    table = format_table(figures)

    assert "codec: decode" in table and "SOR optimal" in table and "book core" not in table
    assert "3.00x" in table and "2.00x" in table and "0.50x" in table  # lab vs bare
    assert "lab one way p50: client->broker->wholesaler" in table and "3.00x" in table
    assert "inside the wholesaler" not in table  # a leg without figures has no row
    assert "lab start-up (14 processes ready)" in table


def test_format_table_without_the_bare_paths_shows_no_lab_rows() -> None:
    table = format_table(BenchFigures(lab=_lab()))

    assert table.splitlines()[0].startswith("figure") and len(table.splitlines()) == 2


def test_median_of_rounds_takes_medians_of_figures_and_the_last_of_the_rest() -> None:
    rounds = [_lab(p50=300.0), _lab(p50=100.0), _lab(p50=200.0)]
    rounds[2] = msgspec.structs.replace(rounds[2], wholesaler="wh-b", handshake_orders=5)

    merged = median_of(rounds)

    assert merged.latency.p50_us == 200.0 and merged.latency.n == 1
    assert merged.wholesaler == "wh-b" and merged.handshake_orders == 1
    assert merged.legs.in_wholesaler == LatencyStats(n=0)


def test_lab_replies_splits_round_trips_into_legs_from_the_fill_stamps() -> None:
    replies = LabReplies()
    replies.sent_wall["B1"] = 1_000
    filled = OrderFilled(
        order_id="B1",
        symbol="ACME",
        side=Side.BUY,
        fill_qty=100,
        fill_price=1,
        cum_qty=100,
        leaves_qty=0,
        venue="wh-a",
        liquidity=Liquidity.INTERNALIZED,
        exec_id="x",
        exec_ns=1_700,
        recv_ns=1_500,
    )

    assert replies([VERSION, encode(filled)]) == ["B1"]
    [(out, inside, back)] = replies.legs
    assert (out, inside) == (500, 200) and back > 0 and replies.sent_wall == {}
