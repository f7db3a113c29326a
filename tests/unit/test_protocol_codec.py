"""The codec: one valid example of every wire type round-trips; every bad input names its field.

``EXAMPLES`` holds one instance per message type with every field set to a non-default value, so
a round trip exercises every field; the property and interop tests reuse it. Adding a message
type or a field without extending it fails ``test_examples_*`` below.
"""

from __future__ import annotations

from typing import Any

import msgpack
import msgspec
import pytest

from protocol import (
    ALL_MESSAGE_TYPES,
    NBBO,
    VERSION,
    AuctionAllocation,
    AuctionCompleted,
    AuctionStarted,
    CancelAuctionResponse,
    CancelOrder,
    CancelRejected,
    ChannelState,
    DealerState,
    Decoder,
    Depth,
    Heartbeat,
    InjectionDone,
    Level,
    Liquidity,
    MarkupSettled,
    Message,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderReceived,
    OrderRejected,
    OrderRouted,
    OrderType,
    PeerDown,
    PeerUp,
    PnlReport,
    ProtocolError,
    Quote,
    Rejected,
    ReplaceOrder,
    RoutingScorecard,
    ScorecardEntry,
    ServiceReady,
    ServiceStatus,
    Shutdown,
    Side,
    Snapshot,
    SnapshotRequest,
    StatusReply,
    StatusRequest,
    StopService,
    SubmitAuctionResponse,
    SubmitOrder,
    TimeInForce,
    Trade,
    Urgency,
    ValueUpdate,
    encode,
    frames,
)
from protocol.codec import received_fields, received_type
from protocol.errors import EXCERPT_CHARS, excerpt
from protocol.marketdata import IndicationOfInterest, SequenceHeartbeat
from protocol.orders import ParentCompleted, RouteQuote

T0 = 1_763_900_000_000_000_000  # a nanosecond timestamp in 2025
HEADER: dict[str, Any] = {"msg_id": 7, "sender": "broker", "ts_ns": T0, "correlation_id": "c-1"}
ACME_BID = 52_400_000
ACME_ASK = 52_410_000

_QUOTE = Quote(
    venue="lit-a",
    symbol="ACME",
    seq=3,
    bid_px=ACME_BID,
    bid_qty=400,
    ask_px=ACME_ASK,
    ask_qty=300,
    **HEADER,
)
_NBBO = NBBO(
    symbol="ACME",
    seq=4,
    bid_px=ACME_BID,
    bid_qty=400,
    bid_venue="lit-a",
    ask_px=ACME_ASK,
    ask_qty=300,
    ask_venue="lit-b",
    locked=True,
    crossed=True,
    best_bid_px=ACME_BID + 10_000,
    best_ask_px=ACME_ASK - 10_000,
    **HEADER,
)
_VALUE = ValueUpdate(symbol="ACME", seq=5, value=52_405_000, **HEADER)
_DEPTH = Depth(
    venue="lit-a",
    symbol="ACME",
    seq=6,
    bids=[Level(price=ACME_BID, qty=400), Level(price=ACME_BID - 10_000, qty=500)],
    asks=[Level(price=ACME_ASK, qty=300)],
    **HEADER,
)
_IOI = IndicationOfInterest(
    venue="dark-a",
    symbol="ACME",
    seq=11,
    bids=[Level(price=ACME_BID, qty=1_000)],
    asks=[Level(price=ACME_ASK, qty=2_000)],
    **HEADER,
)

