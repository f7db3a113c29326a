"""Property tests of the wire boundary: whatever arrives, the decoder answers with a valid message
or a ``ProtocolError`` naming a field, never any other exception; and money formatting
round-trips.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import ALL_MESSAGE_TYPES, VERSION, Decoder, Message, ProtocolError, encode
from protocol.money import MICROS_PER_DOLLAR, format_price, to_micros
from tests.strategies import ENCODED, corrupted_payloads, mutated_payloads

ANY = Decoder(ALL_MESSAGE_TYPES)
FAST = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def decode_or_reject(payload: bytes) -> Message | ProtocolError:
    """The decoder's answer; any exception other than ProtocolError fails the test."""
    try:
        return ANY.decode_payload(payload)
    except ProtocolError as error:
        return error


def assert_valid_answer(answer: Message | ProtocolError) -> None:
    if isinstance(answer, ProtocolError):
        assert answer.field
        assert answer.reason
        return
    assert isinstance(answer, ALL_MESSAGE_TYPES)
    # A decoded message is valid: its own encoding decodes (and validates) to itself.
    assert ANY.decode_payload(encode(answer)) == answer


@FAST
@given(payload=st.binary(max_size=200) | corrupted_payloads())
def test_decode_payload_arbitrary_bytes_gives_message_or_protocol_error(payload: bytes) -> None:
    # Arrange (payload drawn)

    # Act
    answer = decode_or_reject(payload)

    # Assert
    assert_valid_answer(answer)


@FAST
@given(payload=mutated_payloads())
def test_decode_payload_mutated_message_gives_message_or_protocol_error(payload: bytes) -> None:
    # Arrange (payload drawn)

    # Act
    answer = decode_or_reject(payload)

    # Assert
    assert_valid_answer(answer)


@FAST
@given(
    body=st.lists(
        st.sampled_from([VERSION, b"FL2", b""])
        | st.sampled_from(ENCODED)
        | st.binary(max_size=40)
        | mutated_payloads(),
        max_size=5,
    )
)
def test_decode_arbitrary_frames_gives_messages_or_protocol_error(body: list[bytes]) -> None:
    # Arrange (frames drawn)

    # Act
    try:
        answer: list[Message] | ProtocolError = ANY.decode(body)
    except ProtocolError as error:
        answer = error

    # Assert
    if isinstance(answer, ProtocolError):
        assert answer.field
    else:
        assert body[0] == VERSION
        assert len(answer) == len(body) - 1 >= 1
        for message in answer:
            assert_valid_answer(message)


@settings(max_examples=300, deadline=None)
@given(micros=st.integers(min_value=-(10**15), max_value=10**15))
def test_format_price_then_to_micros_round_trips_integers(micros: int) -> None:
    # Arrange
    text = format_price(micros)

    # Act
    parsed = to_micros(text.replace("$", "").replace(",", ""))

    # Assert
    assert parsed == micros


@settings(max_examples=300, deadline=None)
@given(micros=st.integers(min_value=0, max_value=10**15))
def test_format_price_six_places_then_to_micros_round_trips(micros: int) -> None:
    # Arrange
    text = format_price(micros, places=6)

    # Act
    parsed = to_micros(text.removeprefix("$").replace(",", ""))

    # Assert
    assert parsed == micros


@settings(max_examples=300, deadline=None)
@given(dollars=st.integers(min_value=-(10**9), max_value=10**9))
def test_to_micros_whole_dollars_then_format_price_shows_cents(dollars: int) -> None:
    # Arrange
    expected_tail = ".00"

    # Act
    micros = to_micros(dollars)
    text = format_price(micros)

    # Assert
    assert micros == dollars * MICROS_PER_DOLLAR
    assert text.endswith(expected_tail)
