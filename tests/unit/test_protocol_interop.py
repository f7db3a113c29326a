"""Interop: the wire is plain MessagePack a third-party client can read and write without flowlab.

The plain ``msgpack`` library reads every message as a map with a ``"type"`` key; maps built by
hand, as a client in another language would, decode with the typed decoder; and no float ever
appears on the wire (prices are integer micro-dollars, times integer nanoseconds).
"""

from __future__ import annotations

from typing import Any

import msgpack
import pytest

from protocol import (
    ALL_MESSAGE_TYPES,
    VERSION,
    CancelAuctionResponse,
    CancelOrder,
    Decoder,
    Message,
    OrderType,
    PeerDown,
    PeerUp,
    ReplaceOrder,
    Shutdown,
    Side,
    SnapshotRequest,
    StatusRequest,
    StopService,
    SubmitAuctionResponse,
    SubmitOrder,
    TimeInForce,
    encode,
    frames,
)
from tests.unit.test_protocol_codec import EXAMPLE_IDS, EXAMPLES, SERVICE_INPUTS

SERVICES = Decoder(SERVICE_INPUTS)

# Each accepted type as a hand-built map (only required keys plus a few optional ones), and the
# typed message it must decode to.
THIRD_PARTY: list[tuple[dict[str, Any], Message]] = [
    (
        {
            "type": "SubmitOrder",
            "order_id": "ext-1",
            "symbol": "ACME",
            "side": "buy",
            "qty": 100,
            "order_type": "market",
            "account": "ext",
        },
        SubmitOrder(
            order_id="ext-1",
            symbol="ACME",
            side=Side.BUY,
            qty=100,
            order_type=OrderType.MARKET,
            account="ext",
        ),
    ),
    (
        {
            "type": "SubmitOrder",
            "order_id": "ext-2",
            "symbol": "BOLT",
            "side": "sell",
            "qty": 50,
            "order_type": "limit",
            "limit_price": 118_750_000,
            "tif": "ioc",
            "account": "ext",
            "msg_id": 9,
            "sender": "ext-client",
            "ts_ns": 123,
        },
        SubmitOrder(
            order_id="ext-2",
            symbol="BOLT",
            side=Side.SELL,
            qty=50,
            order_type=OrderType.LIMIT,
            limit_price=118_750_000,
            tif=TimeInForce.IOC,
            account="ext",
            msg_id=9,
            sender="ext-client",
            ts_ns=123,
        ),
    ),
    (
        {"type": "CancelOrder", "order_id": "ext-2", "symbol": "BOLT"},
        CancelOrder(order_id="ext-2", symbol="BOLT"),
    ),
    (
        {
            "type": "ReplaceOrder",
            "order_id": "ext-2",
            "symbol": "BOLT",
            "qty": 25,
            "limit_price": 118_740_000,
        },
        ReplaceOrder(order_id="ext-2", symbol="BOLT", qty=25, limit_price=118_740_000),
    ),
    (
        {
            "type": "SubmitAuctionResponse",
            "auction_id": "a-1",
            "response_id": "r-9",
            "responder": "ext-mm",
            "price": 52_405_000,
            "qty": 100,
        },
        SubmitAuctionResponse(
            auction_id="a-1", response_id="r-9", responder="ext-mm", price=52_405_000, qty=100
        ),
    ),
    (
        {
            "type": "CancelAuctionResponse",
            "auction_id": "a-1",
            "response_id": "r-9",
            "responder": "ext-mm",
        },
        CancelAuctionResponse(auction_id="a-1", response_id="r-9", responder="ext-mm"),
    ),
    (
        {"type": "SnapshotRequest", "stream": "nbbo"},
        SnapshotRequest(stream="nbbo"),
    ),
    ({"type": "StatusRequest"}, StatusRequest()),
    ({"type": "Shutdown", "reason": "ops"}, Shutdown(reason="ops")),
    ({"type": "StopService"}, StopService()),
    (
        {"type": "PeerDown", "name": "wh-a", "role": "wholesaler", "reason": "gone", "since_ns": 1},
        PeerDown(name="wh-a", role="wholesaler", reason="gone", since_ns=1),
    ),
    (
        {"type": "PeerUp", "name": "wh-a", "role": "wholesaler", "restarts": 1, "since_ns": 2},
        PeerUp(name="wh-a", role="wholesaler", restarts=1, since_ns=2),
    ),
]
THIRD_PARTY_IDS = [f"{fields['type']}-{i}" for i, (fields, _) in enumerate(THIRD_PARTY)]


