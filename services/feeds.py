"""Subscribing to a sequenced stream the Clone way: snapshot first, then newer updates only.

A subscriber connects its SUB socket, then asks the publisher for a ``Snapshot``; updates with a
``seq`` at or below the snapshot's are already in it and are skipped. A gap in ``seq`` (a PUB/SUB
drop, a slow joiner's first messages) triggers a fresh snapshot, so state heals without sleeps.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any, cast

import zmq

from protocol.base import Message
from protocol.codec import VERSION, Decoder, encode
from protocol.control import Rejected
from protocol.marketdata import NBBO, SequenceHeartbeat, Snapshot, SnapshotRequest, Trade
from services.runtime import Service

log = logging.getLogger(__name__)

SNAPSHOT_TIMEOUT_S = 10.0


class Feed:
    """One sequenced market-data stream from one publisher, delivered to ``on_message``."""

    def __init__(
        self,
        service: Service,
        publisher: str,
        stream: str,
        accepts: Iterable[type[Message]],
        on_message: Callable[[Any], None],
        *,
        snapshot_endpoint: str | None = "snapshot",
    ) -> None:
        self.service = service
        self.publisher = publisher
        self.stream = stream
        self.on_message = on_message
        self.seq = -1
        self.gaps = 0
        self._snapshot_endpoint = snapshot_endpoint
        self._decoder = Decoder([*accepts, SequenceHeartbeat])
        self._snap_decoder = Decoder([Snapshot, Rejected])
        self._resnapshot: asyncio.Task[None] | None = None
        self._snap_socket: Any = None
        self._pending: list[Message] = []
        self._snapshotting = False

    async def start(self) -> None:
        """Subscribe, take the first snapshot, then deliver updates in a tracked task."""
        sub = self.service.connect(self.publisher, "md", zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        self.service.serve(
            sub,
            self._decoder,
            self._on_update,
            router=False,
            name=f"{self.stream}@{self.publisher}",
        )
        if self._snapshot_endpoint is not None:
            self._snap_socket = self.service.connect(
                self.publisher,
                self._snapshot_endpoint,
                zmq.DEALER,
                identity=f"{self.service.name}#{self.stream}",
            )
            await self._take_snapshot()

    async def _take_snapshot(self) -> None:
        self._snapshotting = True
        try:
            request = self.service.make(SnapshotRequest, stream=self.stream)
            await self._snap_socket.send_multipart([VERSION, encode(request)])
            while True:
                frames = await asyncio.wait_for(
                    self._snap_socket.recv_multipart(), SNAPSHOT_TIMEOUT_S
                )
                # The snapshot decoder accepts exactly these two types.
                for msg in cast("list[Snapshot | Rejected]", self._snap_decoder.decode(frames)):
                    if isinstance(msg, Rejected):
                        raise RuntimeError(
                            f"cannot snapshot {self.stream}@{self.publisher}: {msg.reason}"
                        )
                    if msg.stream == self.stream:
                        self._apply_snapshot(msg)
                        return
        finally:
            self._snapshotting = False

    def _gap(self) -> None:
        self.gaps += 1
        self.service.count(f"{self.stream}.gaps")
        if self._resnapshot is None or self._resnapshot.done():
            self._resnapshot = self.service.spawn(
                self._take_snapshot(), f"resnapshot:{self.stream}"
            )

    def _apply_snapshot(self, snap: Snapshot) -> None:
        for item in (*snap.quotes, *snap.nbbos, *snap.values):
            self.on_message(item)
        self.seq = snap.seq
        pending, self._pending = self._pending, []
        for msg in pending:
            self._on_update(None, msg, 0)
        self.service.count(f"{self.stream}.snapshots")

    def _on_update(self, _identity: bytes | None, msg: Any, _recv_ns: int) -> None:
        if isinstance(msg, SequenceHeartbeat):
            # A quiet stream's last update may have been lost (e.g. before our subscription
            # reached the publisher): a heartbeat ahead of us is the only way to notice.
            if (
                self._snapshot_endpoint is not None
                and not self._snapshotting
                and msg.seq > self.seq
            ):
                self._gap()
            return
        seq = getattr(msg, "seq", None)
        if seq is None or self._snapshot_endpoint is None:
            self.on_message(msg)
            return
        if self._snapshotting:
            self._pending.append(msg)
            return
        if seq <= self.seq:
            return
        if seq != self.seq + 1 and self.seq >= 0:
            self._gap()
        self.seq = seq
        self.on_message(msg)


class NbboView:
    """The latest NBBO per symbol, kept current from the SIP (snapshot, then updates)."""

    def __init__(self, service: Service, on_update: Callable[[NBBO], None] | None = None) -> None:
        self.service = service
        self.nbbo: dict[str, NBBO] = {}
        self._on_update = on_update

    async def start(self) -> None:
        feed = Feed(self.service, self.service.scenario.sip, "nbbo", [NBBO, Trade], self._on)
        await feed.start()

    def _on(self, msg: NBBO | Trade) -> None:
        if not isinstance(msg, NBBO):
            return  # consolidated trades: not part of the NBBO state
        self.nbbo[msg.symbol] = msg
        if self._on_update is not None:
            self._on_update(msg)

    def get(self, symbol: str) -> NBBO | None:
        return self.nbbo.get(symbol)

    def usable(self, symbol: str) -> NBBO | None:
        """The NBBO if two-sided and neither locked nor crossed, else ``None``."""
        nbbo = self.nbbo.get(symbol)
        if (
            nbbo is None
            or nbbo.bid_px is None
            or nbbo.ask_px is None
            or nbbo.locked
            or nbbo.crossed
        ):
            return None
        return nbbo