EXAMPLES: tuple[Message, ...] = (
    SubmitOrder(
        order_id="o-1",
        symbol="ACME",
        side=Side.SELL,
        qty=300,
        order_type=OrderType.LIMIT,
        account="retail-1",
        limit_price=ACME_ASK,
        tif=TimeInForce.IOC,
        post_only=True,
        min_qty=100,
        regime="auction",
        strategy="spray",
        urgency=Urgency.HIGH,
        parent_id="p-1",
        created_ns=T0 - 5,
        pfof_rate=2_000,
        expire_ns=T0 + 500_000_000,
        intermarket_sweep=True,
        natural_person=False,
        avg_daily_trades=12,
        **HEADER,
    ),
    CancelOrder(order_id="o-1", symbol="ACME", **HEADER),
    ReplaceOrder(order_id="o-1", symbol="ACME", qty=200, limit_price=ACME_BID, **HEADER),
    OrderAccepted(
        order_id="o-1", symbol="ACME", venue="lit-a", leaves_qty=300, recv_ns=T0 + 1, **HEADER
    ),
    OrderRejected(order_id="o-2", reason="unknown symbol", field="symbol", venue="lit-a", **HEADER),
    OrderFilled(
        order_id="o-1",
        symbol="ACME",
        side=Side.SELL,
        fill_qty=100,
        fill_price=ACME_ASK,
        cum_qty=100,
        leaves_qty=200,
        venue="wh-a",
        liquidity=Liquidity.INTERNALIZED,
        exec_id="x-1",
        exec_ns=T0 + 2,
        recv_ns=T0 + 1,
        fee=-200,
        pfof=300,
        commission=500,
        nbbo_bid=ACME_ASK - 10_000,
        nbbo_ask=ACME_ASK,
        **HEADER,
    ),
    OrderCanceled(
        order_id="o-1",
        symbol="ACME",
        canceled_qty=200,
        cum_qty=100,
        reason="ioc",
        venue="lit-a",
        **HEADER,
    ),
    CancelRejected(order_id="o-3", reason="unknown order", **HEADER),
    OrderReceived(
        order_id="o-1",
        regime="pfof",
        symbol="ACME",
        side=Side.BUY,
        qty=100,
        order_type=OrderType.LIMIT,
        limit_price=ACME_ASK,
        recv_ns=T0 + 1,
        nbbo_bid=ACME_BID,
        nbbo_ask=ACME_ASK,
        created_ns=T0,
        tif=TimeInForce.IOC,
        segmented=False,
        auction_exemption="large-order",
        best_bid=ACME_BID + 10_000,
        best_ask=ACME_ASK - 10_000,
        **HEADER,
    ),
    OrderRouted(
        order_id="o-1",
        child_id="o-1.1",
        destination="wh-a",
        qty=100,
        reason="highest pfof",
        limit_price=ACME_ASK,
        regime="pfof",
        strategy="optimal",
        wave=2,
        best_price=ACME_ASK - 1_000,
        quotes=[RouteQuote(venue="lit-a", price=ACME_ASK, qty=300)],
        **HEADER,
    ),
    ParentCompleted(
        order_id="p-1",
        symbol="ACME",
        side=Side.BUY,
        qty=1_000,
        strategy="greedy",
        state="canceled",
        cum_qty=900,
        notional=900 * ACME_ASK,
        fees=2_700,
        avg_price=ACME_ASK,
        limit_price=ACME_ASK + 10_000,
        arrival_bid=ACME_BID,
        arrival_ask=ACME_ASK,
        recv_ns=T0 + 1,
        done_ns=T0 + 9,
        children=3,
        waves=2,
        lit_shown_qty=600,
        reason="no liquidity within the limit",
        **HEADER,
    ),
    _IOI,
    RoutingScorecard(
        broker="broker",
        period_start_ns=T0,
        period_end_ns=T0 + 60_000_000_000,
        entries=[
            ScorecardEntry(
                wholesaler="wh-a",
                orders=40,
                shares=4_000,
                improvement_per_share=1_200,
                best_improvement_per_share=1_500,
                demoted=True,
            )
        ],
        **HEADER,
    ),
    _QUOTE,
    _DEPTH,
    Trade(
        venue="lit-a",
        symbol="ACME",
        seq=7,
        price=ACME_ASK,
        qty=100,
        trade_id="t-1",
        aggressor=Side.BUY,
        **HEADER,
    ),
    _NBBO,
    _VALUE,
    SnapshotRequest(stream="nbbo", **HEADER),
    SequenceHeartbeat(stream="nbbo", seq=8, **HEADER),
    Snapshot(
        stream="nbbo",
        seq=8,
        quotes=[_QUOTE],
        nbbos=[_NBBO],
        values=[_VALUE],
        depths=[_DEPTH],
        iois=[_IOI],
        **HEADER,
    ),
    AuctionStarted(
        auction_id="a-1",
        symbol="ACME",
        side=Side.BUY,
        qty=100,
        limit_price=ACME_ASK,
        nbbo_bid=ACME_BID,
        nbbo_ask=ACME_ASK,
        increment=1_000,
        start_ns=T0,
        end_ns=T0 + 100_000_000,
        seq=9,
        broker="broker",
        **HEADER,
    ),
    SubmitAuctionResponse(
        auction_id="a-1", response_id="r-1", responder="wh-a", price=52_408_000, qty=100, **HEADER
    ),
    CancelAuctionResponse(auction_id="a-1", response_id="r-1", responder="wh-a", **HEADER),
    AuctionCompleted(
        auction_id="a-1",
        symbol="ACME",
        side=Side.BUY,
        qty=100,
        filled_qty=60,
        remainder_qty=40,
        best_price=52_408_000,
        responses=2,
        allocations=[
            AuctionAllocation(response_id="r-1", responder="wh-a", price=52_408_000, qty=60)
        ],
        nbbo_bid_start=ACME_BID,
        nbbo_ask_start=ACME_ASK,
        nbbo_bid_end=ACME_BID + 1_000,
        nbbo_ask_end=ACME_ASK - 1_000,
        start_ns=T0,
        end_ns=T0 + 100_000_000,
        responders=["wh-a", "wh-b"],
        seq=10,
        through_nbbo=1,
        **HEADER,
    ),
    Rejected(
        reason="Expected `int` >= 1",
        field="qty",
        received_type="SubmitOrder",
        order_id="o-1",
        **HEADER,
    ),
    ServiceReady(
        name="lit-a",
        role="venue",
        pid=4242,
        endpoints={"orders": "tcp://127.0.0.1:17001"},
        **HEADER,
    ),
    Heartbeat(name="lit-a", state="running", counters={"orders": 12}, **HEADER),
    StopService(reason="test over", **HEADER),
    PeerDown(
        name="wh-a",
        role="wholesaler",
        reason="exited with code -9",
        since_ns=7,
        restarting=True,
        **HEADER,
    ),
    PeerUp(name="wh-a", role="wholesaler", restarts=1, since_ns=9, **HEADER),
    StatusRequest(**HEADER),
    StatusReply(
        run_dir="/tmp/run",
        started_ns=T0,
        services=[
            ServiceStatus(
                name="lit-a",
                role="venue",
                pid=4242,
                state="running",
                heartbeat_age_us=1_500,
                counters={"orders": 12},
            )
        ],
        **HEADER,
    ),
    Shutdown(reason="operator", **HEADER),
    InjectionDone(
        name="injector",
        sent=10,
        terminal=10,
        filled=7,
        rejected=1,
        canceled=1,
        timed_out=1,
        **HEADER,
    ),
    PnlReport(
        name="wh-a",
        role="wholesaler",
        components={"spread": 1_200, "pfof": -300},
        inventory={"ACME": -100},
        **HEADER,
    ),
    MarkupSettled(
        dealer="wh-a",
        channel="auction",
        period=12,
        markup_bp=3_000,
        shares=4_000,
        reward=-125,
        held_bp=4_000,
        **HEADER,
    ),
    DealerState(
        dealer="amm-0",
        role="agents",
        arms=[0, 5_000, 10_000],
        channels=[
            ChannelState(
                channel="auction",
                periods=3,
                position=1,
                values=[0, 12, -3],
                plays=[1, 1, 1],
                adverse={"ACME": [2, 1_980_000, 1_960_000, 4, 10]},
            )
        ],
        **HEADER,
    ),
)
EXAMPLE_IDS = [type(m).__name__ for m in EXAMPLES]

