"""The one error type raised at the wire boundary, and the excerpt that keeps bad input short."""

from __future__ import annotations

# Replies and logs quote at most this many characters of anything a peer sent.
EXCERPT_CHARS = 200


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """``text`` if it is at most ``limit`` characters, else its first ``limit`` characters and
    ``"…(N bytes)"`` (N: the UTF-8 size of the whole): what a reply or a log line may echo of
    input it cannot trust."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…({len(text.encode(errors='replace'))} bytes)"


class ProtocolError(ValueError):
    """A frame or payload that cannot be accepted; names the offending field and the reason.

    ``field`` is a dotted path into the message (``"qty"``, ``"allocations[0].price"``) or a
    frame-level name (``"version"``, ``"payload"``, ``"type"``). Both are cut to an
    ``excerpt``: they may quote a peer's input (an unknown field's name can be megabytes).
    """

    def __init__(self, field: str, reason: str, msg_type: str | None = None) -> None:
        self.field = excerpt(field)
        self.reason = excerpt(reason)
        self.msg_type = msg_type
        where = f"{msg_type}." if msg_type else ""
        super().__init__(f"{where}{self.field}: {self.reason}")
