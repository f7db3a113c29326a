"""The common header every wire message carries."""

from __future__ import annotations

import msgspec

from protocol.common import Name, Nanos


class Message(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    tag_field="type",
    tag=True,
    forbid_unknown_fields=True,
):
    """Base of every wire message: ``msg_id`` unique per sender, ``ts_ns`` the send time."""

    msg_id: int = 0
    sender: Name = "?"
    ts_ns: Nanos = 0
    correlation_id: str | None = None


class Record(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A value nested inside a message (not sent on its own, so untagged)."""