# What a third-party client may send: the types that some service accepts on a bound socket.
SERVICE_INPUTS = (
    SubmitOrder,
    CancelOrder,
    ReplaceOrder,
    SubmitAuctionResponse,
    CancelAuctionResponse,
    SnapshotRequest,
    StatusRequest,
    Shutdown,
    StopService,
    PeerDown,
    PeerUp,
)

ANY = Decoder(ALL_MESSAGE_TYPES)


def example(message_type: type[Message]) -> Message:
    return next(m for m in EXAMPLES if type(m) is message_type)


def submit_fields(**changes: Any) -> dict[str, Any]:
    """A valid SubmitOrder as a plain msgpack-able dict, with ``changes`` applied."""
    fields = msgpack.unpackb(encode(example(SubmitOrder)))
    fields.update(changes)
    return fields


def decode_error(fields: dict[str, Any], decoder: Decoder = ANY) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        decoder.decode_payload(msgpack.packb(fields))
    return info.value


def _is_default(field: msgspec.structs.FieldInfo, value: Any) -> bool:
    if field.default is not msgspec.NODEFAULT:
        return value == field.default
    if field.default_factory is not msgspec.NODEFAULT:
        return value == field.default_factory()
    return False


def test_examples_every_message_type_has_exactly_one_example() -> None:
    # Arrange
    declared = {t.__name__ for t in ALL_MESSAGE_TYPES}

    # Act
    covered = EXAMPLE_IDS

    # Assert
    assert sorted(covered) == sorted(declared)
    assert len(covered) == len(set(covered))


