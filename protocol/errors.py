"""The one error type raised at the wire boundary."""

from __future__ import annotations


class ProtocolError(ValueError):
    """A frame or payload that cannot be accepted; names the offending field and the reason.

    ``field`` is a dotted path into the message (``"qty"``, ``"allocations[0].price"``) or a
    frame-level name (``"version"``, ``"payload"``, ``"type"``).
    """

    def __init__(self, field: str, reason: str, msg_type: str | None = None) -> None:
        self.field = field
        self.reason = reason
        self.msg_type = msg_type
        where = f"{msg_type}." if msg_type else ""
        super().__init__(f"{where}{field}: {reason}")