def floats_in(value: Any, path: str = "$") -> list[str]:
    """Paths of every float inside a msgpack-decoded value."""
    if isinstance(value, float):
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in floats_in(v, f"{path}.{k}")]
    if isinstance(value, list | tuple):
        return [p for i, v in enumerate(value) for p in floats_in(v, f"{path}[{i}]")]
    return []


@pytest.mark.parametrize("message", EXAMPLES, ids=EXAMPLE_IDS)
def test_msgpack_unpackb_every_message_gives_map_with_type(message: Message) -> None:
    # Arrange
    payload = encode(message)

    # Act
    fields = msgpack.unpackb(payload)

    # Assert
    assert isinstance(fields, dict)
    assert fields["type"] == type(message).__name__


@pytest.mark.parametrize("message", EXAMPLES, ids=EXAMPLE_IDS)
def test_msgpack_unpackb_every_message_has_no_floats(message: Message) -> None:
    # Arrange
    payload = encode(message)

    # Act
    found = floats_in(msgpack.unpackb(payload))

    # Assert
    assert found == []


@pytest.mark.parametrize("message", EXAMPLES, ids=EXAMPLE_IDS)
def test_msgpack_repack_of_every_message_decodes_to_same_message(message: Message) -> None:
    # Arrange: a client that reads a message and forwards it, re-encoded by its own library
    repacked = msgpack.packb(msgpack.unpackb(encode(message)))

    # Act
    decoded = Decoder(ALL_MESSAGE_TYPES).decode_payload(repacked)

    # Assert
    assert decoded == message


def test_third_party_cases_cover_every_service_input_type() -> None:
    # Arrange / Act
    covered = {type(expected) for _, expected in THIRD_PARTY}

    # Assert
    assert covered == set(SERVICE_INPUTS)


@pytest.mark.parametrize(("fields", "expected"), THIRD_PARTY, ids=THIRD_PARTY_IDS)
def test_decode_payload_hand_built_map_gives_typed_message(
    fields: dict[str, Any], expected: Message
) -> None:
    # Arrange
    payload = msgpack.packb(fields)

    # Act
    decoded = SERVICES.decode_payload(payload)

    # Assert
    assert decoded == expected


@pytest.mark.parametrize(("fields", "expected"), THIRD_PARTY, ids=THIRD_PARTY_IDS)
def test_decode_payload_hand_built_map_with_reordered_keys_gives_typed_message(
    fields: dict[str, Any], expected: Message
) -> None:
    # Arrange: "type" last, as a client with its own key order would send it
    reordered = dict(reversed(list(fields.items())))
    payload = msgpack.packb(reordered)

    # Act
    decoded = SERVICES.decode_payload(payload)

    # Assert
    assert decoded == expected


def test_decode_hand_built_multipart_message_gives_every_payload() -> None:
    # Arrange
    body = [VERSION, *(msgpack.packb(fields) for fields, _ in THIRD_PARTY)]

    # Act
    decoded = SERVICES.decode(body)

    # Assert
    assert decoded == [expected for _, expected in THIRD_PARTY]


def test_frames_version_frame_is_plain_ascii() -> None:
    # Arrange / Act
    body = frames(StatusRequest())

    # Assert
    assert body[0] == b"FL1"
    assert msgpack.unpackb(body[1]) == {
        "type": "StatusRequest",
        "msg_id": 0,
        "sender": "?",
        "ts_ns": 0,
        "correlation_id": None,
    }