@pytest.mark.parametrize("message", EXAMPLES, ids=EXAMPLE_IDS)
def test_examples_every_field_set_to_non_default(message: Message) -> None:
    # Arrange
    fields = msgspec.structs.fields(message)

    # Act
    left_default = [f.name for f in fields if _is_default(f, getattr(message, f.name))]

    # Assert
    assert left_default == []


def test_examples_message_types_are_tagged_with_their_class_name() -> None:
    # Arrange / Act
    tags = {t.__name__: msgspec.inspect.type_info(t).tag for t in ALL_MESSAGE_TYPES}

    # Assert
    assert all(tag == name for name, tag in tags.items())
    assert all(msgspec.inspect.type_info(t).tag_field == "type" for t in ALL_MESSAGE_TYPES)


@pytest.mark.parametrize("message", EXAMPLES, ids=EXAMPLE_IDS)
def test_decode_payload_own_type_round_trips(message: Message) -> None:
    # Arrange
    decoder = Decoder([type(message)])

    # Act
    decoded = decoder.decode_payload(encode(message))

    # Assert
    assert decoded == message
    assert type(decoded) is type(message)


@pytest.mark.parametrize("message", EXAMPLES, ids=EXAMPLE_IDS)
def test_decode_payload_all_types_round_trips(message: Message) -> None:
    # Arrange
    payload = encode(message)

    # Act
    decoded = ANY.decode_payload(payload)

    # Assert
    assert decoded == message
    assert encode(decoded) == payload


def test_decode_frames_of_every_example_returns_them_in_order() -> None:
    # Arrange
    body = frames(*EXAMPLES)

    # Act
    decoded = ANY.decode(body)

    # Assert
    assert body[0] == VERSION
    assert decoded == list(EXAMPLES)


def test_frames_single_message_is_version_then_payload() -> None:
    # Arrange
    message = example(CancelOrder)

    # Act
    body = frames(message)

    # Assert
    assert body == [VERSION, encode(message)]


def test_decode_wrong_version_raises_version_error() -> None:
    # Arrange
    body = [b"FL0", encode(example(CancelOrder))]

    # Act
    with pytest.raises(ProtocolError) as info:
        ANY.decode(body)

    # Assert
    assert info.value.field == "version"
    assert "FL0" in info.value.reason


