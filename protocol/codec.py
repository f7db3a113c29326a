"""Framing and typed decoding.

A wire message is a ZeroMQ multipart message ``[envelope..., VERSION, payload, payload, ...]``:
the routing envelope (ROUTER identities), the protocol version frame, then one or more MessagePack
maps, each with a ``"type"`` key. Several payloads in one multipart message is how a busy link
batches while keeping FIFO order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, Union

import msgspec

from protocol import auctions, control, dealers, marketdata, orders
from protocol.base import Message
from protocol.errors import ProtocolError, excerpt

VERSION = b"FL1"

# The largest frame (one payload) any socket of the lab accepts (``zmq.MAXMSGSIZE``, set by the
# runtime on every socket it creates): a peer sending more is disconnected before the frame is
# read. The largest legitimate payloads (book and NBBO snapshots, a dealer's learned state at
# stop) are a few KB; a tape entry wraps one payload. 1 MiB leaves two orders of magnitude.
MAX_MESSAGE_BYTES = 1 << 20
# The longest string quoted from a rejected payload's "type" or "order_id" in a reply.
_PEEK_CHARS = 64

ALL_MESSAGE_TYPES: tuple[type[Message], ...] = tuple(
    obj
    for module in (orders, marketdata, auctions, control, dealers)
    for obj in vars(module).values()
    if isinstance(obj, type) and issubclass(obj, Message) and obj is not Message
)
MESSAGE_TYPES_BY_NAME: dict[str, type[Message]] = {t.__name__: t for t in ALL_MESSAGE_TYPES}

_encoder = msgspec.msgpack.Encoder()
encode = _encoder.encode

_PATH = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")
_MISSING = re.compile(r"missing required field `(?P<field>[^`]+)`")
_UNKNOWN = re.compile(r"unknown field `(?P<field>[^`]+)`")


def _error_from_msgspec(exc: msgspec.MsgspecError) -> ProtocolError:
    text = str(exc)
    if isinstance(exc, msgspec.DecodeError) and not isinstance(exc, msgspec.ValidationError):
        return ProtocolError("payload", f"not valid MessagePack ({text})")
    path_match = _PATH.search(text)
    reason = _PATH.sub("", text)
    path = path_match.group("path") if path_match else ""
    for pattern in (_MISSING, _UNKNOWN):
        m = pattern.search(reason)
        if m:
            # The name comes from the peer (an unknown field's can be megabytes): quote an excerpt.
            name = excerpt(m.group("field"), _PEEK_CHARS)
            path = f"{path}.{name}" if path else name
            reason = f"{reason[: m.start('field')]}{name}{reason[m.end('field') :]}"
    # Errors raised by __post_init__ are "<field>: <reason>"; surface that field.
    if ": " in reason and not path:
        head, _, tail = reason.partition(": ")
        if head.isidentifier():
            path, reason = head, tail
    if path == "type" or (reason.startswith("Invalid value") and path == "type"):
        return ProtocolError("type", f"unknown or unaccepted message type ({reason})")
    return ProtocolError(path or "payload", reason)


class _NoMessage(msgspec.Struct, frozen=True, tag_field="type", tag="\0"):
    """Never a valid message: the second member of a one-type decoder's union, so that msgspec
    dispatches on ``type`` and requires it (decoding straight into one tagged struct would
    accept a map with no ``type`` at all, which the fuzz campaign found at the snapshot sockets)."""


class Decoder:
    """Decodes the payloads one socket accepts, validating them in C (msgspec).

    ``accepts`` lists the message types valid on that socket; anything else raises
    ``ProtocolError`` naming the type, so every bad input gets a reply, never a crash.
    """

    def __init__(self, accepts: Iterable[type[Message]]) -> None:
        types = tuple(accepts)
        if not types:
            raise ValueError("a decoder must accept at least one message type")
        self.accepts = types
        members = types if len(types) > 1 else (*types, _NoMessage)
        target: Any = Union[members]  # noqa: UP007
        self._decoder: msgspec.msgpack.Decoder[Message] = msgspec.msgpack.Decoder(target)

    def decode_payload(self, payload: bytes) -> Message:
        try:
            msg = self._decoder.decode(payload)
        except msgspec.MsgspecError as exc:
            raise _error_from_msgspec(exc) from exc
        except UnicodeDecodeError as exc:
            # msgspec raises this (not a MsgspecError) for a string that is not valid UTF-8.
            raise ProtocolError("payload", f"string not valid UTF-8 ({exc.reason})") from exc
        except RecursionError as exc:
            # msgspec skips values before the tag recursively; deep nesting there is still garbage.
            raise ProtocolError("payload", "nested too deeply") from exc
        if isinstance(msg, _NoMessage):
            raise ProtocolError("type", "unknown or unaccepted message type ('\\x00')")
        return msg

    def decode(self, frames: Sequence[bytes]) -> list[Message]:
        """Decode ``[VERSION, payload, ...]`` (the envelope already removed)."""
        check_version(frames)
        return [self.decode_payload(p) for p in frames[1:]]


def check_version(frames: Sequence[bytes]) -> None:
    if not frames:
        raise ProtocolError("version", "empty message: expected a version frame and a payload")
    if frames[0] != VERSION:
        got = bytes(frames[0][:16])
        raise ProtocolError("version", f"expected {VERSION!r}, got {got!r}")
    if len(frames) < 2:
        raise ProtocolError("payload", "missing: a version frame must be followed by a payload")


def frames(*messages: Message) -> list[bytes]:
    """Encode messages into one multipart message body (no envelope)."""
    return [VERSION, *(encode(m) for m in messages)]


class _Peek(msgspec.Struct):
    """The two keys a reject quotes from a payload it could not decode; the rest is skipped
    (unknown keys of any size are not even copied)."""

    type: object = None
    order_id: object = None


_peek_decoder = msgspec.msgpack.Decoder(_Peek)


def received_fields(payload: bytes) -> tuple[str | None, str | None]:
    """Best-effort ``(type, order_id)`` of an undecodable payload, for reject messages: read
    leniently as a plain map; each a string, or ``None`` when absent or not a string. ``type``
    is cut to an excerpt; an ``order_id`` longer than an ``OrderId`` may be is left out."""
    try:
        peek = _peek_decoder.decode(payload)
    except (msgspec.MsgspecError, UnicodeDecodeError, RecursionError):
        return None, None
    rtype = excerpt(peek.type, _PEEK_CHARS) if isinstance(peek.type, str) else None
    oid = peek.order_id
    order_id = oid if isinstance(oid, str) and 0 < len(oid) <= 96 else None
    return rtype, order_id


def received_type(payload: bytes) -> str | None:
    """Best-effort name of the ``type`` field of an undecodable payload, for reject messages."""
    return received_fields(payload)[0]