def test_decode_version_without_payload_raises_payload_error() -> None:
    # Arrange
    body = [VERSION]

    # Act
    with pytest.raises(ProtocolError) as info:
        ANY.decode(body)

    # Assert
    assert info.value.field == "payload"


def test_decode_empty_message_raises_version_error() -> None:
    # Arrange
    body: list[bytes] = []

    # Act
    with pytest.raises(ProtocolError) as info:
        ANY.decode(body)

    # Assert
    assert info.value.field == "version"


def test_decode_payload_in_version_position_raises_version_error() -> None:
    # Arrange: a client that forgot the version frame
    body = [encode(example(CancelOrder))]

    # Act
    with pytest.raises(ProtocolError) as info:
        ANY.decode(body)

    # Assert
    assert info.value.field == "version"


def test_decode_one_bad_payload_among_good_raises_its_field() -> None:
    # Arrange
    body = [VERSION, encode(example(CancelOrder)), msgpack.packb(submit_fields(qty=0))]

    # Act
    with pytest.raises(ProtocolError) as info:
        ANY.decode(body)

    # Assert
    assert info.value.field == "qty"


@pytest.mark.parametrize(
    "accepts", [(CancelOrder,), (CancelOrder, ReplaceOrder)], ids=["single", "union"]
)
def test_decode_payload_unaccepted_type_raises_type_error(
    accepts: tuple[type[Message], ...],
) -> None:
    # Arrange
    decoder = Decoder(accepts)

    # Act
    with pytest.raises(ProtocolError) as info:
        decoder.decode_payload(encode(example(SubmitOrder)))

    # Assert
    assert info.value.field == "type"
    assert "SubmitOrder" in info.value.reason


def test_decode_payload_unknown_type_raises_type_error() -> None:
    # Arrange
    fields = submit_fields(type="LaunchRocket")

    # Act
    error = decode_error(fields)

    # Assert
    assert error.field == "type"


def test_decode_payload_missing_type_raises_type_error() -> None:
    # Arrange
    fields = submit_fields()
    del fields["type"]

    # Act
    error = decode_error(fields)

    # Assert
    assert error.field == "type"


@pytest.mark.parametrize(
    "accepts", [(SnapshotRequest,), (SnapshotRequest, CancelOrder)], ids=["single", "union"]
)
def test_decode_payload_map_without_type_raises_type_error_for_one_type_too(
    accepts: tuple[type[Message], ...],
) -> None:
    # Arrange (a snapshot socket accepts one type; msgspec alone would take this map as it)
    decoder = Decoder(accepts)
    payload = msgspec.msgpack.encode({"stream": "nbbo"})

    # Act
    with pytest.raises(ProtocolError) as info:
        decoder.decode_payload(payload)

    # Assert
    assert info.value.field == "type"


def test_decode_payload_one_type_decoder_still_decodes_its_type() -> None:
    # Arrange
    decoder = Decoder([SnapshotRequest])
    request = SnapshotRequest(stream="nbbo")

    # Act
    decoded = decoder.decode_payload(encode(request))

    # Assert
    assert decoded == request


def test_decoder_accepting_nothing_raises_value_error() -> None:
    # Arrange / Act / Assert
    with pytest.raises(ValueError, match="at least one"):
        Decoder([])


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"qty": 0}, "qty"),
        ({"qty": -5}, "qty"),
        ({"qty": "100"}, "qty"),
        ({"qty": 1.5}, "qty"),
        ({"side": "up"}, "side"),
        ({"order_type": "iceberg"}, "order_type"),
        ({"symbol": "acme"}, "symbol"),
        ({"limit_price": 0}, "limit_price"),
        ({"post_only": "yes"}, "post_only"),
        ({"min_qty": 1_000}, "min_qty"),
        ({"order_type": "limit", "limit_price": None}, "limit_price"),
        ({"order_type": "market"}, "limit_price"),
        ({"colour": "blue"}, "colour"),
        ({"expire_ns": -1}, "expire_ns"),
        ({"expire_ns": 1.7e18}, "expire_ns"),
    ],
    ids=[
        "qty-zero",
        "qty-negative",
        "qty-string",
        "qty-float",
        "side-unknown",
        "order-type-unknown",
        "symbol-lowercase",
        "limit-price-zero",
        "bool-as-string",
        "min-qty-above-qty",
        "limit-without-price",
        "market-with-price",
        "unknown-field",
        "expire-negative",
        "expire-float",
    ],
)
def test_decode_payload_bad_field_raises_error_naming_it(
    changes: dict[str, Any], field: str
) -> None:
    # Arrange
    fields = submit_fields(**changes)

    # Act
    error = decode_error(fields)

    # Assert
    assert error.field == field
    assert error.reason


@pytest.mark.parametrize("missing", ["order_id", "qty", "side", "account"])
def test_decode_payload_missing_field_raises_error_naming_it(missing: str) -> None:
    # Arrange
    fields = submit_fields()
    del fields[missing]

    # Act
    error = decode_error(fields)

    # Assert
    assert error.field == missing
    assert "missing" in error.reason


def test_decode_payload_bad_nested_field_raises_dotted_path() -> None:
    # Arrange
    fields = msgpack.unpackb(encode(example(AuctionCompleted)))
    fields["allocations"][0]["price"] = 0

    # Act
    error = decode_error(fields)

    # Assert
    assert error.field == "allocations[0].price"


def test_decode_payload_missing_nested_field_raises_dotted_path() -> None:
    # Arrange
    fields = msgpack.unpackb(encode(example(StatusReply)))
    del fields["services"][0]["pid"]

    # Act
    error = decode_error(fields)

    # Assert
    assert error.field == "services[0].pid"


def test_decode_payload_malformed_msgpack_raises_payload_error() -> None:
    # Arrange
    payload = b"\xc1"  # never used in MessagePack

    # Act
    with pytest.raises(ProtocolError) as info:
        ANY.decode_payload(payload)

    # Assert
    assert info.value.field == "payload"


def test_decode_payload_truncated_raises_payload_error() -> None:
    # Arrange
    payload = encode(example(SubmitOrder))[:-3]

    # Act
    with pytest.raises(ProtocolError) as info:
        ANY.decode_payload(payload)

    # Assert
    assert info.value.field == "payload"


def test_decode_payload_not_a_map_raises_payload_error() -> None:
    # Arrange
    payload = msgpack.packb([1, 2, 3])

    # Act
    with pytest.raises(ProtocolError) as info:
        ANY.decode_payload(payload)

    # Assert
    assert info.value.field == "payload"


def test_decode_payload_deep_nesting_before_tag_raises_payload_error() -> None:
    # Arrange: the union decoder skips fields ahead of "type"; skipping nests in C recursion
    depth = 100_000
    payload = b"\x82\xa5extra" + b"\x91" * depth + b"\x01" + msgpack.packb("type") + b"\xa8Shutdown"

    # Act
    with pytest.raises(ProtocolError) as info:
        ANY.decode_payload(payload)

    # Assert
    assert info.value.field == "payload"


def test_protocol_error_message_names_type_and_field() -> None:
    # Arrange / Act
    error = ProtocolError("qty", "must be positive", msg_type="SubmitOrder")

    # Assert
    assert str(error) == "SubmitOrder.qty: must be positive"
    assert isinstance(error, ValueError)


def test_received_type_of_rejected_payload_names_its_type() -> None:
    # Arrange
    payload = msgpack.packb(submit_fields(qty=0))

    # Act
    name = received_type(payload)

    # Assert
    assert name == "SubmitOrder"


def test_received_fields_of_an_order_with_one_bad_field_read_its_order_id() -> None:
    # Arrange
    payload = msgpack.packb(submit_fields(qty=0, order_id="mine-7"))

    # Act
    fields = received_fields(payload)

    # Assert
    assert fields == ("SubmitOrder", "mine-7")


@pytest.mark.parametrize(
    ("order_id", "expected"),
    [(12, None), ("", None), ("x" * 97, None), ("x" * 96, "x" * 96)],
    ids=["not-a-string", "empty", "too-long", "longest"],
)
def test_received_fields_keep_only_an_order_id_that_could_be_one(
    order_id: object, expected: str | None
) -> None:
    # Arrange
    payload = msgpack.packb(submit_fields(qty=0) | {"order_id": order_id})

    # Act
    _rtype, read = received_fields(payload)

    # Assert
    assert read == expected


def test_received_fields_cut_a_huge_type_name_to_an_excerpt() -> None:
    # Arrange
    payload = msgpack.packb({"type": "T" * 100_000, "order_id": "o-9"})

    # Act
    rtype, order_id = received_fields(payload)

    # Assert
    assert rtype is not None and len(rtype) < 100 and rtype.endswith("…(100000 bytes)")
    assert order_id == "o-9"


def test_decode_payload_huge_unknown_field_names_an_excerpt_of_it() -> None:
    # Arrange: the 50 MB field name of issue 13, scaled down to 1 MB
    payload = msgpack.packb(submit_fields() | {"F" * 1_000_000: 1})

    # Act
    with pytest.raises(ProtocolError) as info:
        ANY.decode_payload(payload)

    # Assert: the error still says what is wrong, in a few hundred characters
    error = info.value
    assert "unknown field" in error.reason
    assert error.field.startswith("FFFF") and error.field.endswith("…(1000000 bytes)")
    assert len(error.field) < 100 and len(error.reason) < 2 * EXCERPT_CHARS
    assert len(str(error)) < 3 * EXCERPT_CHARS


def test_protocol_error_cuts_field_and_reason_to_an_excerpt() -> None:
    # Arrange / Act
    error = ProtocolError("f" * 5_000, "é" * 5_000)

    # Assert
    assert error.field == "f" * EXCERPT_CHARS + "…(5000 bytes)"
    assert error.reason == "é" * EXCERPT_CHARS + "…(10000 bytes)"


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [("short", 5, "short"), ("abcdef", 3, "abc…(6 bytes)"), ("ééé", 1, "é…(6 bytes)")],
)
def test_excerpt_keeps_short_text_and_cuts_long_text(text: str, limit: int, expected: str) -> None:
    # Arrange (parameters) / Act / Assert
    assert excerpt(text, limit) == expected


@pytest.mark.parametrize(
    "payload",
    [
        b"\xc1",
        msgpack.packb([1]),
        msgpack.packb({"type": 3}),
        b"\x91" * 100_000 + b"\x01",
        b"\x81" + msgpack.packb("type") + b"\xa2\xff\xfe",
    ],
    ids=["malformed", "not-a-map", "type-not-a-string", "deeply-nested", "invalid-utf8"],
)
def test_received_type_of_garbage_is_none(payload: bytes) -> None:
    # Arrange / Act
    name = received_type(payload)

    # Assert
    assert name is None


@pytest.mark.parametrize(
    "payload",
    [
        b"\x81" + msgpack.packb("type") + b"\xa2\xff\xfe",
        b"\x83"
        + b"".join(map(msgpack.packb, ["type", "CancelOrder", "symbol", "ACME", "order_id"]))
        + b"\xa2\xff\xfe",
    ],
    ids=["in-type", "in-field-value"],
)
def test_decode_payload_invalid_utf8_string_raises_payload_error(payload: bytes) -> None:
    # Arrange (payload above)

    # Act
    with pytest.raises(ProtocolError) as info:
        ANY.decode_payload(payload)

    # Assert
    assert info.value.field == "payload"
    assert "UTF-8" in info.value.reason
